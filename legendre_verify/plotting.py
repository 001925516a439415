"""Figures people would rather see than read (matplotlib, an optional extra: ``[plot]``)."""

from __future__ import annotations

from pathlib import Path

import torch

from legendre_verify.training import FitResult

__all__ = ["plot_fit"]


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plotting needs matplotlib: pip install 'legendre-verify[plot]'"
        ) from error
    return plt


def plot_fit(result: FitResult, path: str | Path) -> Path:
    """Save the data, the fitted curve and the loss history of a fit as one PNG."""
    plt = _pyplot()
    x = result.x.double()
    with torch.no_grad():
        fitted = result.predict(x)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(x, result.y.double(), label="sin(x)", linewidth=3, alpha=0.5)
    left.plot(x, fitted, label="a + b·P3(c + d·x)", linestyle="--")
    left.set_title(
        f"y = {result.a:.3g} + {result.b:.5g}·P3({result.c:.3g} + {result.d:.5g}·x)", fontsize=10
    )
    left.set_xlabel("x")
    left.legend()
    right.semilogy(range(len(result.losses)), result.losses)
    right.set_xlabel("step")
    right.set_ylabel("loss (sum of squares)")
    right.set_title("training loss")
    right.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
