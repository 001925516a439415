"""Baselines in the same suite, so every ratio can be read from one run: x.clone() (the
memory-bandwidth reference), the tutorial's eager P3, torch.special (forward only: it has no
gradient) and scipy (CPU). Steady state, as the library's own timings: first calls (scipy's
lazy import of scipy.special, autograd's first backward) happen in setup."""

from __future__ import annotations

import torch

from legendre_verify import baselines

from .common import (
    BASELINE_DEGREES,
    DEVICES,
    DTYPES,
    REPEAT,
    ROUNDS,
    SIZES,
    WARMUP_SECONDS,
    Cycle,
    make_input,
    make_inputs,
    steady,
    sync,
)


class Elementwise:
    params = (SIZES, DTYPES, DEVICES)
    param_names = ["size", "dtype", "device"]
    repeat = REPEAT
    warmup_time = WARMUP_SECONDS
    rounds = ROUNDS

    def setup(self, size, dtype, device):
        def build():
            xs = make_inputs(size, dtype, device)
            graphs = []
            for x in xs:
                xr = x.clone().requires_grad_(True)
                y = baselines.TutorialP3.apply(xr)
                graphs.append((y, xr, torch.ones_like(y)))
            return {"x": Cycle(xs), "graph": Cycle(graphs)}

        timed = ("time_clone", "time_tutorial_p3_forward", "time_tutorial_p3_backward")
        steady(self, ("Elementwise", size, dtype, device), build, *timed)

    def time_clone(self, size, dtype, device):
        baselines.clone(self.x())
        sync(device)

    def time_tutorial_p3_forward(self, size, dtype, device):
        baselines.TutorialP3.apply(self.x())
        sync(device)

    def time_tutorial_p3_backward(self, size, dtype, device):
        y, xr, g = self.graph()
        torch.autograd.grad(y, xr, g, retain_graph=True)
        sync(device)


class TorchSpecial:
    params = (BASELINE_DEGREES, SIZES, DTYPES, DEVICES)
    param_names = ["n", "size", "dtype", "device"]
    repeat = REPEAT
    warmup_time = WARMUP_SECONDS
    rounds = ROUNDS
    timeout = 600

    def setup(self, n, size, dtype, device):
        def build():
            return {"x": Cycle(make_inputs(size, dtype, device))}

        steady(self, ("TorchSpecial", n, size, dtype, device), build, "time_forward")

    def time_forward(self, n, size, dtype, device):
        baselines.special_legendre(self.x(), n)
        sync(device)


class Scipy:
    params = (BASELINE_DEGREES, SIZES, DTYPES)
    param_names = ["n", "size", "dtype"]
    repeat = REPEAT
    warmup_time = WARMUP_SECONDS
    rounds = ROUNDS
    timeout = 600

    def setup(self, n, size, dtype):
        def build():
            return {"x": make_input(size, dtype, "cpu").numpy()}

        steady(self, ("Scipy", n, size, dtype), build, "time_forward")

    def time_forward(self, n, size, dtype):
        baselines.scipy_legendre(self.x, n)
