"""How far a reference is trusted: its autograd derivatives are compared, once, with central
finite differences of its own values, and the reference is found to be

- *exact*: they agree to rounding (the usual case): its derivatives are the truth;
- *deliberate*: they disagree by a structural amount (a ``detach()``, a straight-through
  estimator, ``F.embedding``'s ``padding_idx``, a gradient-reversal layer): its autograd
  derivatives are still the truth, exactly, and the checks that compare the Function with
  finite differences (gradcheck, gradgradcheck) are skipped with that reason;
- *imprecise*: they disagree by a small amount (``F.hardsigmoid``'s float64 gradient is
  float32's 1/6): an :class:`OracleError` saying how imprecise, unless the caller declared
  ``reference_error=`` (a relative error): then, and only then, every derivative comparison
  allows that much more, and the report says so.

No tolerance grows in silence.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from legendre_verify.verification.oracles import Oracle, OracleError
from legendre_verify.verification.samples import Sample
from legendre_verify.verification.signature import CallSpec

__all__ = ["DELIBERATE", "IMPRECISE", "assess_reference", "reference_discrepancy"]

#: relative disagreement of a reference's derivative with its own finite differences above
#: which it is imprecise: above the truncation error of a step of 1e-5 (~1e-11 for a smooth
#: function), far below a derivative bug worth finding (1e-4)
IMPRECISE = 1e-9

#: ... and above which the disagreement is structural (a derivative stopped or replaced on
#: purpose), not a matter of precision: no reference computes a derivative to within 1 % by
#: accident, and stopped gradients move it by O(1)
DELIBERATE = 1e-2


def reference_discrepancy(
    oracle: Oracle,
    spec: CallSpec,
    points: Callable[[torch.Generator], tuple[list[Any], dict[str, Any]]],
    trials: int = 7,
) -> float:
    """The median, over ``trials`` points (``points(generator)``: the call's arguments in
    float64) and random directions, of the relative difference between the oracle's vjp and
    central finite differences of its own outputs, beyond ten times the differences' own
    rounding error."""
    generator = torch.Generator().manual_seed(2)
    errors = []
    for _ in range(trials):
        args, kwargs = points(generator)
        base = Sample(tuple(args), spec.diff, (), (), (True,) * len(spec.diff), kwargs)
        try:
            outs = oracle.ask("outputs", base)
        except OracleError:
            continue
        gs = tuple(
            torch.rand(outs[k].shape, generator=generator, dtype=torch.float64) * 2 - 1
            for k in spec.differentiable_outputs
        )
        us = [
            torch.rand(args[i].shape, generator=generator, dtype=torch.float64) * 2 - 1
            for i in spec.diff
        ]
        sample = Sample(tuple(args), spec.diff, gs, tuple(us), (True,) * len(spec.diff), kwargs)
        h = 1e-5 * max([1.0, *(float(args[i].abs().max()) for i in spec.diff if args[i].numel())])

        def along(step: float, sample: Sample = sample, us: list = us, gs: tuple = gs) -> float:
            moved = sample.with_inputs(
                [x + step * u for x, u in zip(sample.inputs, us, strict=True)]
            )
            values = oracle.ask("outputs", moved)
            return sum(
                float((values[k] * g).sum())
                for k, g in zip(spec.differentiable_outputs, gs, strict=False)
            )

        try:
            grads = oracle.ask("vjp", sample)
            exact = sum(
                float((g * u).sum()) for g, u in zip(grads, us, strict=True) if g is not None
            )
            finite = (along(h) - along(-h)) / (2 * h)
        except OracleError:
            continue
        size = sum(
            float((g.abs() * u.abs()).sum())
            for g, u in zip(grads, us, strict=True)
            if g is not None
        )
        # the central difference's own rounding error: eps * sum |g f| / h
        own = (
            2.0**-52
            * sum(
                float((outs[k].abs() * g.abs()).sum())
                for k, g in zip(spec.differentiable_outputs, gs, strict=True)
            )
            / h
        )
        if size > 0 and math.isfinite(exact) and math.isfinite(finite):
            errors.append(max(0.0, abs(exact - finite) - 10 * own) / size)
    if not errors:
        return 0.0
    return sorted(errors)[len(errors) // 2]


def assess_reference(
    oracle: Oracle,
    spec: CallSpec,
    points: Callable[[torch.Generator], tuple[list[Any], dict[str, Any]]],
    declared: float | None,
) -> tuple[bool, list[str]]:
    """Classify a reference (see the module docstring): whether its derivatives are its own
    finite differences (False: deliberate), and the notes for the report. Sets
    ``oracle.derivative_error`` only to a ``declared`` ``reference_error``; raises
    :class:`OracleError` for an imprecise reference nobody declared."""
    measured = reference_discrepancy(oracle, spec, points)
    notes = []
    if declared is not None:
        oracle.derivative_error = declared
        notes.append(
            f"reference_error={declared:g}: every derivative comparison allows {declared:g} of "
            f"the derivative's size more, as asked (measured disagreement of the reference's "
            f"derivative with its own finite differences: {measured:.2g})"
        )
        return True, notes
    if measured >= DELIBERATE:
        notes.append(
            f"the reference's derivatives are not its values' derivatives (they differ from its "
            f"own finite differences by {measured:.2g}, relative: a detach(), a straight-through "
            "estimator, a padding index): its autograd derivatives are the truth, exactly; "
            "gradcheck and gradgradcheck (finite differences) are skipped"
        )
        return False, notes
    if measured > IMPRECISE:
        suggestion = 10.0 ** math.ceil(math.log10(4 * measured))
        raise OracleError(
            f"the reference's first derivative differs from its own finite differences by "
            f"{measured:.2g} (relative, in float64): an imprecise reference (e.g. a derivative "
            f"computed in float32, as F.hardsigmoid's). Give a reference exact in float64, or "
            f"declare how far to trust it: reference_error={suggestion:g}"
        )
    return True, notes
