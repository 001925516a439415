"""What "close enough" means, written down once.

Every tolerance in the project is one of these formulas: a multiple of the dtype's unit roundoff
times a scale that the function's conditioning sets. Nothing else in the package or the tests
carries a literal tolerance.
"""

from __future__ import annotations

import math

import torch

from legendre_verify.kernels import value_at_one

__all__ = [
    "HALF_ULPS",
    "LEGENDRE_ERROR_FACTOR",
    "eps",
    "legendre_abs_tolerance",
    "legendre_allowed_error",
    "legendre_bound_at_one",
    "ulp",
]

#: Forward error of an n-step three-term recurrence is at most ~ (n+1) roundings of the
#: largest intermediate (the recurrence is stable on [-1, 1]); 4 covers the two roundings per
#: step (multiply-add and the rounded coefficient) twice over.
LEGENDRE_ERROR_FACTOR = 4

#: float16/bfloat16 results are computed in float32 and rounded once: half an ulp from the
#: final rounding, the rest for the float32 arithmetic before it.
HALF_ULPS = 2


def eps(dtype: torch.dtype) -> float:
    """Machine epsilon (spacing of floats at 1.0) of a floating dtype."""
    return float(torch.finfo(dtype).eps)


def ulp(value: float, dtype: torch.dtype) -> float:
    """Spacing of ``dtype``'s floats at ``|value|`` (the subnormal spacing near zero)."""
    info = torch.finfo(dtype)
    tiny_step = float(info.smallest_normal) * float(info.eps)
    if value == 0 or not math.isfinite(value):
        return tiny_step
    _, exponent = math.frexp(abs(value))  # |value| = m * 2**exponent, m in [0.5, 1)
    return max(math.ldexp(float(info.eps), exponent - 1), tiny_step)


def legendre_bound_at_one(n: int, k: int) -> float:
    """max |P_n^{(k)}(x)| over [-1, 1], attained at x = 1: (n+k)! / (2^k k! (n-k)!)."""
    return value_at_one(n, k)


def legendre_abs_tolerance(n: int, k: int, dtype: torch.dtype, scale: float | None = None) -> float:
    """Absolute error allowed for P_n^{(k)} in ``dtype``: 4 (n+1) eps * scale.

    ``scale`` is the largest magnitude the recurrence passes through: max |P_n^{(k)}| over
    [-r, r] with r = max(1, |x|); by default r = 1 (``legendre_bound_at_one``).
    """
    if scale is None:
        scale = legendre_bound_at_one(n, k)
    return LEGENDRE_ERROR_FACTOR * (n + 1) * eps(dtype) * scale


def legendre_allowed_error(
    true_value: float, n: int, k: int, dtype: torch.dtype, scale: float | None = None
) -> float:
    """Error allowed for one value of P_n^{(k)} computed in ``dtype``.

    float32/float64: :func:`legendre_abs_tolerance`. float16/bfloat16 (computed in float32 and
    rounded once): values of P_n on [-1, 1] within ``HALF_ULPS`` ulps of the truth; derivatives,
    and anything outside [-1, 1] (``scale`` given), within half an ulp for the final rounding
    plus the float32 arithmetic's bound, since near a root the float32 error (absolute,
    ~ n eps32 scale) exceeds an ulp of a tiny value.
    """
    if dtype not in (torch.float16, torch.bfloat16):
        return legendre_abs_tolerance(n, k, dtype, scale)
    if k == 0 and scale is None:
        return HALF_ULPS * ulp(true_value, dtype)
    return 0.5 * ulp(true_value, dtype) + legendre_abs_tolerance(n, k, torch.float32, scale)
