"""Checks of first derivatives: against the truth, for every requires_grad subset and every
undefined grad_output, linear in grad_output, and gradcheck's finite differences."""

from __future__ import annotations

import itertools

import torch
from torch.autograd.gradcheck import GradcheckError

from legendre_verify.verification.checks.base import (
    DtypeDraw,
    Failures,
    check_against,
    compare,
    finite_differences_apply,
    float_call,
    input_label,
    max_abs,
    register,
    replace,
    vjp,
    within,
)
from legendre_verify.verification.samples import Sample
from legendre_verify.verification.subject import Capability, Subject


@register(needs=[Capability.TRUTH])
def gradients(subject: Subject, sample: Sample) -> Failures:
    """Backward with random grad_outputs equals the oracle's vjp (catches derivatives off by any
    factor above rounding, e.g. 1e-4 that gradcheck's rtol lets through, gradients not summed
    over a broadcast dimension, scattered to the wrong positions, NaN at the domain's ends)."""
    return check_against(subject, sample, subject.truths)


def requires_grad_combinations(arity: int) -> list[tuple[bool, ...]]:
    """Every combination of which inputs require grad (up to 4 inputs); beyond, each input
    alone, all but each input, all and none."""
    if arity <= 4:
        return list(itertools.product((True, False), repeat=arity))
    singles = [tuple(i == j for j in range(arity)) for i in range(arity)]
    return [
        (True,) * arity,
        (False,) * arity,
        *singles,
        *(tuple(not v for v in c) for c in singles),
    ]


@register(dtypes=DtypeDraw.ALL, cost=4)
def requires_grad_subsets(subject: Subject, sample: Sample) -> Failures:
    """Every combination of which inputs require grad (none included) runs on each sample, and
    gives the gradients the truth (or, with no oracle, the Function's own float64 result with
    every input requiring grad) gives for those that do (catches backwards that crash on a
    missing grad, misread ctx.needs_input_grad, or return gradients in the wrong order)."""
    oracles = subject.truths or [subject.self_oracle]
    for combination in requires_grad_combinations(subject.arity):
        failures = check_against(
            subject,
            replace(sample, requires_grad=combination),
            oracles,
            label=f"requires_grad={combination}: ",
        )
        if failures:
            return failures
    return []


@register(dtypes=DtypeDraw.ALL, layouts=True)
def zero_grad_output(subject: Subject, sample: Sample) -> Failures:
    """Zero grad_outputs give exactly zero gradients (catches backwards that add a term not
    multiplied by grad_output)."""
    zeros = [None if g is None else torch.zeros_like(g) for g in sample.grad_outputs]
    _, grads = vjp(subject, sample, zeros)
    return [
        f"gradient of {input_label(subject, i)} is not zero for zero grad_outputs: "
        f"max |value| {max_abs(g)!r}"
        for i, g in enumerate(grads)
        if g is not None and not bool((g == 0).all())
    ]


def _other_cotangents(subject: Subject, sample: Sample) -> list[torch.Tensor | None]:
    """A second set of cotangents with other values (for the linearity check)."""
    if subject.elementwise:
        return [sample.tangents[0]]
    return [None if g is None else -g.flip(list(range(g.dim()))) for g in sample.grad_outputs]


@register()
def linearity(subject: Subject, sample: Sample) -> Failures:
    """Backward is linear in grad_output: vjp(a g1 + b g2) = a vjp(g1) + b vjp(g2) (catches
    backwards that square, clamp or take the sign of grad_output; gradcheck only feeds 0/1)."""
    a, b = 0.5, -2.0  # exact in every dtype
    g1 = list(sample.grad_outputs)
    g2 = _other_cotangents(subject, sample)
    mixed = [None if x is None else a * x + b * y for x, y in zip(g1, g2, strict=True)]
    _, got = vjp(subject, sample, mixed)
    _, first = vjp(subject, sample, g1)
    _, second = vjp(subject, sample, g2)
    scale_sample = replace(
        sample,
        grad_outputs=tuple(
            None if x is None else x.abs() * abs(a) + y.abs() * abs(b)
            for x, y in zip(g1, g2, strict=True)
        ),
    )
    combined: list[torch.Tensor | None] = []
    for m, f, s in zip(got, first, second, strict=True):
        if m is None:
            combined.append(None)
            continue
        f, s = f.detach().cpu().double(), s.detach().cpu().double()
        # where a part overflowed (inf - inf) linearity says nothing: not judged there
        finite = f.isfinite() & s.isfinite()
        combined.append(torch.where(finite, a * f + b * s, m.detach().cpu().double()))

    def differences(allowed: list[float]) -> Failures:
        return [
            failure
            for i, (m, c) in enumerate(zip(got, combined, strict=True))
            if m is not None
            for failure in compare(
                f"vjp(a*g1 + b*g2) of {input_label(subject, i)} vs a*vjp(g1) + b*vjp(g2)",
                m,
                c,
                allowed[i],
            )
        ]

    return within(subject, subject.yardstick, [("vjp", scale_sample)], differences)


@register(needs=[Capability.MULTIPLE_OUTPUTS], dtypes=DtypeDraw.ALL)
def undefined_grad_outputs(subject: Subject, sample: Sample) -> Failures:
    """Backward with some grad_outputs undefined (None: outputs the loss did not use) runs and
    gives what zeros in their place give (catches backwards that crash on None with
    ctx.set_materialize_grads(False), or treat a missing gradient as nonzero)."""
    n = len(sample.grad_outputs)
    pairs_found = []  # (which were dropped, the gradients with None, with zeros in their place)
    for size in range(1, n):
        for dropped in itertools.combinations(range(n), size):
            with_none = [None if k in dropped else g for k, g in enumerate(sample.grad_outputs)]
            with_zero = [
                torch.zeros_like(g) if k in dropped else g
                for k, g in enumerate(sample.grad_outputs)
            ]
            try:
                _, got = vjp(subject, sample, with_none)
            except Exception as error:
                return [
                    f"backward raised {type(error).__name__} with grad_outputs {list(dropped)} "
                    f"undefined (None): {str(error)[:500]}"
                ]
            _, want = vjp(subject, sample, with_zero)
            pairs_found.append((dropped, got, want))

    def differences(allowed: list[float]) -> Failures:
        failures: Failures = []
        for dropped, got, want in pairs_found:
            for i, (g, w) in enumerate(zip(got, want, strict=True)):
                if w is not None:
                    failures += compare(
                        f"grad_outputs {list(dropped)} undefined: gradient of "
                        f"{input_label(subject, i)} vs zeros in their place",
                        g,
                        w.detach().cpu().double(),
                        allowed[i],
                    )
        return failures

    return within(subject, subject.yardstick, [("vjp", sample)], differences)


def gradcheck_inputs(sample: Sample) -> tuple[torch.Tensor, ...]:
    return tuple(
        x.detach().double().requires_grad_(rg)
        for x, rg in zip(sample.inputs, sample.requires_grad, strict=True)
    )


@register(small=True, cost=5, needs=[Capability.FINITE_DIFFERENCES])
def gradcheck(subject: Subject, sample: Sample) -> Failures:
    """torch.autograd.gradcheck in float64: backward (and jvp, batched grads and undefined
    grad_outputs where the Function supports them) against finite differences (samples where the
    truth's own derivatives disagree with its finite differences, at a kink or a tie within
    their reach, are set aside: finite differences cannot judge there)."""
    finite_differences_apply(subject, sample, order=1)
    caps = subject.capabilities
    s64 = sample.mapped(lambda t: t.detach().double())
    try:
        torch.autograd.gradcheck(
            float_call(subject, s64, shield=True),
            gradcheck_inputs(s64),
            check_forward_ad=Capability.FORWARD_AD in caps,
            check_batched_grad=Capability.VMAP in caps,
            check_batched_forward_grad=Capability.VMAP in caps and Capability.FORWARD_AD in caps,
            check_undefined_grad=True,
        )
    except GradcheckError as error:
        return [f"gradcheck failed: {str(error).strip()[:2000]}"]
    return []
