"""The tutorial's training run: time per SGD step (2000 points) and steps per second of every
method, with the tutorial's own loop as the baseline in the same run; plus a batched step that
fits 64 independent coefficient sets at once. Steady state: the batched step's P3 runs on the
C kernel, which the tiered dispatcher builds and checks in setup; the compiled fit's graphs
(the first chunk's and the next ones') are compiled in setup."""

from __future__ import annotations

import math
import statistics

import torch

from legendre_verify import baselines, training
from legendre_verify.legendre import LegendrePolynomial3

from .common import DEVICES, REDUCED, REPEAT, ROUNDS, SMOKE, WARMUP_SECONDS, once, steady, sync


class TrainingStep:
    params = ([1, 64], DEVICES)
    param_names = ["batch", "device"]
    repeat = REPEAT
    warmup_time = WARMUP_SECONDS
    rounds = ROUNDS

    def setup(self, batch, device):
        def build():
            x = torch.linspace(-math.pi, math.pi, 2000, device=device)
            shape = (batch, 1) if batch > 1 else ()
            coefficients = [
                torch.full(shape, v, device=device, requires_grad=True) for v in training.INITIAL
            ]
            return {"x": x, "y": torch.sin(x), "coefficients": coefficients}

        steady(self, ("TrainingStep", batch, device), build, "time_step")

    def _step(self):
        a, b, c, d = self.coefficients
        loss = (a + b * LegendrePolynomial3.apply(c + d * self.x) - self.y).pow(2).sum()
        loss.backward()
        with torch.no_grad():
            for p in self.coefficients:
                p -= 5e-6 * p.grad
                p.grad = None

    def time_step(self, batch, device):
        self._step()
        sync(device)


class TrainingRun:
    """Steps per second of a whole 2000-step fit (higher is better; compile time excluded and
    reported separately), the median of 5 fits (3 reduced) after one untimed fit of each
    method in setup (the compiled method: three chunks, so every graph it needs is compiled).
    ``tutorial`` is the tutorial's loop with its own Function."""

    params = ["tutorial", "auto", "eager", "compiled", "fused"]
    param_names = ["method"]
    unit = "steps/s"
    processes = 1
    timeout = 900

    def _fit(self, method, steps=2000):
        if method == "tutorial":
            return training.fit(function=baselines.TutorialP3.apply, steps=steps)
        return training.fit(method=method, steps=steps)

    def setup(self, method):
        # untimed: compiles (the compiled method), first calls, the C kernel's state
        once(("TrainingRun", method), lambda: self._fit(method, steps=3 * training.CHUNK))
        once(("TrainingRun", method, "whole"), lambda: self._fit(method))

    def track_steps_per_second(self, method):
        fits = 3 if REDUCED else 5
        return statistics.median(self._fit(method).steps_per_second for _ in range(fits))


class TrainColdStart:
    """`legendre-verify train --method M` in a fresh process with an empty inductor cache:
    wall seconds, what a user waits for (lower is better), the median of 3 processes (1 in the
    smoke run). ``auto`` should cost what ``eager`` costs for the tutorial's 2,000 steps
    (compiling would take longer)."""

    # the compiled method's cold compile alone is 26-36 s: left out of the reduced mode
    params = ["auto", "eager"] if REDUCED else ["auto", "eager", "compiled"]
    param_names = ["method"]
    unit = "seconds"
    number = 1
    repeat = 1
    processes = 1
    timeout = 900

    def _once(self, method) -> float:
        import os
        import subprocess
        import sys
        import tempfile
        import time

        steps = "20" if SMOKE else "2000"
        with tempfile.TemporaryDirectory() as empty:
            env = {
                **os.environ,
                "TORCHINDUCTOR_CACHE_DIR": os.path.join(empty, "inductor"),
                "LEGENDRE_VERIFY_CACHE_DIR": os.path.join(empty, "legendre"),
            }
            command = [sys.executable, "-m", "legendre_verify", "train", "--method", method]
            start = time.perf_counter()
            subprocess.run([*command, "--steps", steps], env=env, check=True, capture_output=True)
            return time.perf_counter() - start

    def track_wall_seconds(self, method):
        runs = 1 if SMOKE else 3
        return statistics.median(self._once(method) for _ in range(runs))


class SmallCall:
    """F(x).sum().backward() on 2,000 elements: per-call overhead rules here. ``clone_only``
    is a Function that only clones, the floor for a Python-level Function."""

    params = ["tutorial", "LegendrePolynomial3", "clone_only"]
    param_names = ["function"]
    repeat = REPEAT
    warmup_time = WARMUP_SECONDS
    rounds = ROUNDS

    def setup(self, function):
        def build():
            f = {
                "tutorial": baselines.TutorialP3.apply,
                "LegendrePolynomial3": LegendrePolynomial3.apply,
                "clone_only": _CloneOnly.apply,
            }[function]
            x = torch.rand(2000, generator=torch.Generator().manual_seed(0)) * 2 - 1
            return {"f": f, "x": x}

        steady(self, ("SmallCall", function), build, "time_forward_backward")

    def time_forward_backward(self, function):
        x = self.x.detach().requires_grad_(True)
        self.f(x).sum().backward()


class _CloneOnly(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return g
