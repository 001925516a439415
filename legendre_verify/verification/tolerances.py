"""What "close enough" means for the verifier, written down once.

Every tolerance the verifier applies is ``VERIFY_FACTOR * eps(dtype) * scale``, with ``scale``
the size of the checked quantity plus its sensitivity to its inputs (the condition the
function itself sets). Where the scale comes from depends on what is known:

- an elementwise oracle (sympy or an elementwise reference): the max over a grid of the domain of
  ``|D f| + sum_j |x_j d_j D f|`` for the derivative ``D f`` checked (:meth:`Oracle.scale`);
- any other function: :func:`perturbation_scale`, measured on the sample itself in float64.

Imports torch alone (the Legendre library's error bounds build on :func:`eps` and :func:`ulp`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = [
    "PERTURBATION",
    "VERIFY_FACTOR",
    "eps",
    "finite_max_abs",
    "ladder_scale",
    "noise_scale",
    "perturbation_scale",
    "rounding_scale",
    "truth_tolerance",
    "ulp",
    "verify_tolerance",
]

#: allowed error = VERIFY_FACTOR * eps(dtype) * scale. A stable evaluation errs by the result's
#: rounding (eps |Q|) plus input-relative perturbations amplified by the condition number
#: (eps sum |x_j d_j Q|), once per rounding step it takes: 16 leaves room for ~16 such steps
#: (P_n's recurrence needs 4(n+1) eps max|P_n| <= 16 eps (1 + n(n+1)/2) for every n >= 0; a
#: length-k reduction with random-signed terms errs by ~sqrt(k) eps). A derivative off by 1e-4,
#: or a forward off by a constant, exceeds it by orders of magnitude in float64.
VERIFY_FACTOR = 16

#: size of the perturbation, relative to each input's largest element, that measures a
#: quantity's sensitivity in float64: small enough that the difference quotient is the
#: derivative to ~2^-20, large enough that float64's own rounding of the difference
#: (2^-52 / 2^-20 = 2^-32 relative) is negligible.
PERTURBATION = 2.0**-20


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


def verify_tolerance(dtype: torch.dtype, scale: float) -> float:
    """Absolute error verify() allows in ``dtype`` for a quantity of the given ``scale``:
    ``VERIFY_FACTOR * eps(dtype) * scale``, plus the dtype's smallest normal number (a value
    below it may be flushed to zero, or rounded to a subnormal with no relative precision)."""
    return VERIFY_FACTOR * eps(dtype) * scale + float(torch.finfo(dtype).smallest_normal)


def truth_tolerance(scale: float) -> float:
    """The error of a float64 truth (a reference or a derived oracle, computed in float64 by
    torch) for a quantity of the given ``scale``: the same rounding model as the Function's,
    in float64. Added to every allowed error of such a truth: a truth is never trusted to be
    more accurate than its own arithmetic."""
    return VERIFY_FACTOR * eps(torch.float64) * scale


def finite_max_abs(t: torch.Tensor | None) -> float:
    """The largest |element| over the finite elements (0 for None, empty or none finite; a bool
    tensor, such as a mask output, counts True as 1: torch has no abs of bool)."""
    if t is None or t.numel() == 0:
        return 0.0
    finite = t.detach()
    finite = (finite.to(torch.uint8) if finite.dtype == torch.bool else finite).abs()
    finite = finite[torch.isfinite(finite)]
    return float(finite.max()) if finite.numel() else 0.0


def perturbation_scale(
    quantity: Callable[[Sequence[torch.Tensor]], Sequence[torch.Tensor | None]],
    inputs: Sequence[torch.Tensor],
    draws: int = 2,
) -> list[float]:
    """Scale of each tensor ``quantity(inputs)`` returns: max |Q| + max |sum_j ||x_j|| s_j d_j Q|.

    The second term is the sensitivity of Q to normwise changes of its float64 ``inputs``: a
    difference quotient along ``x + PERTURBATION * max|x| * s`` with random signs ``s``
    (``draws`` of them, from a fixed seed: the same sample always gets the same scale). Normwise,
    not elementwise: a normwise-stable computation (a mean, a variance, a matrix product) errs
    by eps times its inputs' size, even where an input element or the result is 0 or tiny by
    cancellation. For a reduction of k terms the random-signed sum is ~sqrt(k) times a term,
    the size of a typical rounding error's growth.
    """
    base = [None if q is None else q.detach() for q in quantity(inputs)]
    scales = [finite_max_abs(q) for q in base]
    generator = torch.Generator().manual_seed(0)
    for _ in range(draws):
        moved = []
        for x in inputs:
            signs = torch.randint(0, 2, x.shape, generator=generator, dtype=torch.float64) * 2 - 1
            size = finite_max_abs(x)
            moved.append(x.detach() + PERTURBATION * size * signs.to(x.device))
        for k, q in enumerate(quantity(moved)):
            if q is not None and base[k] is not None and q.shape == base[k].shape:
                sensitivity = finite_max_abs((q.detach() - base[k]) / PERTURBATION)
                scales[k] = max(scales[k], finite_max_abs(base[k]) + sensitivity)
    return scales


# ---------------------------------------------------------------------------------------------
# rounding noise: what rounding at every step of *this* computation can do to its result

#: relative size of the perturbation each operation's result gets in :func:`rounding_scale`:
#: small enough that no branch (a comparison, a max, a sort) flips unless two values agree to
#: 2^-30, large enough that float64's own rounding of the difference is 2^-22 of it
ROUNDING_PERTURBATION = 2.0**-30

#: operations whose results are exact (data movement, selection, sign changes, factories):
#: perturbing them would model a rounding that does not happen
_EXACT_OPS = frozenset(
    [
        "_to_copy",
        "abs",
        "alias",
        "amax",
        "amin",
        "cat",
        "clamp",
        "clamp_max",
        "clamp_min",
        "clone",
        "constant_pad_nd",
        "copy",
        "copy_",
        "cummax",
        "cummin",
        "detach",
        "empty",
        "empty_like",
        "empty_strided",
        "expand_copy",
        "fill",
        "fill_",
        "flip",
        "full",
        "full_like",
        "gather",
        "index",
        "index_put",
        "index_select",
        "kthvalue",
        "lift_fresh",
        "lift_fresh_copy",
        "masked_fill",
        "masked_fill_",
        "masked_scatter",
        "masked_select",
        "max",
        "maximum",
        "median",
        "min",
        "minimum",
        "neg",
        "new_empty",
        "new_empty_strided",
        "new_full",
        "new_ones",
        "new_zeros",
        "ones",
        "ones_like",
        "relu",
        "repeat",
        "roll",
        "scalar_tensor",
        "scatter",
        "select_scatter",
        "sign",
        "slice_scatter",
        "sort",
        "stack",
        "take",
        "take_along_dim",
        "topk",
        "where",
        "zero_",
        "zeros",
        "zeros_like",
        "_unsafe_view",
        "unsqueeze_copy",
        "squeeze_copy",
        "view_copy",
    ]
)


def _selects(args: Sequence, kwargs: dict) -> bool:
    """Does a scatter_reduce / index_reduce pick one of its values (amax, amin): exact?"""
    reduce = kwargs.get("reduce", args[4] if len(args) > 4 else None)
    return reduce in ("amax", "amin")


def _accumulated(name: str, args: Sequence, kwargs: dict) -> torch.Tensor | None:
    """For an operation that accumulates (a sum, a matrix product), the same accumulation of
    absolute values: its rounding error is eps times that, not eps times its (possibly
    cancelled) result. None for any other operation."""
    a = [x.abs() if isinstance(x, torch.Tensor) and x.is_floating_point() else x for x in args]
    if name in ("mm", "bmm", "mv", "dot"):
        return getattr(torch, name)(a[0], a[1])
    if name == "addmm":
        beta, alpha = abs(kwargs.get("beta", 1)), abs(kwargs.get("alpha", 1))
        return beta * a[0] + alpha * torch.mm(a[1], a[2])
    if name == "baddbmm":
        beta, alpha = abs(kwargs.get("beta", 1)), abs(kwargs.get("alpha", 1))
        return beta * a[0] + alpha * torch.bmm(a[1], a[2])
    if name in ("sum", "mean", "cumsum", "nansum"):
        kwargs = {k: v for k, v in kwargs.items() if k != "out"}
        return getattr(torch, name)(*a, **kwargs)
    return None


class RoundingNoise(TorchDispatchMode):
    """A context in which every floating operation's result is moved by a random ``±size``
    (default ``ROUNDING_PERTURBATION``) times its magnitude (the result's, or for a sum or a
    matrix product the sum of its terms' magnitudes): a model of rounding at every step, run
    in float64 on the very computation (the truth's, or the Function's own). Results that are
    exact (views, copies, selections, factories) are left alone. With ``size`` a tested
    dtype's rounding, the truth computes what that dtype's arithmetic could (which of two
    nearly equal distances is the smaller, say)."""

    def __init__(self, seed: int, size: float = ROUNDING_PERTURBATION) -> None:
        super().__init__()
        self.generator = torch.Generator().manual_seed(seed)
        self.size = size

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func.overloadpacket.__name__
        if func.is_view or name.rstrip("_") in _EXACT_OPS or name.endswith("_like"):
            return out
        if name.rstrip("_") in ("scatter_reduce", "index_reduce") and _selects(args, kwargs):
            return out
        inplace = func._schema.is_mutable
        if isinstance(out, torch.Tensor):
            return self._moved(name, out, args, kwargs, inplace)
        if isinstance(out, tuple) and not inplace:
            return tuple(
                self._moved(name, o, args, kwargs, False) if isinstance(o, torch.Tensor) else o
                for o in out
            )
        return out

    def _moved(
        self, name: str, out: torch.Tensor, args: Sequence, kwargs: dict, inplace: bool
    ) -> torch.Tensor:
        if (
            not out.is_floating_point()
            or out.numel() == 0
            or out.layout != torch.strided
            or out._is_zerotensor()  # autograd's symbolic zeros: exact, and not writable
            or out.is_neg()
            or out.is_conj()
        ):
            return out
        try:
            size = _accumulated(name, args, kwargs)
        except Exception:  # an unusual signature: the result's own magnitude
            size = None
        if size is None or size.shape != out.shape:
            size = out.detach().abs()
        signs = torch.randint(0, 2, out.shape, generator=self.generator) * 2 - 1
        noise = self.size * size.detach().nan_to_num(0.0, 0.0, 0.0)
        noise = noise * signs.to(out.device, out.dtype)
        return out.add_(noise) if inplace else out + noise


def rounding_scale(
    quantity: Callable[[], Sequence[torch.Tensor | None]],
    base: Sequence[torch.Tensor | None],
    draws: int = 2,
) -> list[float]:
    """How far rounding at every step can move each tensor ``quantity()`` returns, per unit of
    relative rounding error: max |Q_noisy - Q| / ROUNDING_PERTURBATION over ``draws`` runs
    under :class:`RoundingNoise` (fixed seeds: the same sample always gets the same answer).

    This sees what no perturbation of the inputs can: intermediate terms that cancel (a
    normalisation's ``x - mean``, a softmax's ``p (g - sum p g)``), whose rounding errors are
    eps times the terms, not eps times the small result. 0 where ``quantity`` runs no torch
    operations (a sympy truth) or fails under the perturbation.
    """
    scales = [0.0] * len(base)
    for seed in range(draws):
        try:
            with RoundingNoise(seed):
                noisy = quantity()
        except Exception:  # an operation that refuses the dispatch mode: no estimate
            return [0.0] * len(base)
        for k, (q, b) in enumerate(zip(noisy, base, strict=False)):
            if q is None or b is None or q.shape != b.shape:
                continue
            moved = (q.detach().double() - b.detach().double()) / ROUNDING_PERTURBATION
            scales[k] = max(scales[k], finite_max_abs(moved))
    return scales


def noise_scale(
    quantity: Callable[[Sequence[torch.Tensor]], Sequence[torch.Tensor | None]],
    inputs: Sequence[torch.Tensor],
    base: Sequence[torch.Tensor | None],
    draws: int = 2,
) -> list[float]:
    """The scale of each tensor ``quantity(inputs)`` returns (``base``, already computed):
    max |Q| + max |Q_noisy - Q| / ROUNDING_PERTURBATION, where Q_noisy is ``quantity`` at the
    ``inputs`` moved normwise (each by ROUNDING_PERTURBATION times its largest element, random
    signs) and run under :class:`RoundingNoise` (every step's result moved as rounding would).

    One evaluation per draw measures both what :func:`perturbation_scale` measures (the
    sensitivity to normwise changes of the inputs: a matrix product's, a mean's rounding
    relative to its terms) and what :func:`rounding_scale` measures (terms that cancel inside
    the computation), with random signs, so the two add like rounding errors do. Draws use
    fixed seeds: a sample always gets the same scale. Where the noisy run fails or is not
    finite, that part is left out (the rest of the model still stands)."""
    scales = [finite_max_abs(q) for q in base]
    noise = [0.0] * len(base)
    generator = torch.Generator().manual_seed(0)
    for seed in range(draws):
        moved = []
        for x in inputs:
            signs = torch.randint(0, 2, x.shape, generator=generator, dtype=torch.float64) * 2 - 1
            moved.append(
                x.detach() + ROUNDING_PERTURBATION * finite_max_abs(x) * signs.to(x.device)
            )
        try:
            with RoundingNoise(seed):
                noisy = quantity(moved)
        except Exception:  # an operation that refuses the mode, or the moved point: no estimate
            continue
        for k, (q, b) in enumerate(zip(noisy, base, strict=False)):
            if q is None or b is None or q.shape != b.shape:
                continue
            moved_by = (q.detach().double() - b.detach().double()) / ROUNDING_PERTURBATION
            noise[k] = max(noise[k], finite_max_abs(moved_by))
    return [s + n for s, n in zip(scales, noise, strict=True)]


def ladder_scale(
    quantity: Callable[[], Sequence[torch.Tensor | None]],
    base: Sequence[torch.Tensor | None],
) -> list[float]:
    """How far float32 arithmetic moves each tensor ``quantity()`` returns (the same
    computation with every floating tensor in float32) from ``base`` (float64), per unit of
    float32's eps: max |Q32 - Q64| / eps(float32), over the elements where both are finite.

    The precision ladder sees rounding inside fused operations that no perturbation of their
    results can (``F.gelu``'s backward cancels ``1 + tanh`` inside one kernel): their float32
    kernels round as the Function's own computation does. Used for a reference only (the
    Function's own code, or its forward, would measure its own bugs as noise). 0 where the
    float32 run fails."""
    try:
        lower = quantity()
    except Exception:  # a reference that insists on float64: nothing measured
        return [0.0] * len(base)
    found = []
    for q, b in zip(lower, base, strict=False):
        if q is None or b is None or q.shape != b.shape or not q.is_floating_point():
            found.append(0.0)
            continue
        q, b = q.detach().double().cpu(), b.detach().double().cpu()
        both = q.isfinite() & b.isfinite()
        found.append(finite_max_abs(torch.where(both, q - b, 0.0)) / eps(torch.float32))
    return found + [0.0] * (len(base) - len(found))
