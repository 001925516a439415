"""Baselines in the same suite, so every ratio can be read from one run: x.clone() (the
memory-bandwidth reference), the tutorial's eager P3, torch.special (forward only: it has no
gradient) and scipy (CPU)."""

from __future__ import annotations

import torch

from legendre_verify import baselines

from .common import DEVICES, DTYPES, SIZES, make_input, sync, without_cuda

ELEMENTWISE = (SIZES, DTYPES, DEVICES)
BY_DEGREE = ([3, 10, 32, 100], SIZES, DTYPES, DEVICES)


class Elementwise:
    params = ELEMENTWISE
    param_names = ["size", "dtype", "device"]
    number = 1
    repeat = (1, 10, 10.0)
    processes = 1

    def setup(self, size, dtype, device):
        self.x = make_input(size, dtype, device)
        self.xr = self.x.clone().requires_grad_(True)
        self.y = baselines.TutorialP3.apply(self.xr)
        self.g = torch.ones_like(self.y)

    @without_cuda(ELEMENTWISE)
    def time_clone(self, size, dtype, device):
        baselines.clone(self.x)
        sync(device)

    @without_cuda(ELEMENTWISE)
    def time_tutorial_p3_forward(self, size, dtype, device):
        baselines.TutorialP3.apply(self.x)
        sync(device)

    @without_cuda(ELEMENTWISE)
    def time_tutorial_p3_backward(self, size, dtype, device):
        torch.autograd.grad(self.y, self.xr, self.g, retain_graph=True)
        sync(device)


class TorchSpecial:
    params = BY_DEGREE
    param_names = ["n", "size", "dtype", "device"]
    number = 1
    repeat = (1, 5, 20.0)
    processes = 1
    timeout = 600

    def setup(self, n, size, dtype, device):
        self.x = make_input(size, dtype, device)

    @without_cuda(BY_DEGREE)
    def time_forward(self, n, size, dtype, device):
        baselines.special_legendre(self.x, n)
        sync(device)


class Scipy:
    params = ([3, 10, 32, 100], SIZES, DTYPES)
    param_names = ["n", "size", "dtype"]
    number = 1
    repeat = (1, 5, 20.0)
    processes = 1
    timeout = 600

    def setup(self, n, size, dtype):
        self.x = make_input(size, dtype, "cpu").numpy()

    def time_forward(self, n, size, dtype):
        baselines.scipy_legendre(self.x, n)
