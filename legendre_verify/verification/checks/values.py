"""Checks of what the Function returns: structure, values, every dtype, edge values,
repeatability."""

from __future__ import annotations

import torch

from legendre_verify.verification.checks.base import (
    DtypeDraw,
    Failures,
    NotApplicable,
    both_nan_equal,
    call,
    check_against,
    judge,
    output_modes,
    output_names,
    outputs_of,
    pairs,
    register,
)
from legendre_verify.verification.oracles import as_float64
from legendre_verify.verification.samples import Sample
from legendre_verify.verification.subject import Capability, Subject


@register(dtypes=DtypeDraw.ALL, layouts=True)
def meta(subject: Subject, sample: Sample) -> Failures:
    """Each output's dtype, device and shape are what the call promises (floating outputs in
    the inputs' dtype, index outputs in the example's), differentiable outputs require grad and
    index/marked outputs do not (catches silent up/down-casts, dropped size-1 dims, outputs
    left on the wrong device, a missing ctx.mark_non_differentiable)."""
    outs, _ = call(subject, sample)
    spec = subject.spec
    failures: Failures = []
    shapes = spec.output_shapes([tuple(x.shape) for x in sample.inputs], sample.loop, sample.sizes)
    any_grad = any(sample.requires_grad)
    for k, o in enumerate(outs):
        label = "output" if spec.n_outputs == 1 else f"output {k}"
        want_dtype = spec.output_dtypes[k] if spec.output_dtypes else None
        for what, got, want in (
            ("dtype", o.dtype, want_dtype or sample.dtype),
            ("device", o.device, sample.device),
            ("shape", tuple(o.shape), shapes[k]),
        ):
            if got != want:
                failures.append(f"{label} {what} is {got}, expected {want}")
        differentiable = k in spec.differentiable_outputs
        if not differentiable and o.requires_grad:
            failures.append(
                f"{label} is not differentiable (an index/integer output, or marked with "
                "ctx.mark_non_differentiable on the example) but requires grad"
            )
        if differentiable and any_grad and not o.requires_grad:
            failures.append(f"{label} does not require grad although inputs do")
    return failures


@register(needs=[Capability.TRUTH], asks=("outputs",))
def values(subject: Subject, sample: Sample) -> Failures:
    """Forward values equal the oracle's in float64 (catches wrong formulas, forwards off by a
    constant that finite differences cannot see, NaN at edge values, wrong index outputs)."""
    with torch.no_grad():
        outs = outputs_of(
            subject, subject.fn(*sample.fresh_args(clone=subject.dirty)[0], **sample.kwargs)
        )
    failures: Failures = []
    for oracle in subject.truths:
        failures += judge(
            subject,
            oracle,
            "outputs",
            sample,
            outs,
            output_names(subject, f"{oracle.name} "),
            output_modes(subject),
        )
    return failures


@register(dtypes=DtypeDraw.ALL)
def dtypes(subject: Subject, sample: Sample) -> Failures:
    """Values and gradients in float16, bfloat16, float32 and float64 against the float64 truth
    (or, with no oracle, the Function's own float64 result) within the dtype's tolerance
    (catches low-precision paths that overflow, lose all digits, or compute in the wrong
    dtype)."""
    return check_against(
        subject, sample, subject.truths or [subject.self_oracle], label=f"{sample.dtype}: "
    )


@register(dtypes=DtypeDraw.ALL, edges_only=True, needs=[Capability.TRUTH])
def edges(subject: Subject, sample: Sample) -> Failures:
    """Values and gradients at the domain's ends exactly, at 0, and a few ulps inside the ends,
    in every dtype, and, for a general Function with no domain given, at magnitudes where exp
    overflows in that dtype (catches NaN or inf at exactly +-1 or 0, errors only near the
    ends, a softmax or logsumexp without its max subtracted). Samples where the truth itself is
    not finite in the sample's dtype are set aside."""
    s64 = as_float64(sample)
    biggest = float(torch.finfo(sample.dtype).max)
    for oracle in subject.truths:
        for kind in ("outputs", "vjp"):
            for t in oracle.ask(kind, s64):
                if t is not None and t.is_floating_point() and bool((~(t.abs() <= biggest)).any()):
                    raise NotApplicable(
                        f"at every edge sample the truth's {kind} were not finite in {sample.dtype}"
                    )
    return check_against(subject, sample, subject.truths, label=f"{sample.dtype} edge values: ")


@register(dtypes=DtypeDraw.ALL)
def repeatable(subject: Subject, sample: Sample) -> Failures:
    """Forward twice, and backward twice through one graph, give identical results (catches
    state kept between calls, saved tensors changed by the first backward)."""
    outs, leaves = call(subject, sample)
    with torch.no_grad():
        again = outputs_of(
            subject, subject.fn(*sample.fresh_args(clone=subject.dirty)[0], **sample.kwargs)
        )
    failures: Failures = []
    for k, (o, a) in enumerate(zip(outs, again, strict=True)):
        if not both_nan_equal(o.detach(), a):
            failures.append(f"two forward calls on the same input differ (output {k})")
    wanted = [x for x in leaves if x.requires_grad]
    chosen, cotangents = pairs(subject, outs, sample.grad_outputs)
    if wanted and chosen:
        first = torch.autograd.grad(
            chosen, wanted, cotangents, retain_graph=True, allow_unused=True
        )
        second = torch.autograd.grad(chosen, wanted, cotangents, allow_unused=True)
        for i, (f, s) in enumerate(zip(first, second, strict=True)):
            if (f is None) != (s is None) or (f is not None and not both_nan_equal(f, s)):
                failures.append(f"backward run twice through one graph differs (input {i})")
    return failures
