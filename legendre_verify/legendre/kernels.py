"""The numerics: Legendre polynomials and their derivatives by stable recurrences.

Everything here is plain torch (no autograd wiring, no validation): one function per job,
called by :mod:`legendre_verify.legendre.functions`.

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
import sys
from typing import Any

import torch

__all__ = [
    "MAX_DEGREE",
    "check_degree",
    "compiled_kernel",
    "compute_dtype",
    "endpoint_coefficients",
    "fused_times",
    "fused_value",
    "legendre_derivative",
    "p3",
    "recurrence_coefficients",
    "round_to",
    "times_derivative",
    "times_dp3",
    "value_at_one",
]

#: n^2 |x -+ 1| up to which the endpoint Taylor series replaces the recurrence. Term j+1 over
#: term j is (n-k-j)(n+k+j+1) |t| / (2 (j+1)(k+j+1)) <= r / (2 (j+1)^2) there (r = this
#: radius), so the terms fall geometrically (no cancellation) and J terms leave a remainder
#: below r^J / (2^J J!^2): 7 terms for float64, 4 for float32. The recurrence's coherent
#: error was measured only for n^2 |x -+ 1| < 3e-3; 0.05 covers that with a margin of 15.
ENDPOINT_RADIUS = 0.05
#: below this degree the recurrence alone already meets the error bound everywhere (measured)
ENDPOINT_MIN_DEGREE = 16

#: The largest degree n (and derivative order k) accepted; larger ones raise ValueError. Up to
#: here the set-up is O(n) float operations (16 bytes a degree for the C kernel's arrays), the
#: recurrence's coefficients are exact rationals of integers below 2^53 (each rounded once),
#: and its error bound 4 (n+1) eps stays below 5e-10 relative in float64 (float32 above
#: ``FLOAT32_MAX_DEGREE`` is computed in float64). Evaluation costs O(n) per element (eager:
#: two tensor operations a degree, ~1 s per 2e5 degrees on any small tensor).
MAX_DEGREE = 10**6

#: Half types are computed in a wider dtype and rounded once. bfloat16 (8-bit significand) in
#: float32. float16 (11 bits) in float64: float32's absolute error, ~ n eps32, exceeds 2 ulps of
#: the small float16 values next to P_n's roots (measured: 7.5 ulps at n = 80), float64's never.
_UPCAST = {torch.float16: torch.float64, torch.bfloat16: torch.float32}


#: float32 above this degree is computed in float64 too: within ~1e-5 of +-1, just outside
#: the endpoint series, the float32 recurrence's error for P_n' passes its bound from
#: n ~ 125 (measured: 0.94x the bound at n = 120, 1.18x at 128, 2.2x at 200; float64 stays
#: below 0.35x). On the compiled path the wider arithmetic costs almost nothing (the loop is
#: bound by the recurrence's dependency chain, not by vector width: measured).
FLOAT32_MAX_DEGREE = 100


def compute_dtype(dtype: torch.dtype, n: int = 0) -> torch.dtype:
    """The dtype the arithmetic of P_n runs in for inputs of ``dtype`` (see ``_UPCAST`` and
    ``FLOAT32_MAX_DEGREE``); results are rounded once to ``dtype``."""
    if dtype == torch.float32 and n > FLOAT32_MAX_DEGREE:
        return torch.float64
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


def check_degree(value: int, name: str = "n") -> int:
    """``value`` if it is at most :data:`MAX_DEGREE`, else a ValueError naming it."""
    if value > MAX_DEGREE:
        raise ValueError(
            f"{name} must be <= {MAX_DEGREE} (the largest degree/order supported), "
            f"got {name}={value!r}"
        )
    return value


def recurrence_coefficients(n: int, k: int) -> tuple[float, float, list[float], list[float]]:
    """(c0, c1, [A_m, ...], [B_m, ...]) so that p_0 = c0, p_1 = c1 x, p_m = A_m x p_{m-1} -
    B_m p_{m-2} (m = 2 .. n-k).

    p_{n-k} is then P_n^{(k)}. c0 = (2k-1)!!, which overflows to inf only where the derivative
    itself exceeds the double range. Cheap (O(n) float operations, each rounded once), so it is
    not cached: a cache would only get in torch.compile's way.
    """
    check_degree(n)
    a = k + 0.5
    c0 = math.prod(range(1, 2 * k, 2), start=1.0)
    c1 = c0 * 2.0 * a
    steps = range(2, n - k + 1)
    return (
        c0,
        c1,
        [2.0 * (m + a - 1.0) / m for m in steps],
        [(m + 2.0 * a - 2.0) / m for m in steps],
    )


#: log of the largest float64 (value_at_one's test allows lgamma's rounding a margin of 1)
_LOG_MAX = math.log(sys.float_info.max)


def _log_value_at_one(n: int, k: int) -> float:
    """log P_n^{(k)}(1), to ~1e-12 relative (lgamma): to tell overflow without big integers."""
    return math.lgamma(n + k + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - k * math.log(2.0)


def value_at_one(n: int, k: int) -> float:
    """P_n^{(k)}(1) = (n+k)! / (2^k k! (n-k)!), rounded once (inf past the double range).

    Exact integer arithmetic only where the value is finite (2k factors, k small then): no
    factorial of n, so any n up to :data:`MAX_DEGREE` costs microseconds."""
    if k > n:
        return 0.0
    if _log_value_at_one(n, k) > _LOG_MAX + 1.0:
        return math.inf
    exact = math.prod(range(n - k + 1, n + k + 1)) // math.factorial(k)  # (n+k)!/((n-k)! k!)
    try:
        return exact / 2**k  # int / int: correctly rounded
    except OverflowError:
        return math.inf


def endpoint_coefficients(n: int, k: int, dtype: torch.dtype) -> list[float] | None:
    """The Taylor coefficients P_n^{(k+j)}(1) / j! of P_n^{(k)} about 1, as many as ``dtype``
    needs within ``ENDPOINT_RADIUS / n^2``; None where one overflows ``dtype`` (the derivative
    itself does near the ends, so the recurrence stays)."""
    eps = torch.finfo(dtype).eps
    r = ENDPOINT_RADIUS
    terms = next(j for j in range(1, 64) if r**j / (2.0**j * math.factorial(j) ** 2) < eps / 2)
    coeffs = [value_at_one(n, k + j) / math.factorial(j) for j in range(terms)]
    if not all(abs(c) <= torch.finfo(dtype).max for c in coeffs):
        return None
    return coeffs


def _endpoint_series(xc: torch.Tensor, n: int, k: int, recurrence: torch.Tensor) -> torch.Tensor:
    """Replace ``recurrence`` by the Taylor series about +-1 where x is that close to +-1."""
    coeffs = endpoint_coefficients(n, k, xc.dtype)
    if coeffs is None:
        return recurrence
    t = xc.abs() - 1  # exact (Sterbenz) where the series is used
    series = t * coeffs[-1] + coeffs[-2]
    for c in reversed(coeffs[:-2]):
        series = series * t + c
    if (n + k) % 2:  # P_n^{(k)}(-y) = (-1)^(n+k) P_n^{(k)}(y)
        series = torch.where(xc < 0, -series, series)
    return torch.where(t.abs() <= ENDPOINT_RADIUS / (n * n), series, recurrence)


def _overflowed(value: torch.Tensor, xc: torch.Tensor, n: int, k: int) -> torch.Tensor:
    """``value`` with the recurrence's overflow made +-inf.

    Past the dtype's range the recurrence turns inf into NaN (inf - inf, from x = +-inf or a
    finite x whose P_n^{(k)} overflows). For |x| >= 1 that NaN is an overflow: all roots lie in
    (-1, 1) and the leading coefficient is positive, so the value there has the sign of
    x^(n-k). One ``where``: out of place (vmap, tracing) and on devices always; eager CPU
    blocks only when their sum is NaN (one reduction, no allocation, in the common case)."""
    sign = torch.where(xc < 0, -math.inf, math.inf) if (n - k) % 2 else math.inf
    return torch.where(value.isnan() & (xc.abs() >= 1), sign, value)


def _evaluate(xc: torch.Tensor, n: int, k: int, *, in_place: bool) -> torch.Tensor:
    """P_n^{(k)} in xc's dtype, for n > k. ``in_place`` reuses two buffers (eager on plain
    tensors); otherwise every step is out of place (torch.compile fuses it into one loop; vmap
    needs out-of-place ops for its batching rules)."""
    c0, c1, alphas, betas = recurrence_coefficients(n, k)
    p1 = xc * c1
    if in_place:
        p0 = torch.full_like(p1, c0)
        for a_m, b_m in zip(alphas, betas, strict=True):
            p0.mul_(-b_m).addcmul_(xc, p1, value=a_m)  # p_m = A x p_{m-1} - B p_{m-2}
            p0, p1 = p1, p0
        # on the CPU only a block with a NaN somewhere (one pass, no allocation); elsewhere
        # always (a test would wait for the device)
        if not xc.is_cpu or math.isnan(p1.sum().item()):
            p1 = _overflowed(p1, xc, n, k)
    else:
        p0 = c0
        for a_m, b_m in zip(alphas, betas, strict=True):
            p0, p1 = p1, a_m * xc * p1 - b_m * p0
        p1 = _overflowed(p1, xc, n, k)
    if n >= ENDPOINT_MIN_DEGREE:
        p1 = _endpoint_series(xc, n, k, p1)
    return p1


# ---------------------------------------------------------------------------------------------
# The eager fast path (large plain tensors: cache-sized blocks, in place) and the functions
# torch.compile fuses into one loop (the CUDA kernels; :mod:`.dispatch` decides which runs).
# Anything a compiled kernel cannot take (vmap/functorch wrappers, tracing) takes the eager
# paths, which give the same numbers within the same bounds.

#: eager recurrence block: keeps the working set in cache (measured best of 16K..1M, 2 cores)
BLOCK = 1 << 16


def _plain(*tensors: torch.Tensor) -> bool:
    """Real tensors outside any functorch transform or trace: what a compiled kernel (and an
    in-place update) can take. The legacy vmap (gradcheck's batched gradients, autograd.grad's
    ``is_grads_batched``, ``jacobian(vectorize=True)``) batches tensors without a transform
    being active, so its tensors are tested one by one."""
    if torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
        return False
    functorch = torch._C._functorch
    return not any(
        functorch.is_functorch_wrapped_tensor(t) or functorch.is_legacy_batchedtensor(t)
        for t in tensors
    )


def _monic_coefficients(n: int, k: int, dtype: torch.dtype) -> tuple[float, list[float]] | None:
    """(scale, [beta_m, ...]) so that q_0 = 1, q_1 = x, q_m = x q_{m-1} - beta_m q_{m-2} and
    P_n^{(k)} = scale * q_{n-k}: the recurrence divided by its leading coefficients.

    One multiply and one subtract per degree instead of three multiplies and a subtract, and
    the dependency chain from step to step is a single multiply-subtract: 10-25 % faster
    compiled at n = 32 (measured), and the same rounding errors up to the final scaling
    (each step's coefficient is just rescaled).

    None where the scale (the leading coefficient, at most 2^n P_n^{(k)}(1)) comes within
    2^26 of ``dtype``'s range: the q_m ~ P_m / scale would then be subnormal (float32 at
    n = 128: 18x slower, measured) or the scale would overflow. Callers keep the classic form.
    """
    tiny = torch.finfo(dtype).tiny
    # the scale, (2n)! / (2^n n! (n-k)!), must stay below 2^-26 / tiny: decided on its
    # logarithm first, so that no large n builds a big integer or a list it would not use
    log2_scale = (math.lgamma(2 * n + 1) - math.lgamma(n + 1) - math.lgamma(n - k + 1)) / math.log(
        2.0
    ) - n
    if log2_scale > -26 - math.log2(tiny) + 1:
        return None
    scale_numerator = math.prod(range(n - k + 1, 2 * n + 1))  # (2n)! / (n-k)!
    scale_denominator = 2**n * math.factorial(n)
    if not scale_numerator * (1 << 26) < scale_denominator * round(1 / tiny):  # exact
        return None
    # exact rationals, each rounded once (int / int is): beta_m = B_m / (A_m A_{m-1}) and the
    # scale (rounding the running products instead doubled the error, measured)
    betas = [
        (m - 1) * (m + 2 * k - 1) / ((2 * m + 2 * k - 1) * (2 * m + 2 * k - 3))
        for m in range(2, n - k + 1)
    ]
    return scale_numerator / scale_denominator, betas


def _fused(x: torch.Tensor, n: int, k: int) -> torch.Tensor:
    """P_n^{(k)}(x) out of place, for torch.compile to fuse into one loop (n > k)."""
    monic = _monic_coefficients(n, k, x.dtype)
    if monic is None:
        return _evaluate(x, n, k, in_place=False)
    scale, betas = monic
    q0, q1 = 1.0, x
    for beta in betas:
        q0, q1 = q1, x * q1 - beta * q0
    value = _overflowed(q1 * scale, x, n, k)
    if n >= ENDPOINT_MIN_DEGREE:
        value = _endpoint_series(x, n, k, value)
    return value


def fused_value(x: torch.Tensor, n: int, k: int) -> torch.Tensor:
    """P_n^{(k)}(x) in the compute dtype, out of place: what torch.compile fuses (n > k)."""
    wide = compute_dtype(x.dtype, n)
    return _fused(x.to(wide), n, k).to(x.dtype)


def fused_times(g: torch.Tensor, x: torch.Tensor, n: int, k: int) -> torch.Tensor:
    """g * P_n^{(k)}(x), as :func:`fused_value`."""
    wide = compute_dtype(x.dtype, n)
    return (g.to(wide) * _fused(x.to(wide), n, k)).to(x.dtype)


def compiled_kernel(fn: Any, *degrees: int) -> Any:
    """``torch.compile`` of ``fn`` for one (n, k) (``degrees``, trailing arguments).

    Each (n, k) gets a function of its own, with n and k written into its code as literals:
    dynamo then bakes the recurrence's coefficients into the kernel as constants (passed as
    arguments under ``dynamic=True`` they become symbols, and the kernel recomputed ~60 scalar
    double divisions per vector: 1.4x slower at n = 32, measured), and each function has its
    own recompile budget (dtype x device) instead of all degrees sharing one. The caller
    (the dispatcher) keeps it.
    """
    name = "_".join(map(str, (fn.__name__, *degrees)))
    literals = "".join(f", {int(d)}" for d in degrees)
    scope: dict[str, Any] = {"fn": fn}
    exec(f"def {name}(*tensors):\n    return fn(*tensors{literals})\n", scope)
    return torch.compile(scope[name], dynamic=True)


def _blocked(x: torch.Tensor, n: int, k: int, g: torch.Tensor | None = None) -> torch.Tensor:
    """Eager recurrence over cache-sized blocks of a plain tensor (in place, in x's dtype)."""
    flat = x.reshape(-1)
    gf = None if g is None else g.reshape(-1)
    out = torch.empty(flat.shape, dtype=x.dtype, device=x.device)
    for start in range(0, flat.numel(), BLOCK):
        block = slice(start, start + BLOCK)
        value = _evaluate(flat[block], n, k, in_place=True)
        out[block] = value if gf is None else value.mul_(gf[block])
    return out.reshape(x.shape)


def legendre_derivative(x: torch.Tensor, n: int, k: int = 0) -> torch.Tensor:
    """d^k/dx^k P_n(x), elementwise, same dtype/device/shape as ``x``.

    Half-precision inputs are computed in a wider dtype (``compute_dtype``) and rounded once.
    ``x`` is never modified.
    """
    return times_derivative(None, x, n, k)


def times_derivative(g: torch.Tensor | None, x: torch.Tensor, n: int, k: int) -> torch.Tensor:
    """``g * P_n^{(k)}(x)`` (or P_n^{(k)}(x) when ``g`` is None), eager, rounded once to
    ``x``'s dtype: the backward and jvp of the Functions when no graph is being built."""
    check_degree(n)
    if k > n:
        out = torch.zeros_like(x)
        return out if g is None else out * g
    if n == k:
        constant = torch.full_like(x, value_at_one(n, k), dtype=torch.float64)
        return round_to(constant if g is None else constant * g.double(), x.dtype)
    if g is not None and (g.shape != x.shape or g.dtype != x.dtype or g.device != x.device):
        g = g.to(dtype=x.dtype, device=x.device).expand(x.shape)
    wide = compute_dtype(x.dtype, n)
    xc = x.to(wide)
    if _plain(x) and (g is None or _plain(g)) and x.numel() > BLOCK:
        return round_to(_blocked(xc, n, k, g), x.dtype)
    value = _evaluate(xc, n, k, in_place=_plain(x) and x.numel() > 0)
    if g is not None:
        value = value * g.to(wide)
    return round_to(value, x.dtype)


def p3_kernel(x: torch.Tensor) -> torch.Tensor:
    return x * (2.5 * x * x - 1.5)


def times_dp3_kernel(g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return g * (7.5 * x * x - 1.5)


_SCALARS: dict[tuple[float, torch.dtype, torch.device], torch.Tensor] = {}


def _scalar(value: float, like: torch.Tensor) -> torch.Tensor:
    """A cached 0-dim tensor of ``like``'s dtype and device. On small tensors an operation with
    a Python number pays ~3 us to wrap it in a tensor, and a 0-dim tensor of another dtype a
    cast (measured at 2,000 elements: more than the arithmetic). Only for plain tensors: a
    tensor made while tracing would be a fake one."""
    key = (value, like.dtype, like.device)
    found = _SCALARS.get(key)
    if found is None:
        found = _SCALARS[key] = torch.tensor(value, dtype=like.dtype, device=like.device)
    return found


def p3(x: torch.Tensor) -> torch.Tensor:
    """P3(x) = 0.5 (5x^3 - 3x) = x (2.5 x^2 - 1.5), eager (two kernels), rounded once to x's
    dtype."""
    if x.dtype in _UPCAST:
        xc = x.to(_UPCAST[x.dtype])
        out = xc * xc
        return round_to(out.mul_(2.5).sub_(1.5).mul_(xc), x.dtype)
    if _plain(x):  # float32/float64: two kernels, no Python numbers (small tensors pay per op)
        return torch.addcmul(_scalar(-1.5, x), x, x, value=2.5).mul_(x)
    return p3_kernel(x)  # under vmap or tracing: out of place


def times_dp3(g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """g * P3'(x) = g (7.5 x^2 - 1.5), eager like :func:`p3`."""
    plain = _plain(g, x)
    if x.dtype in _UPCAST:
        wide = _UPCAST[x.dtype]
        xc = x.to(wide)
        out = xc * xc
        return round_to(out.mul_(7.5).sub_(1.5) * g.to(wide), x.dtype)
    if plain and g.dtype == x.dtype and g.shape == x.shape:
        return torch.addcmul(_scalar(-1.5, x), x, x, value=7.5).mul_(g)
    return times_dp3_kernel(g, x)  # out of place: vmap may batch g
