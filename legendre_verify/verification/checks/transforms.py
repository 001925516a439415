"""Checks under torch's function transforms: vmap, torch.compile."""

from __future__ import annotations

from collections.abc import Callable

import torch

from legendre_verify.verification.checks.base import (
    DtypeDraw,
    Failures,
    NotApplicable,
    compare,
    float_call,
    input_label,
    judge,
    register,
    vjp,
    within,
)
from legendre_verify.verification.samples import Sample
from legendre_verify.verification.subject import Capability, Subject


@register(needs=[Capability.VMAP], small=True)
def vmap(subject: Subject, sample: Sample) -> Failures:
    """torch.func.vmap of the Function over a batch of two calls, and (one input) of its
    gradient, agree with the unbatched calls (catches wrong vmap rules and batch-dimension
    mix-ups)."""
    f = float_call(subject, sample)
    inputs = [x.detach() for x in sample.inputs]
    others = [x.flip(list(range(x.dim()))) for x in inputs]
    batched = torch.func.vmap(f)(
        *(torch.stack([x, y]) for x, y in zip(inputs, others, strict=True))
    )
    directs = [[o.detach().cpu().double() for o in f(*xs)] for xs in (inputs, others)]

    def differences(*allowed: list[float]) -> Failures:
        failures: Failures = []
        for b, direct in enumerate(directs):
            for k, (got, want) in enumerate(zip(batched, direct, strict=True)):
                index = subject.spec.differentiable_outputs[k]
                failures += compare(
                    f"vmap output {index}, batch element {b}, vs an unbatched call",
                    got[b],
                    want,
                    allowed[b][index],
                )
        return failures

    questions = [("outputs", sample.with_inputs(xs)) for xs in (inputs, others)]
    failures = within(subject, subject.yardstick, questions, differences)
    if Capability.VMAP_OF_GRAD in subject.capabilities and sample.shape:
        per_element = torch.func.vmap(torch.func.grad(lambda t: subject.fn(t.reshape(())).sum()))
        got = per_element(inputs[0].reshape(-1)).reshape(sample.shape)
        for oracle in subject.truths:
            failures += judge(
                subject,
                oracle,
                "vjp",
                _unit_cotangent(sample),
                [got],
                [f"vmap(grad) vs {oracle.name} derivative"],
            )
    return failures


def _unit_cotangent(sample: Sample) -> Sample:
    from dataclasses import replace

    return replace(sample, grad_outputs=(torch.ones_like(sample.inputs[0]),))


def _compile_check(backend: str) -> Callable[[Subject, Sample], Failures]:
    def run(subject: Subject, sample: Sample) -> Failures:
        if all(x.numel() == 0 for x in sample.inputs):  # a compile per sample: spend it well
            raise NotApplicable("every sample was empty")
        eager_outs, eager_grads = vjp(subject, sample)
        # Past dynamo's recompile limit (8 by default: dtypes x shapes exceed it) torch.compile
        # silently runs eager, and the check would compare eager with eager.
        import torch._dynamo  # imported here: it costs ~0.8 s, for this check alone

        limit = next(
            n for n in ("recompile_limit", "cache_size_limit") if hasattr(torch._dynamo.config, n)
        )
        with torch._dynamo.config.patch(**{limit: 1024}):
            outs, grads = vjp(subject, sample, fn=subject.compiled(backend))
        eager_outs = [e.detach().cpu() for e in eager_outs]
        eager_grads = [None if e is None else e.cpu().double() for e in eager_grads]

        def differences(out_allowed: list[float], grad_allowed: list[float]) -> Failures:
            failures: Failures = []
            for k, (o, e) in enumerate(zip(outs, eager_outs, strict=True)):
                failures += compare(
                    f"torch.compile({backend}) output {k} vs eager", o, e, out_allowed[k]
                )
            for i, (g, e) in enumerate(zip(grads, eager_grads, strict=True)):
                if e is not None:
                    failures += compare(
                        f"torch.compile({backend}) gradient of {input_label(subject, i)} vs eager",
                        g,
                        e,
                        grad_allowed[i],
                    )
            return failures

        questions = [("outputs", sample), ("vjp", sample)]
        return within(subject, subject.yardstick, questions, differences)

    return run


compile_aot_eager = _compile_check("aot_eager")
compile_aot_eager.__doc__ = """torch.compile (aot_eager backend: dynamo + AOTAutograd, where
    custom-Function compile bugs live) gives eager's values and gradients."""
#: float64 samples, an eighth of the draws (2 by default, 12 at Hypothesis's default profile,
#: 25 thorough): aot_eager runs eager's kernels, so a compile bug is in the graph, not in a
#: dtype's arithmetic, and float64's tolerance is the one that sees an error of 1e-6; each new
#: dtype or shape class is a recompile (P3 0.3 s, an attention Function 1 s; a fresh process's
#: first pays for dynamo too), and with float64 alone two samples are one compile and one
#: dynamic-shape recompile. The samples are spread over the group's draws (empty ones do not
#: count). Every dtype's compiled kernels: ``inductor``.
register(name="compile", dtypes=DtypeDraw.FLOAT64, cost=8)(compile_aot_eager)

compile_inductor = _compile_check("inductor")
compile_inductor.__doc__ = """torch.compile with inductor (generated kernels) gives eager's
    values and gradients; opt-in, as a cold compile costs ~20 s."""
register(name="inductor", dtypes=DtypeDraw.ALL, cost=10, default=False)(compile_inductor)
