"""What users would otherwise use, for the benchmarks to compare against in the same run."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["TutorialP3", "clone", "scipy_legendre", "special_legendre"]


class TutorialP3(torch.autograd.Function):
    """The PyTorch tutorial's LegendrePolynomial3, exactly as written there."""

    @staticmethod
    def forward(ctx: Any, input: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(input)
        return 0.5 * (5 * input**3 - 3 * input)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> torch.Tensor:
        (input,) = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input**2 - 1)


def clone(x: torch.Tensor) -> torch.Tensor:
    """The memory-bandwidth reference for an elementwise op: read once, write once."""
    return x.clone()


def special_legendre(x: torch.Tensor, n: int) -> torch.Tensor:
    """torch.special.legendre_polynomial_p (forward only: it has no gradient)."""
    return torch.special.legendre_polynomial_p(x, n)


def scipy_legendre(x: Any, n: int) -> Any:
    """scipy.special.eval_legendre on a numpy array (CPU only)."""
    from scipy.special import eval_legendre

    return eval_legendre(n, x)
