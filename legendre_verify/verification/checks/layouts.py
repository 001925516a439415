"""Checks of memory layouts and shapes: non-contiguous tensors, n-D vs flat, loop (batch)
dimensions vs a loop over them."""

from __future__ import annotations

import math

import torch

from legendre_verify.verification.checks.base import (
    DtypeDraw,
    Failures,
    compare,
    compare_outputs,
    input_label,
    register,
    replace,
    same_run,
    tolerances,
    vjp,
)
from legendre_verify.verification.samples import Sample, with_layout
from legendre_verify.verification.subject import Capability, Subject


@register(dtypes=DtypeDraw.ALL, layouts=True)
def layouts(subject: Subject, sample: Sample) -> Failures:
    """Non-contiguous inputs and grad_outputs (transposed, strided slices, expanded stride-0)
    give what their contiguous copies give: the drawn layouts, and every tensor of the sample
    as a strided slice and transposed too (catches kernels that assume contiguous memory,
    .view() on a transposed weight, as_strided with the contiguous strides)."""

    def relaid(layout: str | None) -> Sample:
        def move(t: torch.Tensor) -> torch.Tensor:
            t = t.detach()
            return t.contiguous() if layout is None else with_layout(t, layout)

        return replace(
            sample.with_inputs([move(x) for x in sample.inputs]),
            grad_outputs=tuple(None if g is None else move(g) for g in sample.grad_outputs),
        )

    contiguous = relaid(None)
    for variant, name in (
        (sample, "drawn"),
        (relaid("strided"), "strided"),
        (relaid("transposed"), "transposed"),
    ):
        failures = same_run(
            subject, variant, contiguous, f"non-contiguous ({name}) run vs contiguous copy"
        )
        if failures:
            return failures
    return []


@register(dtypes=DtypeDraw.ALL, needs=[Capability.LOOP])
def shapes(subject: Subject, sample: Sample) -> Failures:
    """0-d, empty, size-1 and n-D loop shapes give what the same values with the loop
    dimensions flattened give (catches squeeze/flatten bugs, crashes on 0-d or empty
    tensors)."""
    spec = subject.spec
    n_loop = len(sample.shape) - len(spec.signature.inputs[0])

    def flat(t: torch.Tensor) -> torch.Tensor:  # sizes spelled out: -1 is ambiguous if empty
        return t.reshape(math.prod(t.shape[:n_loop]), *t.shape[n_loop:])

    flattened = replace(
        sample.with_inputs([flat(x.detach()) for x in sample.inputs]),
        grad_outputs=tuple(None if g is None else flat(g) for g in sample.grad_outputs),
        tangents=tuple(flat(u) for u in sample.tangents),
    )
    return same_run(subject, sample, flattened, f"shape {sample.shape} vs flat copy")


@register(needs=[Capability.BATCH])
def batch(subject: Subject, sample: Sample) -> Failures:
    """A leading loop (batch) dimension gives what a Python loop over it gives, values and
    gradients (catches reductions over the batch dimension, per-batch state mixed up)."""
    n_loop = len(sample.shape) - len(subject.spec.signature.inputs[0])
    if n_loop == 0 or sample.shape[0] == 0:
        return []
    outs, grads = vjp(subject, sample)
    yard = subject.yardstick
    failures: Failures = []
    for b in range(sample.shape[0]):
        part = replace(
            sample.with_inputs([x[b] for x in sample.inputs]),
            grad_outputs=tuple(None if g is None else g[b] for g in sample.grad_outputs),
            tangents=tuple(u[b] for u in sample.tangents),
        )
        part_outs, part_grads = vjp(subject, part)
        failures += compare_outputs(
            subject,
            part,
            [o[b] for o in outs],
            [o.detach().cpu() for o in part_outs],
            tolerances(subject, yard, "outputs", part),
            f"batch element {b} vs a call on it alone: ",
        )
        allowed = tolerances(subject, yard, "vjp", part)
        for i, (g, p) in enumerate(zip(grads, part_grads, strict=True)):
            if g is not None and p is not None:
                failures += compare(
                    f"batch element {b}: gradient of {input_label(subject, i)} vs a call on it "
                    "alone",
                    g[b],
                    p.detach().cpu().double(),
                    allowed[i],
                )
        if failures:
            break
    return failures
