"""The PyTorch tutorial's fit of ``y = a + b * P3(c + d * x)`` to ``sin(x)``, as a function.

Defaults are the tutorial's constants; the loop is the tutorial's loop (sum-of-squares loss,
``loss.backward()``, plain SGD under ``torch.no_grad()``, grads reset to None).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from legendre_verify.functions import LegendrePolynomial3

__all__ = ["FitResult", "fit", "resolve_device"]

#: the tutorial's starting point (a, b, c, d)
INITIAL = (0.0, -1.0, 0.0, 0.3)


@dataclass
class FitResult:
    """Fitted coefficients of ``a + b * P3(c + d * x)`` and the loss at every step."""

    a: float
    b: float
    c: float
    d: float
    losses: list[float] = field(repr=False)
    x: torch.Tensor = field(repr=False)
    y: torch.Tensor = field(repr=False)

    @property
    def coefficients(self) -> tuple[float, float, float, float]:
        return (self.a, self.b, self.c, self.d)

    def result_line(self) -> str:
        """The tutorial's closing line."""
        return f"Result: y = {self.a} + {self.b} * P3({self.c} + {self.d} x)"

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.a + self.b * LegendrePolynomial3.apply(self.c + self.d * x)


def resolve_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch.device, with a clear error when CUDA is asked for but absent."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"device must name a torch device such as 'cpu' or 'cuda', got {device!r}"
        ) from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was asked for, but CUDA is not available here "
            f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}); use device='cpu'"
        )
    return resolved


def fit(
    *,
    steps: int = 2000,
    lr: float = 5e-6,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    points: int = 2000,
    function: Callable[[torch.Tensor], torch.Tensor] = LegendrePolynomial3.apply,
    log: Callable[[int, float], None] | None = None,
    log_every: int = 100,
) -> FitResult:
    """Run the tutorial's training loop and return the fitted coefficients and loss history.

    ``log(t, loss)`` is called where the tutorial prints (``t % log_every == log_every - 1``).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got steps={steps!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got lr={lr!r}")
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating torch.dtype, got dtype={dtype!r}")
    device = resolve_device(device)

    x = torch.linspace(-math.pi, math.pi, points, device=device, dtype=dtype)
    y = torch.sin(x)
    a, b, c, d = (
        torch.full((), value, device=device, dtype=dtype, requires_grad=True) for value in INITIAL
    )
    losses: list[float] = []
    for t in range(steps):
        y_pred = a + b * function(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        if log is not None and t % log_every == log_every - 1:
            log(t, losses[-1])
        loss.backward()
        with torch.no_grad():
            for parameter in (a, b, c, d):
                parameter -= lr * parameter.grad
                parameter.grad = None
    return FitResult(a.item(), b.item(), c.item(), d.item(), losses, x.cpu(), y.cpu())
