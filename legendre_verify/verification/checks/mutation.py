"""Checks that the Function leaves what it was given alone: no in-place writes to inputs or
grad_outputs in forward, backward or double backward, no hidden aliasing."""

from __future__ import annotations

import torch

from legendre_verify.verification.checks.base import (
    DtypeDraw,
    Failures,
    both_nan_equal,
    call,
    pairs,
    register,
)
from legendre_verify.verification.samples import Sample
from legendre_verify.verification.subject import Subject


def _tensors(sample: Sample) -> list[tuple[str, torch.Tensor]]:
    found = [(f"argument {i}", a) for i, a in enumerate(sample.args) if isinstance(a, torch.Tensor)]
    found += [(f"keyword {k}", v) for k, v in sample.kwargs.items() if isinstance(v, torch.Tensor)]
    found += [
        (f"grad_output {k}" if len(sample.grad_outputs) > 1 else "grad_output", g)
        for k, g in enumerate(sample.grad_outputs)
        if g is not None
    ]
    return found


def _written(
    tensors: list[tuple[str, torch.Tensor]],
    before: list[tuple[int, torch.Tensor]],
    phase: str,
) -> Failures:
    failures = []
    for (label, t), (version, values) in zip(tensors, before, strict=True):
        changed = not both_nan_equal(t.detach(), values)
        if t._version != version or changed:
            how = "values changed" if changed else "version counter bumped: written in place"
            failures.append(f"{label} was modified in place during {phase} ({how})")
    return failures


@register(dtypes=DtypeDraw.ALL, layouts=True)
def no_mutation(subject: Subject, sample: Sample) -> Failures:
    """Forward, backward (twice) and double backward leave the arguments and grad_outputs
    unchanged, by version counter and by value, whatever the net effect (catches in-place
    updates of inputs, saved tensors or grad_output; inputs declared with ctx.mark_dirty are
    the Function's to write)."""
    tensors = _tensors(sample)

    def snapshot() -> list[tuple[int, torch.Tensor]]:
        return [(t._version, t.detach().clone()) for _, t in tensors]

    before = snapshot()
    outs, leaves = call(subject, sample, private=False)
    failures = _written(tensors, before, "forward")
    if failures:
        return failures
    wanted = [x for x in leaves if x.requires_grad]
    chosen, cotangents = pairs(subject, outs, sample.grad_outputs, private=False)
    if wanted and chosen:
        before = snapshot()
        firsts = torch.autograd.grad(
            chosen, wanted, cotangents, create_graph=True, allow_unused=True
        )
        torch.autograd.grad(chosen, wanted, cotangents, retain_graph=True, allow_unused=True)
        failures = _written(tensors, before, "backward")
        if failures:
            return failures
        terms = [f.sum() for f in firsts if f is not None and f.requires_grad]
        if terms:
            before = snapshot()
            torch.autograd.grad(sum(terms), wanted, allow_unused=True)
            failures = _written(tensors, before, "double backward")
    return failures


@register(dtypes=DtypeDraw.ALL)
def aliasing(subject: Subject, sample: Sample) -> Failures:
    """An output that shares memory with an input the forward wrote into is declared with
    ctx.mark_dirty (catches in-place forwards that return their input undeclared: autograd then
    differentiates through values that were overwritten)."""
    args, _ = sample.fresh_args(clone=subject.dirty, private=False)
    tensors = [(i, a) for i, a in enumerate(args) if isinstance(a, torch.Tensor)]
    versions = [a._version for _, a in tensors]
    out = subject.fn(*args, **sample.kwargs)
    outs = out if isinstance(out, tuple | list) else (out,)
    failures = []
    for k, o in enumerate(outs):
        if not isinstance(o, torch.Tensor) or o.numel() == 0:
            continue
        for (i, a), version in zip(tensors, versions, strict=True):
            shares = a.numel() and o.untyped_storage().data_ptr() == a.untyped_storage().data_ptr()
            if shares and a._version != version and o is not a:
                failures.append(
                    f"output {k} shares memory with argument {i}, which forward wrote in place "
                    "without declaring it with ctx.mark_dirty"
                )
    return failures
