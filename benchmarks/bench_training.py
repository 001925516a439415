"""The tutorial's training run: time per SGD step (2000 points) and steps per second of every
method, with the tutorial's own loop as the baseline in the same run; plus a batched step that
fits 64 independent coefficient sets at once."""

from __future__ import annotations

import math

import torch

from legendre_verify import baselines, training
from legendre_verify.legendre import LegendrePolynomial3

from .common import DEVICES, SMOKE, sync, without_cuda

PARAMS = ([1, 64], DEVICES)


class TrainingStep:
    params = PARAMS
    param_names = ["batch", "device"]
    processes = 1

    def setup(self, batch, device):
        self.x = torch.linspace(-math.pi, math.pi, 2000, device=device)
        self.y = torch.sin(self.x)
        shape = (batch, 1) if batch > 1 else ()
        self.coefficients = [
            torch.full(shape, v, device=device, requires_grad=True) for v in training.INITIAL
        ]

    def _step(self):
        a, b, c, d = self.coefficients
        loss = (a + b * LegendrePolynomial3.apply(c + d * self.x) - self.y).pow(2).sum()
        loss.backward()
        with torch.no_grad():
            for p in self.coefficients:
                p -= 5e-6 * p.grad
                p.grad = None

    @without_cuda(PARAMS)
    def time_step(self, batch, device):
        self._step()
        sync(device)


class TrainingRun:
    """Steps per second of a whole 2000-step fit (higher is better; compile time excluded and
    reported separately). ``tutorial`` is the tutorial's loop with its own Function."""

    params = ["tutorial", "auto", "eager", "compiled", "fused"]
    param_names = ["method"]
    unit = "steps/s"
    processes = 1
    timeout = 600

    def setup(self, method):
        if method == "compiled":
            training.fit(method="compiled", steps=training.CHUNK)  # compile outside the timing

    def track_steps_per_second(self, method):
        if method == "tutorial":
            result = training.fit(function=baselines.TutorialP3.apply)
        else:
            result = training.fit(method=method)
        return result.steps_per_second


class TrainColdStart:
    """`legendre-verify train --method M` in a fresh process with an empty inductor cache:
    wall seconds, what a user waits for (lower is better). ``auto`` should cost what
    ``eager`` costs for the tutorial's 2,000 steps (compiling would take longer)."""

    # the compiled method's cold compile alone is 26-36 s: left out of CI's smoke pass
    params = ["auto", "eager"] if SMOKE else ["auto", "eager", "compiled"]
    param_names = ["method"]
    unit = "seconds"
    number = 1
    repeat = 1
    processes = 1
    timeout = 900

    def track_wall_seconds(self, method):
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


class SmallCall:
    """F(x).sum().backward() on 2,000 elements: per-call overhead rules here. ``clone_only``
    is a Function that only clones, the floor for a Python-level Function."""

    params = ["tutorial", "LegendrePolynomial3", "clone_only"]
    param_names = ["function"]
    processes = 1

    def setup(self, function):
        self.f = {
            "tutorial": baselines.TutorialP3.apply,
            "LegendrePolynomial3": LegendrePolynomial3.apply,
            "clone_only": _CloneOnly.apply,
        }[function]
        self.x = torch.rand(2000, generator=torch.Generator().manual_seed(0)) * 2 - 1

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
