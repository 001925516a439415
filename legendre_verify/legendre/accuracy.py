"""Accuracy of P_n and its derivatives against the exact symbolic truth, as a table.

``legendre-verify accuracy`` prints it; the README records it; the tests assert its bounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from legendre_verify.legendre import bounds
from legendre_verify.legendre.functions import legendre_p_derivative
from legendre_verify.verification.tolerances import ulp

if TYPE_CHECKING:
    from legendre_verify.verification.symbolic import SymbolicOracle

__all__ = ["AccuracyRow", "format_table", "legendre_oracle", "measure", "sample_points", "worst"]

DEFAULT_DEGREES = (0, 1, 2, 3, 4, 5, 8, 10, 16, 20, 32, 50, 64, 100)


@dataclass(frozen=True)
class AccuracyRow:
    """Worst error of P_n^{(k)} in one dtype over the sample, against its allowed error."""

    n: int
    k: int
    dtype: torch.dtype
    max_abs_error: float
    worst_ratio: float  # max over points of |error| / allowed; <= 1 passes
    worst_x: float
    max_ulps: float  # |error| in ulps of the true value, for the half dtypes

    @property
    def passed(self) -> bool:
        return self.worst_ratio <= 1.0


def sample_points(
    count: int = 10_000, seed: int = 0, domain: tuple[float, float] = (-1.0, 1.0)
) -> np.ndarray:
    """``count`` float64 points: -1, 0, 1, points within 1e-12 of +-1 (down to one ulp), the
    rest uniform on ``domain``."""
    lo, hi = domain
    near = [1 - 10.0**-j for j in range(12, 16)] + [1 - 2.0**-53, 1 - 2.0**-52]
    special = np.array([-1.0, 0.0, 1.0] + near + [-v for v in near])
    rng = np.random.default_rng(seed)
    return np.concatenate([special, rng.uniform(lo, hi, count - special.size)])


def legendre_oracle(n: int) -> SymbolicOracle:
    """The exact truth for P_n: the verifier's symbolic oracle of ``sympy.legendre(n, x)``.

    sympy and the oracle are imported here, on first use, so that importing the Legendre
    library costs torch alone.
    """
    import sympy

    from legendre_verify.verification.symbolic import SymbolicOracle

    return SymbolicOracle(lambda x: sympy.legendre(n, x), 1)


def allowed_errors(truth: np.ndarray, n: int, k: int, dtype: torch.dtype) -> np.ndarray:
    """The error each point may have (see :mod:`legendre_verify.legendre.bounds`)."""
    return np.array([bounds.legendre_allowed_error(float(t), n, k, dtype) for t in truth.flat])


def measure(
    degrees: Iterable[int] = DEFAULT_DEGREES,
    orders: Iterable[int] = (0, 1, 2),
    dtypes: Sequence[torch.dtype] = (torch.float64, torch.float32, torch.float16, torch.bfloat16),
    points: np.ndarray | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[AccuracyRow]:
    """Measure the worst error of ``legendre_p_derivative`` for every (n, k, dtype)."""
    points = sample_points() if points is None else np.asarray(points, dtype=np.float64)
    rows = []
    for n in degrees:
        oracle = legendre_oracle(n)
        for k in orders:
            for dtype in dtypes:
                x = torch.from_numpy(points).to(dtype)
                exact_x = x.double().numpy()
                truth = oracle.derivative((k,), [exact_x])
                in_range = np.abs(truth) <= float(torch.finfo(dtype).max)
                got = legendre_p_derivative(x, n, k).double().numpy()
                error = np.where(in_range, np.abs(got - truth), 0.0)
                allowed = allowed_errors(truth, n, k, dtype)
                # allowed is 0 only where the truth is exactly 0 (k > n): any error fails there
                ratio = np.divide(
                    error, allowed, out=np.where(error > 0, np.inf, 0.0), where=allowed > 0
                )
                ulps = error / np.array([ulp(float(t), dtype) for t in truth])
                ratio[~in_range] = 0.0
                worst = int(np.argmax(ratio))
                rows.append(
                    AccuracyRow(
                        n,
                        k,
                        dtype,
                        float(error.max()),
                        float(ratio[worst]),
                        float(exact_x[worst]),
                        float(ulps.max()),
                    )
                )
            if progress is not None:
                progress(f"n={n} k={k} done")
    return rows


def format_table(rows: Sequence[AccuracyRow]) -> str:
    """A markdown table: one line per (n, k), one column per dtype with worst error / allowed."""
    dtypes = list(dict.fromkeys(r.dtype for r in rows))
    names = [str(d).removeprefix("torch.") for d in dtypes]
    head = "| n | k | " + " | ".join(names) + " |"
    lines = [head, "|" + "---|" * (2 + len(dtypes))]
    by_key: dict[tuple[int, int], dict[torch.dtype, AccuracyRow]] = {}
    for row in rows:
        by_key.setdefault((row.n, row.k), {})[row.dtype] = row
    for (n, k), cells in by_key.items():
        rendered = []
        for dtype in dtypes:
            row = cells[dtype]
            half = dtype in (torch.float16, torch.bfloat16)
            detail = f"{row.max_ulps:.2f} ulp" if half else f"{row.max_abs_error:.2e}"
            rendered.append(f"{detail} ({row.worst_ratio:.2f})")
        lines.append(f"| {n} | {k} | " + " | ".join(rendered) + " |")
    return "\n".join(lines)


def worst(rows: Sequence[AccuracyRow]) -> AccuracyRow:
    return max(rows, key=lambda r: r.worst_ratio if math.isfinite(r.worst_ratio) else math.inf)
