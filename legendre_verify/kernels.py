"""The numerics: Legendre polynomials and their derivatives by stable recurrences.

Everything here is plain torch (no autograd wiring, no validation): one function per job,
called by :mod:`legendre_verify.functions`.

The k-th derivative of P_n is a Gegenbauer polynomial (DLMF 18.9.19)::

    P_n^{(k)}(x) = (2k-1)!! * C_{n-k}^{(k+1/2)}(x)

and every C^{(a)} obeys a three-term recurrence (DLMF 18.9.1)::

    m C_m = 2 (m + a - 1) x C_{m-1} - (m + 2a - 2) C_{m-2}

For k = 0 this is Bonnet's recurrence for P_n itself. The recurrence never divides by x or by
x^2 - 1, so it is finite and exact at -1, 0 and 1, and on [-1, 1] it is forward stable (errors
grow at most linearly in n); outside [-1, 1] it follows the dominant solution. Coefficients are
precomputed in double precision and applied as ``A*x*p1 - B*p0`` (no per-element divides).

Within a few ulps of +-1 the rounding errors of the recurrence for derivatives add up
coherently (measured: up to 3x the 4(n+1) eps max|P_n^{(k)}| bound at n = 100, only for
1 - |x| < 1e-14; in float32, 6x at n = 200). Within 1/n^2 of +-1 the Taylor series about
the endpoint is used instead: its coefficients P_n^{(j)}(+-1) are known in closed form and its
terms fall geometrically there, so it is accurate to rounding.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "compute_dtype",
    "legendre_derivative",
    "recurrence_coefficients",
    "round_to",
    "value_at_one",
]

#: n^2 |x -+ 1| up to which the endpoint Taylor series replaces the recurrence. Term j+1 over
#: term j is (n-k-j)(n+k+j+1) |t| / (2 (j+1)(k+j+1)) <= 1 / (2 (j+1)^2) there, so the terms
#: fall geometrically (no cancellation) and J terms leave a remainder below 1 / (2^J J!^2):
#: 10 terms for float64, 6 for float32.
ENDPOINT_RADIUS = 1.0
#: below this degree the recurrence alone already meets the error bound everywhere (measured)
ENDPOINT_MIN_DEGREE = 16

#: Half types are computed in a wider dtype and rounded once. bfloat16 (8-bit significand) in
#: float32. float16 (11 bits) in float64: float32's absolute error, ~ n eps32, exceeds 2 ulps of
#: the small float16 values next to P_n's roots (measured: 7.5 ulps at n = 80), float64's never.
_UPCAST = {torch.float16: torch.float64, torch.bfloat16: torch.float32}


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the arithmetic runs in for inputs of ``dtype`` (see ``_UPCAST``)."""
    return _UPCAST.get(dtype, dtype)


def round_to(y: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``y`` rounded once to ``dtype`` (round to nearest even), differentiable as a cast.

    torch converts float64 to float16 through float32, and that double rounding can miss the
    nearest float16 by one ulp next to a tie. Where the neighbour towards ``y`` is nearer, take
    it (the distances are exact in float64). The gradient flows through the plain cast.
    """
    rounded = y.to(dtype)
    if not (dtype == torch.float16 and y.dtype == torch.float64):
        return rounded
    with torch.no_grad():
        toward = torch.nextafter(
            rounded, torch.where(y > rounded.double(), 65504.0, -65504.0).to(dtype)
        )
        nearer = (y - toward.double()).abs() < (y - rounded.double()).abs()
        nearer &= rounded.isfinite()  # overflow to inf is the correct rounding there
        fix = torch.where(nearer, toward, rounded) - rounded
    return rounded + fix


def recurrence_coefficients(n: int, k: int) -> tuple[float, float, list[tuple[float, float]]]:
    """(c0, c1, [(A_m, B_m), ...]) so that p_0 = c0, p_1 = c1 x, p_m = A_m x p_{m-1} - B_m p_{m-2}.

    p_{n-k} is then P_n^{(k)}. c0 = (2k-1)!!, which overflows to inf only where the derivative
    itself exceeds the double range. Cheap (O(n) float operations), so it is not cached: a cache
    would only get in torch.compile's way.
    """
    a = k + 0.5
    c0 = math.prod(range(1, 2 * k, 2), start=1.0)
    c1 = c0 * 2.0 * a
    steps = [(2.0 * (m + a - 1.0) / m, (m + 2.0 * a - 2.0) / m) for m in range(2, n - k + 1)]
    return c0, c1, steps


def value_at_one(n: int, k: int) -> float:
    """P_n^{(k)}(1) = (n+k)! / (2^k k! (n-k)!), rounded once (inf past the double range)."""
    if k > n:
        return 0.0
    exact = math.factorial(n + k) // (math.factorial(k) * math.factorial(n - k))  # an integer
    try:
        return exact / 2**k
    except OverflowError:
        return math.inf


def _endpoint_series(xc: torch.Tensor, n: int, k: int, recurrence: torch.Tensor) -> torch.Tensor:
    """Replace ``recurrence`` by the Taylor series about +-1 where x is that close to +-1."""
    eps = torch.finfo(xc.dtype).eps
    terms = next(j for j in range(1, 64) if 2.0**j * math.factorial(j) ** 2 * eps > 2)
    coeffs = [value_at_one(n, k + j) / math.factorial(j) for j in range(terms)]
    if not all(abs(c) <= torch.finfo(xc.dtype).max for c in coeffs):
        return recurrence  # the derivative itself overflows this dtype near the ends
    t = xc.abs() - 1  # exact (Sterbenz) where the series is used
    series = torch.full_like(t, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        series = series.mul_(t).add_(c)
    if (n + k) % 2:  # P_n^{(k)}(-y) = (-1)^(n+k) P_n^{(k)}(y)
        series = torch.where(xc < 0, -series, series)
    return torch.where(t.abs() <= ENDPOINT_RADIUS / (n * n), series, recurrence)


def legendre_derivative(x: torch.Tensor, n: int, k: int = 0) -> torch.Tensor:
    """d^k/dx^k P_n(x), elementwise, same dtype/device/shape as ``x``.

    Half-precision inputs are computed in a wider dtype (``compute_dtype``) and rounded once. ``x`` is never
    modified.
    """
    if k > n:
        return torch.zeros_like(x)
    c0, c1, steps = recurrence_coefficients(n, k)
    if n == k:
        return round_to(torch.full_like(x, c0, dtype=torch.float64), x.dtype)
    xc = x.to(compute_dtype(x.dtype))
    # p0 is a working buffer owned here (x is never written), dense even when x is expanded.
    p1 = xc * c1
    p0 = torch.full_like(p1, c0)
    for a_m, b_m in steps:
        # p_m = A x p_{m-1} - B p_{m-2}; out-of-place addcmul keeps vmap's batching rule.
        p0, p1 = p1, torch.addcmul(p0.mul_(-b_m), xc, p1, value=a_m)
    if n >= ENDPOINT_MIN_DEGREE:
        p1 = _endpoint_series(xc, n, k, p1)
    return round_to(p1, x.dtype)
