"""Checks beyond first-order reverse mode: double backward, forward-mode AD (against the truth,
and against backward by transposition), gradgradcheck."""

from __future__ import annotations

import torch
from torch.autograd.gradcheck import GradcheckError

from legendre_verify.verification.checks.base import (
    Failures,
    call,
    compare,
    finite_differences_apply,
    float_call,
    input_label,
    judge,
    output_modes,
    pairs,
    register,
    vjp,
    within,
)
from legendre_verify.verification.checks.gradients import gradcheck_inputs
from legendre_verify.verification.samples import Sample
from legendre_verify.verification.subject import Capability, Subject


@register(needs=[Capability.TRUTH, Capability.DOUBLE_BACKWARD], asks=("vhp",))
def second_order(subject: Subject, sample: Sample) -> Failures:
    """Double backward with random grad_outputs and directions equals the oracle's second
    derivatives (catches backwards built from non-differentiable or wrong operations, second
    derivatives silently None)."""
    outs, leaves = call(subject, sample)
    chosen, cotangents = pairs(subject, outs, sample.grad_outputs)
    wanted = [x for x in leaves if x.requires_grad]
    if not wanted:
        return []
    if not chosen:
        return ["no differentiable output requires grad although inputs do"]
    firsts = torch.autograd.grad(chosen, wanted, cotangents, create_graph=True, allow_unused=True)
    us = [u for u, rg in zip(sample.tangents, sample.requires_grad, strict=True) if rg]
    terms = [
        (f * u).sum() for f, u in zip(firsts, us, strict=True) if f is not None and f.requires_grad
    ]
    seconds = (
        torch.autograd.grad(sum(terms), wanted, allow_unused=True)
        if terms
        else [None] * len(wanted)
    )
    got = iter(
        torch.zeros_like(x) if s is None else s for x, s in zip(wanted, seconds, strict=True)
    )
    results = [next(got) if x.requires_grad else None for x in leaves]
    failures: Failures = []
    for oracle in subject.truths:
        failures += judge(
            subject,
            oracle,
            "vhp",
            sample,
            results,
            [
                f"{oracle.name} second derivative ({input_label(subject, j)})"
                for j in range(len(results))
            ],
        )
    return failures


def _jvp(subject: Subject, sample: Sample) -> tuple[tuple, tuple]:
    """Forward-mode AD through ``torch.autograd.forward_ad`` dual tensors: it runs a classic
    Function's ``jvp`` (``torch.func.jvp`` needs ``setup_context``). A tangent torch leaves
    undefined is zero."""
    import torch.autograd.forward_ad as fw

    f = float_call(subject, sample)
    with fw.dual_level():
        duals = [
            fw.make_dual(x.detach(), u.detach().to(x.dtype))
            for x, u in zip(sample.inputs, sample.tangents, strict=True)
        ]
        values, tangents = [], []
        for o in f(*duals):
            primal, tangent = fw.unpack_dual(o)
            values.append(primal.detach())
            tangents.append(torch.zeros_like(primal) if tangent is None else tangent.detach())
    return tuple(values), tuple(tangents)


@register(needs=[Capability.TRUTH, Capability.FORWARD_AD], asks=("outputs", "jvp"))
def forward_ad(subject: Subject, sample: Sample) -> Failures:
    """Forward-mode AD (the Function's jvp) equals the oracle's directional derivative
    (catches a wrong or missing jvp, which reverse-mode tests never run)."""
    values, tangents = _jvp(subject, sample)
    diff_outputs = subject.spec.differentiable_outputs
    failures: Failures = []
    for oracle in subject.truths:
        outs: list[torch.Tensor | None] = [None] * subject.spec.n_outputs
        for k, v in zip(diff_outputs, values, strict=True):
            outs[k] = v
        failures += judge(
            subject,
            oracle,
            "outputs",
            sample,
            outs,
            [f"{oracle.name} jvp value (output {k})" for k in range(len(outs))],
            [m if k in diff_outputs else "ignore" for k, m in enumerate(output_modes(subject))],
        )
        failures += judge(
            subject,
            oracle,
            "jvp",
            sample,
            tangents,
            [f"{oracle.name} jvp tangent (output {k})" for k in diff_outputs],
        )
    return failures


@register(needs=[Capability.FORWARD_AD], asks=("vjp", "jvp"))
def transposition(subject: Subject, sample: Sample) -> Failures:
    """Forward and reverse mode agree by the transposition identity <u, J^T v> = <J u, v>, with
    no oracle needed (catches a jvp or a backward that is wrong while the other is right)."""
    _, ju = _jvp(subject, sample)
    _, jtv = vjp(subject, sample)
    grads = sample.grad_outputs
    left = sum(
        float((u.double() * g.double()).sum())
        for u, g in zip(sample.tangents, jtv, strict=True)
        if g is not None
    )
    right = sum(
        float((t.double() * v.double()).sum())
        for t, v in zip(ju, grads, strict=True)
        if v is not None
    )
    u_sizes = [float(u.double().abs().sum()) for u in sample.tangents]
    v_sizes = [None if v is None else float(v.double().abs().sum()) for v in grads]

    def difference(vjp_allowed: list[float], jvp_allowed: list[float]) -> Failures:
        allowed = sum(size * tol for size, tol in zip(u_sizes, vjp_allowed, strict=True)) + sum(
            size * tol for size, tol in zip(v_sizes, jvp_allowed, strict=True) if size is not None
        )
        return compare(
            "<u, J^T v> (backward) vs <J u, v> (forward-mode AD)",
            torch.tensor(left),
            torch.tensor(right),
            allowed,
        )

    questions = [("vjp", sample), ("jvp", sample)]
    return within(subject, subject.yardstick, questions, difference)


@register(small=True, cost=5, needs=[Capability.DOUBLE_BACKWARD, Capability.FINITE_DIFFERENCES])
def gradgradcheck(subject: Subject, sample: Sample) -> Failures:
    """torch.autograd.gradgradcheck in float64: double backward against finite differences
    (samples where the truth's own second derivatives disagree with its finite
    differences, at a kink or a tie within their reach, are set aside)."""
    finite_differences_apply(subject, sample, order=2)
    caps = subject.capabilities
    s64 = sample.mapped(lambda t: t.detach().double())
    try:
        torch.autograd.gradgradcheck(
            float_call(subject, s64, shield=True),
            gradcheck_inputs(s64),
            check_fwd_over_rev=Capability.FORWARD_AD in caps,
            check_batched_grad=Capability.VMAP in caps,
        )
    except GradcheckError as error:
        return [f"gradgradcheck failed: {str(error).strip()[:2000]}"]
    return []
