"""The Legendre library's error bounds, written down once.

Every bound on P_n^{(k)} is a multiple of the dtype's unit roundoff times a scale that the
polynomial's conditioning sets (its max on [-1, 1], attained at x = 1). :mod:`.accuracy` and the
tests use them; :func:`eps` and :func:`ulp` come from the verifier's tolerances (torch only).
"""

from __future__ import annotations

import torch

from legendre_verify.legendre.kernels import compute_dtype, value_at_one
from legendre_verify.verification.tolerances import eps, ulp

__all__ = [
    "HALF_ULPS",
    "LEGENDRE_ERROR_FACTOR",
    "legendre_abs_tolerance",
    "legendre_allowed_error",
    "legendre_bound_at_one",
]

#: Forward error of an n-step three-term recurrence is at most ~ (n+1) roundings of the
#: largest intermediate (the recurrence is stable on [-1, 1]); 4 covers the two roundings per
#: step (multiply-add and the rounded coefficient) twice over.
LEGENDRE_ERROR_FACTOR = 4

#: float16/bfloat16 values of P_n on [-1, 1]: at most 2 ulps (the final rounding is half an
#: ulp; the wider arithmetic before it must stay within the rest).
HALF_ULPS = 2


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

    float32/float64: :func:`legendre_abs_tolerance`. float16/bfloat16 (computed in a wider
    dtype and rounded once): values of P_n on [-1, 1] within ``HALF_ULPS`` ulps of the truth;
    derivatives, and anything outside [-1, 1] (``scale`` given), within half an ulp for the
    final rounding plus the wider arithmetic's own bound, since next to a root that absolute
    error (~ n eps scale) can exceed an ulp of a tiny value.
    """
    wider = compute_dtype(dtype)
    if wider == dtype:
        return legendre_abs_tolerance(n, k, dtype, scale)
    if k == 0 and scale is None:
        return HALF_ULPS * ulp(true_value, dtype)
    return 0.5 * ulp(true_value, dtype) + legendre_abs_tolerance(n, k, wider, scale)
