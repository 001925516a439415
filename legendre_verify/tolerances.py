"""What "close enough" means, written down once.

Every tolerance in the project is one of these formulas: a multiple of the dtype's unit roundoff
times a scale that the function's conditioning sets. Nothing else in the package or the tests
carries a literal tolerance.
"""

from __future__ import annotations

import math

import torch

from legendre_verify.kernels import compute_dtype, value_at_one

__all__ = [
    "HALF_ULPS",
    "LEGENDRE_ERROR_FACTOR",
    "VERIFY_FACTOR",
    "eps",
    "legendre_abs_tolerance",
    "legendre_allowed_error",
    "legendre_bound_at_one",
    "ulp",
    "verify_tolerance",
]

#: Forward error of an n-step three-term recurrence is at most ~ (n+1) roundings of the
#: largest intermediate (the recurrence is stable on [-1, 1]); 4 covers the two roundings per
#: step (multiply-add and the rounded coefficient) twice over.
LEGENDRE_ERROR_FACTOR = 4

#: float16/bfloat16 values of P_n on [-1, 1]: at most 2 ulps (the final rounding is half an
#: ulp; the wider arithmetic before it must stay within the rest).
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


#: verify(): allowed error = VERIFY_FACTOR * eps(dtype) * scale, where scale is the oracle's
#: max over the domain of |D f| + sum_j |x_j d_j D f| for the quantity D f being checked. A
#: stable evaluation errs by the result's rounding (eps |D f|) plus input-relative
#: perturbations amplified by the condition number (eps sum |x_j d_j D f|), once per rounding
#: step it takes: 16 leaves room for ~16 such steps (P_n's recurrence, measured above, needs
#: 4(n+1) eps max|P_n| <= 16 eps (1 + n(n+1)/2) for every n >= 0). A derivative off by 1e-4, or
#: a forward off by a constant, exceeds it by orders of magnitude in float64.
VERIFY_FACTOR = 16


def verify_tolerance(dtype: torch.dtype, scale: float) -> float:
    """Absolute error verify() allows in ``dtype`` for a quantity of the given ``scale``."""
    return VERIFY_FACTOR * eps(dtype) * scale
