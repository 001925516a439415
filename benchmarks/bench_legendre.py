"""Forward, backward and second-order backward of LegendrePolynomial3 and legendre_p."""

from __future__ import annotations

import torch

from legendre_verify.legendre import LegendrePolynomial3, legendre_p

from .common import DEGREES, DEVICES, DTYPES, SIZES, make_input, sync, without_cuda

PARAMS = (DEGREES, SIZES, DTYPES, DEVICES)


def function_for(n):
    if n == "P3":
        return LegendrePolynomial3.apply
    return lambda x: legendre_p(x, n)


class Legendre:
    params = PARAMS
    param_names = ["n", "size", "dtype", "device"]
    number = 1
    repeat = (1, 5, 20.0)
    warmup_time = 0.0
    processes = 1
    timeout = 600

    def setup(self, n, size, dtype, device):
        self.f = function_for(n)
        self.x = make_input(size, dtype, device)
        self.xr = self.x.clone().requires_grad_(True)
        self.y = self.f(self.xr)
        self.g = torch.ones_like(self.y)
        (self.dy,) = torch.autograd.grad(self.y, self.xr, self.g, create_graph=True)
        self.device = device
        # warm up: the first call of a compiled kernel compiles it (tracked by FirstCall);
        # the timings are of the steady state
        self.f(self.x)
        torch.autograd.grad(self.y, self.xr, self.g, retain_graph=True)
        torch.autograd.grad(self.dy, self.xr, self.g, retain_graph=True)

    @without_cuda(PARAMS)
    def time_forward(self, n, size, dtype, device):
        self.f(self.x)
        sync(device)

    @without_cuda(PARAMS)
    def time_backward(self, n, size, dtype, device):
        torch.autograd.grad(self.y, self.xr, self.g, retain_graph=True)
        sync(device)

    @without_cuda(PARAMS)
    def time_backward_second_order(self, n, size, dtype, device):
        torch.autograd.grad(self.dy, self.xr, self.g, retain_graph=True)
        sync(device)


class FirstCall:
    """Seconds for the first call of a compiled kernel in a fresh process (compile or load
    from inductor's on-disk cache), per degree. Lower is better."""

    params = [3, 10, 32]
    param_names = ["n"]
    unit = "seconds"
    processes = 1
    timeout = 600

    def track_first_call_seconds(self, n):
        import time

        x = make_input(1 << 20, "float32", "cpu")
        start = time.perf_counter()
        legendre_p(x, n)
        return time.perf_counter() - start
