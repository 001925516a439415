"""The tutorial's training run: time per SGD step (2000 points), and a batched variant that
fits 64 independent coefficient sets in one step."""

from __future__ import annotations

import math

import torch

from legendre_verify import LegendrePolynomial3
from legendre_verify.training import INITIAL

from .common import DEVICES, sync, without_cuda

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
            torch.full(shape, v, device=device, requires_grad=True) for v in INITIAL
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
