"""Forward, backward and second-order backward of LegendrePolynomial3 and legendre_p: the
default (tiered) steady state, each compile method's steady state, and a fresh process's
first call (cold: empty kernel caches) per method."""

from __future__ import annotations

import statistics

import torch

from legendre_verify import bench
from legendre_verify.legendre import LegendrePolynomial3, dispatch, legendre_p

from .common import (
    DEGREES,
    DEVICES,
    DTYPES,
    REDUCED,
    REPEAT,
    ROUNDS,
    SIZES,
    SMOKE,
    WARMUP_SECONDS,
    Cycle,
    make_input,
    make_inputs,
    steady,
    sync,
)


def function_for(n):
    if n == "P3":
        return LegendrePolynomial3.apply
    return lambda x: legendre_p(x, n)


class Legendre:
    """Steady state of the default (tiered) mode: the kernels that the calls reach have turned
    hot, been built in the background and checked before any timing."""

    params = (DEGREES, SIZES, DTYPES, DEVICES)
    param_names = ["n", "size", "dtype", "device"]
    repeat = REPEAT
    warmup_time = WARMUP_SECONDS
    rounds = ROUNDS
    timeout = 600

    def setup(self, n, size, dtype, device):
        def build():
            f = function_for(n)
            xs = make_inputs(size, dtype, device)
            graphs = []
            for x in xs:
                xr = x.clone().requires_grad_(True)
                y = f(xr)
                g = torch.ones_like(y)
                (dy,) = torch.autograd.grad(y, xr, g, create_graph=True)
                graphs.append((y, xr, g, dy))
            return {"f": f, "x": Cycle(xs), "graph": Cycle(graphs)}

        key = ("Legendre", n, size, dtype, device)
        timed = ("time_forward", "time_backward", "time_backward_second_order")
        steady(self, key, build, *timed)

    def time_forward(self, n, size, dtype, device):
        self.f(self.x())
        sync(device)

    def time_backward(self, n, size, dtype, device):
        y, xr, g, _ = self.graph()
        torch.autograd.grad(y, xr, g, retain_graph=True)
        sync(device)

    def time_backward_second_order(self, n, size, dtype, device):
        _, xr, g, dy = self.graph()
        torch.autograd.grad(dy, xr, g, retain_graph=True)
        sync(device)


if SMOKE:
    METHOD_DEGREES = ["P3", 10]
elif REDUCED:
    METHOD_DEGREES = ["P3", 10, 100]
else:
    METHOD_DEGREES = ["P3", 3, 10, 32, 100, 1000]


class Methods:
    """Steady state of each compile method (``LEGENDRE_VERIFY_COMPILE``) at the largest size,
    float32: eager kernels against compiled ones (built and checked in setup), any degree."""

    params = (["eager", "compiled"], METHOD_DEGREES, DEVICES)
    param_names = ["method", "n", "device"]
    repeat = REPEAT
    warmup_time = WARMUP_SECONDS
    rounds = ROUNDS
    timeout = 900

    def setup(self, method, n, device):
        def build():
            # this process only (each benchmark runs in its own): no teardown resets it, since
            # asv re-runs setup and teardown between samples
            dispatch.DISPATCHER.reset(method)
            x = make_input(max(SIZES), "float32", device)
            return {
                "f": function_for(n),
                "x": x,
                "xr": x.clone().requires_grad_(True),
                "g": torch.ones_like(x),
            }

        steady(self, ("Methods", method, n, device), build, "time_forward", "time_forward_backward")

    def time_forward(self, method, n, device):
        self.f(self.x)
        sync(device)

    def time_forward_backward(self, method, n, device):
        torch.autograd.grad(self.f(self.xr), self.xr, self.g)
        sync(device)


class ColdStart:
    """A fresh process with empty kernel caches (ours and inductor's) calls legendre_p(x, n)
    on 1M float32 elements once, per method: the first call's seconds and the whole process's
    (what a user waits for), the median of 3 processes each (1 in the smoke run). Tiered must
    cost what eager costs: one call never compiles."""

    params = (["eager", "tiered", "compiled"], [10] if REDUCED else [10, 100, 1000])
    param_names = ["method", "n"]
    unit = "seconds"
    number = 1
    repeat = 1
    processes = 1
    timeout = 900

    def setup_cache(self):
        # every (method, n) once, in this one process: both tracks read the same runs
        runs = 1 if SMOKE else 3
        size = 2_000 if SMOKE else 1 << 20
        found = {}
        for _ in range(runs):  # alternating, so a drift of the machine's load spreads evenly
            for method in self.params[0]:
                for n in self.params[1]:
                    found.setdefault((method, n), []).append(bench.cold_start(method, n, size))
        return {
            key: (
                statistics.median(r.calls[0] for r in rs),
                statistics.median(r.process_seconds for r in rs),
            )
            for key, rs in found.items()
        }

    setup_cache.timeout = 1800

    def track_first_call_seconds(self, cache, method, n):
        return cache[(method, n)][0]

    def track_process_seconds(self, cache, method, n):
        return cache[(method, n)][1]
