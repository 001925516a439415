"""Small named checks for an elementwise autograd Function.

Each check is a function ``check(subject, sample) -> list[str]`` that runs the Function on one
:class:`~legendre_verify.samples.Sample` and returns its failures (empty: passed). A check knows
nothing of Hypothesis: :func:`legendre_verify.verify` draws the samples and shrinks failures,
and a user's own ``@given`` test can call any check directly (see :func:`assert_passes`).
Each check's docstring names the bug class it catches. Tolerances come from
:func:`legendre_verify.tolerances.verify_tolerance` alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.autograd.gradcheck import GradcheckError

from legendre_verify.oracles import Oracle
from legendre_verify.samples import Sample
from legendre_verify.verification.tolerances import verify_tolerance

__all__ = [
    "CHECKS",
    "Check",
    "Subject",
    "assert_passes",
    "run_check",
]


@dataclass
class Subject:
    """The Function under test and what "true" means for it."""

    fn: Callable[..., torch.Tensor]
    oracles: Sequence[Oracle]
    arity: int
    domain: tuple[float, float] = (-1.0, 1.0)
    name: str = "fn"
    forward_ad: bool = True
    vmap: bool = True
    _compiled: dict[str, Callable[..., torch.Tensor]] = field(default_factory=dict, repr=False)

    def compiled(self, backend: str) -> Callable[..., torch.Tensor]:
        if backend not in self._compiled:
            self._compiled[backend] = torch.compile(self.fn, backend=backend)
        return self._compiled[backend]


@dataclass(frozen=True)
class Check:
    """A named check and the samples it wants drawn (see ``verify`` for their meaning)."""

    name: str
    run: Callable[[Subject, Sample], list[str]]
    dtypes: str = "float64"  # "float64" or "all"
    layouts: bool = False  # draw non-contiguous inputs and grad_outputs
    small: bool = False  # small shapes without empty dims (gradcheck, vmap)
    edges_only: bool = False  # one sample of every edge value per dtype
    requires_grad: bool = False  # draw which inputs require grad
    cost: float = 1.0  # examples are max_examples / cost
    needs: str | None = None  # "forward_ad", "vmap", "cuda", or None
    default: bool = True  # run unless asked not to

    @property
    def doc(self) -> str:
        """The docstring on one line: what the check asserts and which bugs it catches."""
        return " ".join((self.run.__doc__ or "").split())


CHECKS: dict[str, Check] = {}


def _register(**options: Any) -> Callable[[Callable[[Subject, Sample], list[str]]], Callable]:
    def decorate(func: Callable[[Subject, Sample], list[str]]) -> Callable:
        CHECKS[func.__name__] = Check(func.__name__, func, **options)
        return func

    return decorate


def run_check(check: Check | str, subject: Subject, sample: Sample) -> list[str]:
    """Run one check; an exception from the Function is a failure, not a crash of the run."""
    check = CHECKS[check] if isinstance(check, str) else check
    try:
        return check.run(subject, sample)
    except Exception as error:  # the Function under test crashed: that is the finding
        return [f"raised {type(error).__name__}: {error}"]


def assert_passes(
    check: Check | str, fn: Callable[..., torch.Tensor], sample: Sample, **oracle: Any
) -> None:
    """Run one check on one sample from a user's own test; raise AssertionError on failure.

    ``oracle`` is ``symbolic=...`` and/or ``reference=...`` as for ``verify``.
    """
    from legendre_verify.driver import build_subject

    subject = build_subject(fn, arity=len(sample.inputs), **oracle)
    failures = run_check(check, subject, sample)
    if failures:
        raise AssertionError("\n".join(failures) + "\n" + sample.describe())


# ---------------------------------------------------------------------------------------------
# helpers


def _points(sample: Sample) -> list[np.ndarray]:
    return [x.detach().cpu().double().numpy() for x in sample.inputs]


def _truth(oracle: Oracle, orders: Sequence[int], sample: Sample) -> torch.Tensor:
    return torch.from_numpy(
        np.asarray(oracle.derivative(orders, _points(sample)), dtype=np.float64)
    )


def _unit(i: int, arity: int, base: Sequence[int] | None = None) -> tuple[int, ...]:
    base = base or (0,) * arity
    return tuple(o + (j == i) for j, o in enumerate(base))


def _max_abs(t: torch.Tensor) -> float:
    return float(t.detach().abs().max()) if t.numel() else 0.0


def _compare(
    what: str, got: torch.Tensor | None, expected: torch.Tensor, allowed: float
) -> list[str]:
    """|got - expected| <= allowed wherever the expected value is representable in got's dtype."""
    if got is None:
        return [f"{what}: got None, expected a tensor"]
    if tuple(got.shape) != tuple(expected.shape):
        return [f"{what}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}"]
    values = got.detach().cpu().double()
    limit = float(torch.finfo(got.dtype).max)
    representable = expected.abs() <= limit
    bad = representable & ~((values - expected).abs() <= allowed)  # NaN counts as bad
    if not bool(bad.any()):
        return []
    index = tuple(int(i) for i in bad.nonzero()[0])
    g, e = values[index].item(), expected[index].item()
    return [
        f"{what} at index {index}: expected {e!r}, got {g!r} "
        f"(|difference| {abs(g - e):.3g} > allowed {allowed:.3g}; {int(bad.sum())} of "
        f"{bad.numel()} elements off)"
    ]


def _forward(subject: Subject, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
    out = subject.fn(*inputs)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the Function returned {type(out).__name__}, not a tensor")
    return out


def _vjp(
    subject: Subject,
    sample: Sample,
    grad_output: torch.Tensor | None = None,
    fn: Callable | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    """Output and gradients of the inputs that require grad (None for the others)."""
    inputs = sample.fresh_inputs()
    out = (fn or subject.fn)(*inputs)
    wanted = [x for x in inputs if x.requires_grad]
    grads: list[torch.Tensor | None] = [None] * len(inputs)
    if wanted and out.requires_grad:
        g = sample.grad_output if grad_output is None else grad_output
        found = torch.autograd.grad(out, wanted, g, allow_unused=True)
        it = iter(found)
        grads = [next(it) if x.requires_grad else None for x in inputs]
        grads = [
            torch.zeros_like(x) if x.requires_grad and gr is None else gr
            for x, gr in zip(inputs, grads, strict=True)
        ]
    elif wanted:
        grads = [torch.zeros_like(x) if x.requires_grad else None for x in inputs]
    return out, grads


def _value_tolerance(subject: Subject, oracle: Oracle, dtype: torch.dtype) -> float:
    return verify_tolerance(dtype, oracle.scale((0,) * subject.arity, subject.domain))


def _grad_tolerance(
    subject: Subject, oracle: Oracle, dtype: torch.dtype, i: int, g_max: float
) -> float:
    return verify_tolerance(dtype, g_max * oracle.scale(_unit(i, subject.arity), subject.domain))


def _check_values_and_grads(subject: Subject, sample: Sample, label: str = "") -> list[str]:
    out, grads = _vjp(subject, sample)
    g = sample.grad_output.detach().cpu().double()
    failures = []
    for oracle in subject.oracles:
        tag = f"{label}{oracle.name} "
        failures += _compare(
            f"{tag}value",
            out,
            _truth(oracle, (0,) * subject.arity, sample),
            _value_tolerance(subject, oracle, sample.dtype),
        )
        for i, grad in enumerate(grads):
            if sample.requires_grad[i]:
                expected = g * _truth(oracle, _unit(i, subject.arity), sample)
                allowed = _grad_tolerance(subject, oracle, sample.dtype, i, _max_abs(g))
                failures += _compare(f"{tag}gradient of input {i}", grad, expected, allowed)
    return failures


def _same_run(subject: Subject, a: Sample, b: Sample, what: str) -> list[str]:
    """Outputs and gradients of two samples holding the same values agree (to rounding)."""
    out_a, grads_a = _vjp(subject, a)
    out_b, grads_b = _vjp(subject, b)
    oracle = subject.oracles[0]
    failures = _compare(
        f"{what}: value",
        out_a,
        out_b.detach().cpu().double().reshape(out_a.shape),
        _value_tolerance(subject, oracle, a.dtype),
    )
    g_max = _max_abs(a.grad_output)
    for i, (ga, gb) in enumerate(zip(grads_a, grads_b, strict=True)):
        if ga is not None and gb is not None:
            failures += _compare(
                f"{what}: gradient of input {i}",
                ga,
                gb.cpu().double().reshape(ga.shape),
                _grad_tolerance(subject, oracle, a.dtype, i, g_max),
            )
    return failures


def _replace(sample: Sample, **changes: Any) -> Sample:
    return Sample(**{**sample.__dict__, **changes})


# ---------------------------------------------------------------------------------------------
# the checks, in the order verify() runs them


@_register(dtypes="all", layouts=True)
def meta(subject: Subject, sample: Sample) -> list[str]:
    """Output dtype, device and shape equal the input's (catches silent up/down-casts, dropped
    size-1 dims, outputs left on the wrong device)."""
    out = _forward(subject, sample.fresh_inputs())
    failures = []
    for what, got, want in (
        ("dtype", out.dtype, sample.dtype),
        ("device", out.device, sample.device),
        ("shape", tuple(out.shape), sample.shape),
    ):
        if got != want:
            failures.append(f"output {what} is {got}, expected {want} (the input's)")
    return failures


@_register()
def values(subject: Subject, sample: Sample) -> list[str]:
    """Forward values equal the oracle's in float64 (catches wrong formulas, forwards off by a
    constant that finite differences cannot see, NaN at edge values)."""
    out = _forward(subject, [x.detach() for x in sample.inputs])
    failures = []
    for oracle in subject.oracles:
        failures += _compare(
            f"{oracle.name} value",
            out,
            _truth(oracle, (0,) * subject.arity, sample),
            _value_tolerance(subject, oracle, sample.dtype),
        )
    return failures


@_register()
def gradients(subject: Subject, sample: Sample) -> list[str]:
    """Backward with a random grad_output equals grad_output * the oracle's partial
    derivatives (catches derivatives off by any factor above rounding, e.g. 1e-4 that gradcheck's
    rtol lets through, and NaN at the domain's ends)."""
    return _check_values_and_grads(subject, sample)


@_register()
def second_order(subject: Subject, sample: Sample) -> list[str]:
    """Double backward with random grad_outputs equals the oracle's second derivatives (catches
    backwards built from non-differentiable or wrong operations)."""
    inputs = sample.fresh_inputs()
    out = _forward(subject, inputs)
    if not out.requires_grad:
        return ["output does not require grad although its inputs do"]
    firsts = torch.autograd.grad(
        out, inputs, sample.grad_output, create_graph=True, allow_unused=True
    )
    total = sum(
        (f * u).sum()
        for f, u in zip(firsts, sample.second, strict=True)
        if f is not None and f.requires_grad
    )
    if isinstance(total, torch.Tensor):
        seconds = torch.autograd.grad(total, inputs, allow_unused=True)
    else:  # every first derivative is a constant: all second derivatives are zero
        seconds = (None,) * subject.arity
    seconds = [
        torch.zeros_like(x) if s is None else s for x, s in zip(inputs, seconds, strict=True)
    ]
    g = sample.grad_output.detach().cpu().double()
    us = [u.detach().cpu().double() for u in sample.second]
    failures = []
    for oracle in subject.oracles:
        for j, got in enumerate(seconds):
            expected = torch.zeros(sample.shape, dtype=torch.float64)
            scale = 0.0
            for i, u in enumerate(us):
                orders = _unit(i, subject.arity, _unit(j, subject.arity))
                expected += g * u * _truth(oracle, orders, sample)
                scale += _max_abs(g) * _max_abs(u) * oracle.scale(orders, subject.domain)
            failures += _compare(
                f"{oracle.name} second derivative (input {j})",
                got,
                expected,
                verify_tolerance(sample.dtype, scale),
            )
    return failures


@_register(needs="forward_ad")
def forward_ad(subject: Subject, sample: Sample) -> list[str]:
    """Forward-mode AD (the Function's jvp) equals the oracle's directional derivative
    (catches a wrong or missing jvp, which reverse-mode tests never run)."""
    primals = tuple(x.detach() for x in sample.inputs)
    tangents = tuple(u.detach() for u in sample.second)
    value, tangent = torch.func.jvp(subject.fn, primals, tangents)
    failures = []
    for oracle in subject.oracles:
        expected = torch.zeros(sample.shape, dtype=torch.float64)
        scale = 0.0
        for i, u in enumerate(tangents):
            expected += u.cpu().double() * _truth(oracle, _unit(i, subject.arity), sample)
            scale += _max_abs(u) * oracle.scale(_unit(i, subject.arity), subject.domain)
        failures += _compare(
            f"{oracle.name} jvp value",
            value,
            _truth(oracle, (0,) * subject.arity, sample),
            _value_tolerance(subject, oracle, sample.dtype),
        )
        failures += _compare(
            f"{oracle.name} jvp tangent", tangent, expected, verify_tolerance(sample.dtype, scale)
        )
    return failures


def _gradcheck_inputs(sample: Sample) -> tuple[torch.Tensor, ...]:
    return tuple(
        x.detach().double().requires_grad_(rg)
        for x, rg in zip(sample.inputs, sample.requires_grad, strict=True)
    )


@_register(small=True, cost=5)
def gradcheck(subject: Subject, sample: Sample) -> list[str]:
    """torch.autograd.gradcheck in float64: backward (and jvp, and batched grads where the
    Function supports them) against finite differences."""
    try:
        torch.autograd.gradcheck(
            subject.fn,
            _gradcheck_inputs(sample),
            check_forward_ad=subject.forward_ad,
            check_batched_grad=subject.vmap,
            check_batched_forward_grad=subject.vmap and subject.forward_ad,
            check_undefined_grad=True,
        )
    except GradcheckError as error:
        return [f"gradcheck failed: {str(error).strip()[:2000]}"]
    return []


@_register(small=True, cost=5)
def gradgradcheck(subject: Subject, sample: Sample) -> list[str]:
    """torch.autograd.gradgradcheck in float64: double backward against finite differences."""
    try:
        torch.autograd.gradgradcheck(
            subject.fn,
            _gradcheck_inputs(sample),
            check_fwd_over_rev=subject.forward_ad,
            check_batched_grad=subject.vmap,
        )
    except GradcheckError as error:
        return [f"gradgradcheck failed: {str(error).strip()[:2000]}"]
    return []


@_register(dtypes="all")
def dtypes(subject: Subject, sample: Sample) -> list[str]:
    """Values and gradients in float16, bfloat16, float32 and float64 against the float64 truth
    within the dtype's tolerance (catches low-precision paths that overflow, lose all digits,
    or compute in the wrong dtype)."""
    return _check_values_and_grads(subject, sample, label=f"{sample.dtype}: ")


@_register(dtypes="all", layouts=True)
def zero_grad_output(subject: Subject, sample: Sample) -> list[str]:
    """A zero grad_output gives exactly zero gradients (catches backwards that add a term not
    multiplied by grad_output)."""
    _, grads = _vjp(subject, sample, torch.zeros_like(sample.grad_output))
    return [
        f"gradient of input {i} is not zero for a zero grad_output: max |value| {_max_abs(g)!r}"
        for i, g in enumerate(grads)
        if g is not None and not bool((g == 0).all())
    ]


@_register()
def linearity(subject: Subject, sample: Sample) -> list[str]:
    """Backward is linear in grad_output: vjp(a g1 + b g2) = a vjp(g1) + b vjp(g2) (catches
    backwards that square, clamp or take the sign of grad_output; gradcheck only feeds 0/1)."""
    a, b = 0.5, -2.0  # exact in every dtype
    g1, g2 = sample.grad_output, sample.second[0]
    _, mixed = _vjp(subject, sample, a * g1 + b * g2)
    _, first = _vjp(subject, sample, g1)
    _, second = _vjp(subject, sample, g2)
    oracle = subject.oracles[0]
    g_max = abs(a) * _max_abs(g1) + abs(b) * _max_abs(g2)
    failures = []
    for i, (m, f, s) in enumerate(zip(mixed, first, second, strict=True)):
        if m is not None:
            expected = (a * f + b * s).detach().cpu().double()
            failures += _compare(
                f"vjp(a*g1 + b*g2) of input {i} vs a*vjp(g1) + b*vjp(g2)",
                m,
                expected,
                _grad_tolerance(subject, oracle, sample.dtype, i, g_max),
            )
    return failures


@_register(dtypes="all")
def repeatable(subject: Subject, sample: Sample) -> list[str]:
    """Forward twice, and backward twice through one graph, give identical results (catches
    state kept between calls, saved tensors changed by the first backward)."""
    inputs = sample.fresh_inputs()
    out = _forward(subject, inputs)
    again = _forward(subject, [x.detach() for x in sample.inputs])
    failures = []
    if not torch.equal(out.detach(), again) and not _both_nan_equal(out.detach(), again):
        failures.append("two forward calls on the same input differ")
    wanted = [x for x in inputs if x.requires_grad]
    if wanted and out.requires_grad:
        first = torch.autograd.grad(
            out, wanted, sample.grad_output, retain_graph=True, allow_unused=True
        )
        second = torch.autograd.grad(out, wanted, sample.grad_output, allow_unused=True)
        for i, (f, s) in enumerate(zip(first, second, strict=True)):
            if (f is None) != (s is None) or (f is not None and not _both_nan_equal(f, s)):
                failures.append(f"backward run twice through one graph differs (input {i})")
    return failures


def _both_nan_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    return (
        a.shape == b.shape
        and bool(torch.equal(a.isnan(), b.isnan()))
        and bool(torch.equal(a.nan_to_num(0.0), b.nan_to_num(0.0)))
    )


@_register(dtypes="all", layouts=True)
def no_mutation(subject: Subject, sample: Sample) -> list[str]:
    """Forward, backward (twice) and double backward leave the inputs and grad_output unchanged
    (catches in-place updates of inputs, saved tensors or grad_output)."""
    originals = [x.detach().clone() for x in sample.inputs]
    g_original = sample.grad_output.clone()
    inputs = sample.fresh_inputs()
    out = _forward(subject, inputs)
    wanted = [x for x in inputs if x.requires_grad]
    if wanted and out.requires_grad:
        firsts = torch.autograd.grad(
            out, wanted, sample.grad_output, create_graph=True, allow_unused=True
        )
        torch.autograd.grad(out, wanted, sample.grad_output, retain_graph=True, allow_unused=True)
        total = sum(f.sum() for f in firsts if f is not None and f.requires_grad)
        if isinstance(total, torch.Tensor):
            torch.autograd.grad(total, wanted, allow_unused=True)
    failures = [
        f"input {i} was modified in place"
        for i, (x, o) in enumerate(zip(sample.inputs, originals, strict=True))
        if not _both_nan_equal(x.detach(), o)
    ]
    if not _both_nan_equal(sample.grad_output, g_original):
        failures.append("grad_output was modified in place by backward")
    return failures


@_register(dtypes="all", layouts=True)
def layouts(subject: Subject, sample: Sample) -> list[str]:
    """Non-contiguous inputs and grad_outputs (transposed, strided slices, expanded stride-0)
    give what their contiguous copies give (catches kernels that assume contiguous memory)."""
    contiguous = _replace(
        sample,
        inputs=tuple(x.detach().contiguous() for x in sample.inputs),
        grad_output=sample.grad_output.contiguous(),
    )
    return _same_run(subject, sample, contiguous, "non-contiguous run vs contiguous copy")


@_register(dtypes="all")
def shapes(subject: Subject, sample: Sample) -> list[str]:
    """0-d, empty, size-1 and n-D shapes give what the same values as a flat 1-D tensor give
    (catches squeeze/flatten bugs, crashes on 0-d or empty tensors)."""
    flat = _replace(
        sample,
        inputs=tuple(x.detach().reshape(-1) for x in sample.inputs),
        grad_output=sample.grad_output.reshape(-1),
        second=tuple(u.reshape(-1) for u in sample.second),
    )
    return _same_run(subject, sample, flat, f"shape {sample.shape} vs flat copy")


@_register(dtypes="all", edges_only=True)
def edges(subject: Subject, sample: Sample) -> list[str]:
    """Values and gradients at the domain's ends exactly, at 0, and a few ulps inside the ends,
    in every dtype (catches NaN or inf at exactly +-1 or 0, errors only near the ends)."""
    return _check_values_and_grads(subject, sample, label=f"{sample.dtype} edge values: ")


@_register(requires_grad=True, dtypes="all")
def requires_grad_subsets(subject: Subject, sample: Sample) -> list[str]:
    """Every combination of which inputs require grad (none included) runs, and gives the
    oracle's gradients for those that do (catches backwards that crash on a missing grad)."""
    return _check_values_and_grads(subject, sample, label=f"requires_grad={sample.requires_grad}: ")


@_register(needs="vmap", small=True)
def vmap(subject: Subject, sample: Sample) -> list[str]:
    """torch.func.vmap of the Function, and of its gradient, agree with the unbatched call
    (catches wrong vmap rules and batch-dimension mix-ups)."""
    inputs = [x.detach() for x in sample.inputs]
    batched = torch.func.vmap(subject.fn)(*inputs)
    direct = subject.fn(*inputs)
    failures = _compare(
        "vmap value",
        batched,
        direct.cpu().double(),
        _value_tolerance(subject, subject.oracles[0], sample.dtype),
    )
    if subject.arity == 1 and sample.shape:
        per_element = torch.func.vmap(torch.func.grad(lambda t: subject.fn(t.reshape(())).sum()))
        got = per_element(inputs[0].reshape(-1)).reshape(sample.shape)
        for oracle in subject.oracles:
            failures += _compare(
                f"vmap(grad) vs {oracle.name} derivative",
                got,
                _truth(oracle, (1,), sample),
                _grad_tolerance(subject, oracle, sample.dtype, 0, 1.0),
            )
    return failures


@_register(dtypes="all", needs="cuda")
def cuda(subject: Subject, sample: Sample) -> list[str]:
    """The same sample on CUDA gives what it gives on the CPU (catches device-specific kernels
    that disagree)."""
    on_gpu = _replace(
        sample,
        inputs=tuple(x.detach().cuda() for x in sample.inputs),
        grad_output=sample.grad_output.cuda(),
        second=tuple(u.cuda() for u in sample.second),
    )
    return _same_run(subject, on_gpu, sample, "CUDA run vs CPU run")


def _compile_check(backend: str) -> Callable[[Subject, Sample], list[str]]:
    def run(subject: Subject, sample: Sample) -> list[str]:
        eager_out, eager_grads = _vjp(subject, sample)
        # Past dynamo's recompile limit (8 by default: dtypes x shapes exceed it) torch.compile
        # silently runs eager, and the check would compare eager with eager.
        with torch._dynamo.config.patch(**{_RECOMPILE_LIMIT: 1024}):
            out, grads = _vjp(subject, sample, fn=subject.compiled(backend))
        oracle = subject.oracles[0]
        failures = _compare(
            f"torch.compile({backend}) value vs eager",
            out,
            eager_out.detach().cpu().double(),
            _value_tolerance(subject, oracle, sample.dtype),
        )
        for i, (g, e) in enumerate(zip(grads, eager_grads, strict=True)):
            if e is not None:
                failures += _compare(
                    f"torch.compile({backend}) gradient of input {i} vs eager",
                    g,
                    e.cpu().double(),
                    _grad_tolerance(subject, oracle, sample.dtype, i, _max_abs(sample.grad_output)),
                )
        return failures

    return run


_RECOMPILE_LIMIT = next(
    n for n in ("recompile_limit", "cache_size_limit") if hasattr(torch._dynamo.config, n)
)
compile_aot_eager = _compile_check("aot_eager")
compile_aot_eager.__name__ = "compile"
compile_aot_eager.__doc__ = """torch.compile (aot_eager backend: dynamo + AOTAutograd, where
    custom-Function compile bugs live) gives eager's values and gradients."""
CHECKS["compile"] = Check("compile", compile_aot_eager, dtypes="all", cost=2)

compile_inductor = _compile_check("inductor")
compile_inductor.__doc__ = """torch.compile with inductor (generated kernels) gives eager's
    values and gradients; opt-in, as a cold compile costs ~20 s."""
CHECKS["inductor"] = Check("inductor", compile_inductor, dtypes="all", cost=10, default=False)


# all 2^arity combinations, used to draw requires_grad
def requires_grad_combinations(arity: int) -> list[tuple[bool, ...]]:
    return list(itertools.product((True, False), repeat=arity))
