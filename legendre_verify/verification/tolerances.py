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

__all__ = [
    "PERTURBATION",
    "VERIFY_FACTOR",
    "eps",
    "perturbation_scale",
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


def _max_abs(t: torch.Tensor | None) -> float:
    if t is None or t.numel() == 0:
        return 0.0
    finite = t.detach().abs()
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
    scales = [_max_abs(q) for q in base]
    generator = torch.Generator().manual_seed(0)
    for _ in range(draws):
        moved = []
        for x in inputs:
            signs = torch.randint(0, 2, x.shape, generator=generator, dtype=torch.float64) * 2 - 1
            size = _max_abs(x)
            moved.append(x.detach() + PERTURBATION * size * signs.to(x.device))
        for k, q in enumerate(quantity(moved)):
            if q is not None and base[k] is not None and q.shape == base[k].shape:
                sensitivity = _max_abs((q.detach() - base[k]) / PERTURBATION)
                scales[k] = max(scales[k], _max_abs(base[k]) + sensitivity)
    return scales
