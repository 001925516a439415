"""Checks of memory layouts and shapes: non-contiguous tensors, n-D vs flat, loop (batch)
dimensions vs a loop over them."""

from __future__ import annotations

import math

import torch

from legendre_verify.verification.checks.base import (
    DtypeDraw,
    Failures,
    NotApplicable,
    compare,
    compare_outputs,
    input_label,
    register,
    replace,
    same_run,
    vjp,
    within,
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


def _loop_dims(subject: Subject, sample: Sample) -> list[int]:
    """How many leading loop dimensions each differentiable input of ``sample`` has."""
    spec = subject.spec
    cores = [
        spec.core_of(i) if spec.drawn else spec.signature.inputs[j] for j, i in enumerate(spec.diff)
    ]
    return [x.dim() - len(core) for x, core in zip(sample.inputs, cores, strict=True)]


def _loop(subject: Subject, sample: Sample) -> tuple[int, ...]:
    if sample.loop is not None:
        return tuple(sample.loop)
    n = max(_loop_dims(subject, sample), default=0)  # a user's own sample: the first input's
    return tuple(sample.inputs[0].shape[:n]) if sample.inputs else ()


@register(dtypes=DtypeDraw.ALL, needs=[Capability.LOOP])
def shapes(subject: Subject, sample: Sample) -> Failures:
    """0-d, empty, size-1 and n-D loop shapes give what the same values with the loop
    dimensions flattened give (catches squeeze/flatten bugs, crashes on 0-d or empty
    tensors). Samples whose inputs broadcast their loop dimensions are the batch check's."""
    loop = _loop(subject, sample)
    n_loop = len(loop)
    dims = _loop_dims(subject, sample)
    if any(d and tuple(x.shape[:d]) != loop for x, d in zip(sample.inputs, dims, strict=True)):
        raise NotApplicable("every sample broadcast its loop dimensions between inputs")

    def flat(t: torch.Tensor, d: int = n_loop) -> torch.Tensor:
        # sizes spelled out: -1 is ambiguous if empty
        return t.reshape(math.prod(t.shape[:d]), *t.shape[d:]) if d else t

    flattened = replace(
        sample.with_inputs([flat(x.detach(), d) for x, d in zip(sample.inputs, dims, strict=True)]),
        grad_outputs=tuple(None if g is None else flat(g) for g in sample.grad_outputs),
        tangents=tuple(flat(u, d) for u, d in zip(sample.tangents, dims, strict=True)),
        loop=(math.prod(loop),) if n_loop else (),
    )
    return same_run(subject, sample, flattened, f"loop shape {loop} vs flat copy")


def _slice(t: torch.Tensor, d: int, n_loop: int, b: int) -> torch.Tensor:
    """Element ``b`` of the first loop dimension of a tensor with ``d`` of the ``n_loop`` loop
    dimensions (fewer: it broadcasts along the missing leading ones)."""
    if d < n_loop:
        return t
    return t[0] if t.shape[0] == 1 else t[b]


@register(needs=[Capability.BATCH])
def batch(subject: Subject, sample: Sample) -> Failures:
    """A leading loop (batch) dimension gives what a Python loop over it gives, values and
    gradients, also where inputs broadcast along it (catches reductions over the batch
    dimension, per-batch state mixed up, gradients of a broadcast input not summed)."""
    loop = _loop(subject, sample)
    if not loop or loop[0] == 0:
        return []
    n_loop = len(loop)
    dims = _loop_dims(subject, sample)
    outs, grads = vjp(subject, sample)
    parts, answers = [], []
    for b in range(loop[0]):
        part = replace(
            sample.with_inputs(
                [_slice(x, d, n_loop, b) for x, d in zip(sample.inputs, dims, strict=True)]
            ),
            grad_outputs=tuple(None if g is None else g[b] for g in sample.grad_outputs),
            tangents=tuple(
                _slice(u, d, n_loop, b) for u, d in zip(sample.tangents, dims, strict=True)
            ),
            loop=loop[1:],
        )
        part_outs, part_grads = vjp(subject, part)
        parts.append(part)
        answers.append(
            (
                [o.detach().cpu() for o in part_outs],
                [None if q is None else q.detach().cpu().double() for q in part_grads],
            )
        )
    # an input with the loop dimension has per-element gradients; one broadcast along it, the
    # sum of the elements'
    looped = [
        g is not None and dims[i] == n_loop and g.shape[0] == loop[0] for i, g in enumerate(grads)
    ]
    summed: list[torch.Tensor | None] = [None] * len(grads)
    for _, part_grads in answers:
        for i, q in enumerate(part_grads):
            if grads[i] is not None and q is not None and not looped[i]:
                summed[i] = q if summed[i] is None else summed[i] + q

    def differences(*allowed: list[float]) -> Failures:
        failures: Failures = []
        for b, (part, (part_outs, part_grads)) in enumerate(zip(parts, answers, strict=True)):
            failures += compare_outputs(
                subject,
                part,
                [o[b] for o in outs],
                part_outs,
                allowed[2 * b],
                f"batch element {b} vs a call on it alone: ",
            )
            for i, q in enumerate(part_grads):
                if looped[i] and q is not None:
                    failures += compare(
                        f"batch element {b}: gradient of {input_label(subject, i)} vs a call on "
                        "it alone",
                        grads[i][b],
                        q,
                        allowed[2 * b + 1][i],
                    )
            if failures:
                return failures
        for i, total in enumerate(summed):
            if total is not None:
                g = grads[i]
                got = g[0] if dims[i] == n_loop else g
                failures += compare(
                    f"gradient of {input_label(subject, i)} (broadcast along the batch) vs the "
                    "sum of the calls on each element alone",
                    got,
                    total.reshape(got.shape),
                    loop[0] * allowed[-1][i],
                )
        return failures

    questions = [(kind, part) for part in parts for kind in ("outputs", "vjp")]
    return within(subject, subject.yardstick, [*questions, ("vjp", sample)], differences)
