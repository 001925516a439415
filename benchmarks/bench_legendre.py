"""Forward, backward and second-order backward of LegendrePolynomial3 and legendre_p: the
default (tiered) steady state, each compile method's steady state, and a fresh process's
first call (cold: empty kernel caches) per method."""

from __future__ import annotations

import torch

from legendre_verify import bench
from legendre_verify.legendre import LegendrePolynomial3, dispatch, legendre_p

from .common import DEGREES, DEVICES, DTYPES, SIZES, SMOKE, make_input, sync, without_cuda

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
        # warm up until the compiled kernels are built and checked (what a first call costs
        # is ColdStart's); the timings are of the steady state
        for _ in range(dispatch.HOT_CALLS + 1):
            self.f(self.x)
            torch.autograd.grad(self.y, self.xr, self.g, retain_graph=True)
            torch.autograd.grad(self.dy, self.xr, self.g, retain_graph=True)
            dispatch.DISPATCHER.wait()

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


METHOD_DEGREES = ["P3", 10] if SMOKE else ["P3", 3, 10, 32, 100, 1000]
METHOD_PARAMS = (["eager", "compiled"], METHOD_DEGREES, DEVICES)


class Methods:
    """Steady state of each compile method (``LEGENDRE_VERIFY_COMPILE``) at the largest size,
    float32: eager kernels against compiled ones, any degree."""

    params = METHOD_PARAMS
    param_names = ["method", "n", "device"]
    number = 1
    repeat = (1, 5, 20.0)
    warmup_time = 0.0
    processes = 1
    timeout = 900

    def setup(self, method, n, device):
        dispatch.DISPATCHER.reset(method)
        self.f = function_for(n)
        self.x = make_input(max(SIZES), "float32", device)
        self.xr = self.x.clone().requires_grad_(True)
        self.g = torch.ones_like(self.x)
        for _ in range(2):  # the compiled method compiles and checks on its first call
            torch.autograd.grad(self.f(self.xr), self.xr, self.g)

    def teardown(self, method, n, device):
        dispatch.DISPATCHER.reset(dispatch.mode_from_environment())

    @without_cuda(METHOD_PARAMS)
    def time_forward(self, method, n, device):
        self.f(self.x)
        sync(device)

    @without_cuda(METHOD_PARAMS)
    def time_forward_backward(self, method, n, device):
        torch.autograd.grad(self.f(self.xr), self.xr, self.g)
        sync(device)


class ColdStart:
    """A fresh process with empty kernel caches (ours and inductor's) calls legendre_p(x, n)
    on 1M float32 elements once, per method: the first call's seconds and the whole process's
    (what a user waits for). Tiered must cost what eager costs: one call never compiles."""

    params = (["eager", "tiered", "compiled"], [10] if SMOKE else [10, 100, 1000])
    param_names = ["method", "n"]
    unit = "seconds"
    number = 1
    repeat = 1
    processes = 1
    timeout = 900

    def setup(self, method, n):
        self.run = bench.cold_start(method, n, size=2_000 if SMOKE else 1 << 20)

    def track_first_call_seconds(self, method, n):
        return self.run.calls[0]

    def track_process_seconds(self, method, n):
        return self.run.process_seconds
