"""What a check is, the registry of checks, and the helpers they share: calling the Function,
its vjp, comparing with an oracle under the one tolerance formula."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from legendre_verify.verification.oracles import (
    MissingDerivative,
    Oracle,
    OracleError,
    as_float64,
    floats_of,
    unit,
    with_floats,
)
from legendre_verify.verification.samples import Sample, clone_like
from legendre_verify.verification.subject import Capability, Subject
from legendre_verify.verification.tolerances import perturbation_scale, verify_tolerance

__all__ = [
    "CHECKS",
    "Check",
    "DtypeDraw",
    "Failures",
    "register",
    "run_check",
]

#: a check's result: the failures it found (empty: passed)
Failures = list[str]


class DtypeDraw(enum.Enum):
    """Which dtypes a check's samples are drawn in."""

    FLOAT64 = "float64"
    ALL = "all"


@dataclass(frozen=True)
class Check:
    """A named check and what its samples need (typed: a typo is an error, not another run).

    ``layouts``: non-contiguous tensors drawn; ``small``: sizes 1-3 and values kept inside the
    domain by a margin (finite differences); ``edges_only``: calls made of the domain's edge
    values; ``cost``: examples are
    max_examples / cost; ``needs``: capabilities without which the check is skipped.
    """

    name: str
    run: Callable[[Subject, Sample], Failures]
    dtypes: DtypeDraw = DtypeDraw.FLOAT64
    layouts: bool = False
    small: bool = False
    edges_only: bool = False
    cost: float = 1.0
    needs: frozenset[Capability] = frozenset()
    default: bool = True

    @property
    def doc(self) -> str:
        """The docstring on one line: what the check asserts and which bugs it catches."""
        return " ".join((self.run.__doc__ or "").split())


CHECKS: dict[str, Check] = {}


def register(
    *, needs: Sequence[Capability] = (), name: str | None = None, **options: Any
) -> Callable[[Callable[[Subject, Sample], Failures]], Callable[[Subject, Sample], Failures]]:
    """Register a check under its function's name (the order of registration is the order
    ``verify`` runs them)."""

    def decorate(func: Callable[[Subject, Sample], Failures]) -> Callable:
        key = name or func.__name__
        CHECKS[key] = Check(key, func, needs=frozenset(needs), **options)
        return func

    return decorate


def run_check(check: Check | str, subject: Subject, sample: Sample) -> Failures:
    """Run one check; an exception from the Function is a failure, not a crash of the run. An
    oracle's own failure is raised (:class:`OracleError`), never blamed on the Function."""
    check = CHECKS[check] if isinstance(check, str) else check
    try:
        return check.run(subject, sample)
    except OracleError:
        raise
    except Exception as error:  # the Function under test crashed: that is the finding
        text = str(error).strip()
        return [f"raised {type(error).__name__}: {text[:1500]}"]


# ---------------------------------------------------------------------------------------------
# calling the Function


def outputs_of(subject: Subject, out: Any) -> tuple[torch.Tensor, ...]:
    """The Function's outputs as a tuple; a TypeError (a finding) when they are not tensors."""
    outs = out if isinstance(out, tuple | list) else (out,)
    for k, o in enumerate(outs):
        if not isinstance(o, torch.Tensor):
            raise TypeError(f"the Function returned {type(o).__name__} as output {k}, not a tensor")
    if len(outs) != subject.spec.n_outputs:
        raise TypeError(
            f"the Function returned {len(outs)} output(s); on the example it returned "
            f"{subject.spec.n_outputs}"
        )
    return tuple(outs)


def call(
    subject: Subject, sample: Sample, fn: Callable[..., Any] | None = None, *, private: bool = True
) -> tuple[tuple[torch.Tensor, ...], list[torch.Tensor]]:
    """Run the Function on ``sample`` (fresh leaves, private copies unless ``private=False``;
    non-leaf clones for mark_dirty Functions): its outputs and the leaves."""
    args, leaves = sample.fresh_args(clone=subject.dirty, private=private)
    out = (fn or subject.fn)(*args, **sample.kwargs)
    return outputs_of(subject, out), leaves


def pairs(
    subject: Subject,
    outs: Sequence[torch.Tensor],
    grad_outputs: Sequence[torch.Tensor | None],
    *,
    private: bool = True,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The differentiable outputs that require grad, with their defined cotangents (private
    copies with the same strides unless ``private=False``: a backward that writes into its
    grad_output is the mutation check's finding, not every check's)."""
    chosen, cotangents = [], []
    for k, g in zip(subject.spec.differentiable_outputs, grad_outputs, strict=False):
        if g is not None and outs[k].requires_grad:
            chosen.append(outs[k])
            cotangents.append(clone_like(g) if private else g)
    return chosen, cotangents


def vjp(
    subject: Subject,
    sample: Sample,
    grad_outputs: Sequence[torch.Tensor | None] | None = None,
    fn: Callable[..., Any] | None = None,
) -> tuple[tuple[torch.Tensor, ...], list[torch.Tensor | None]]:
    """Outputs, and the gradients of the inputs that require grad (None for the others; zeros
    where autograd found no path)."""
    outs, leaves = call(subject, sample, fn)
    grads: list[torch.Tensor | None] = [None] * len(leaves)
    wanted = [x for x in leaves if x.requires_grad]
    chosen, cotangents = pairs(
        subject, outs, sample.grad_outputs if grad_outputs is None else grad_outputs
    )
    found: Sequence[torch.Tensor | None] = [None] * len(wanted)
    if wanted and chosen:
        found = torch.autograd.grad(chosen, wanted, cotangents, allow_unused=True)
    it = iter(found)
    for i, x in enumerate(leaves):
        if x.requires_grad:
            g = next(it)
            grads[i] = torch.zeros_like(x) if g is None else g
    return outs, grads


def float_call(
    subject: Subject,
    sample: Sample,
    fn: Callable[..., Any] | None = None,
    *,
    shield: bool = False,
) -> Callable[..., tuple[torch.Tensor, ...]]:
    """The call as a function of its differentiable tensors alone, returning the
    differentiable outputs (what gradcheck, torch.func.jvp and vmap take). ``shield``: the
    Function's backward receives copies of the cotangents (a backward that writes into its
    grad_output is the mutation check's finding, not gradcheck's)."""
    args = list(sample.args)
    diff = sample.diff

    def f(*xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        merged = list(args)
        for i, x in zip(diff, xs, strict=True):
            merged[i] = x.clone() if subject.dirty else x
        outs = outputs_of(subject, (fn or subject.fn)(*merged, **sample.kwargs))
        chosen = tuple(outs[k] for k in subject.spec.differentiable_outputs)
        if shield:
            for o in chosen:
                if o.requires_grad:
                    o.register_hook(lambda g: None if g is None else g.clone())
        return chosen

    return f


# ---------------------------------------------------------------------------------------------
# tolerances and comparisons


def max_abs(t: torch.Tensor | None) -> float:
    if t is None or t.numel() == 0:
        return 0.0
    return float(t.detach().abs().max())


def tolerances(subject: Subject, oracle: Oracle, kind: str, sample: Sample) -> list[float]:
    """The allowed error of each tensor ``oracle.ask(kind)`` returns for ``sample``, in the
    sample's dtype: ``verify_tolerance(dtype, scale)`` with the scale from the domain's grid
    (elementwise oracles) and/or measured on the sample (:func:`perturbation_scale`: always
    for other oracles, and where the domain touches a singularity of the derivative, whose
    size near it no grid can bound)."""
    dtype = sample.dtype
    grid: list[float] | None = None
    if oracle.elementwise and subject.elementwise:
        a, dom = subject.arity, subject.domain
        g = max_abs(sample.grad_outputs[0]) if sample.grad_outputs else 0.0

        def times(factor: float, scale: float) -> float:
            return 0.0 if factor == 0 else factor * scale

        if kind == "outputs":
            grid = [oracle.scale((0,) * a, dom)]
        elif kind == "vjp":
            grid = [times(g, oracle.scale(unit(i, a), dom)) for i in range(a)]
        elif kind == "jvp":
            grid = [
                sum(
                    times(max_abs(u), oracle.scale(unit(i, a), dom))
                    for i, u in enumerate(sample.tangents)
                )
            ]
        else:
            grid = [
                sum(
                    times(g * max_abs(u), oracle.scale(unit(i, a, unit(j, a)), dom))
                    for i, u in enumerate(sample.tangents)
                )
                for j in range(a)
            ]
        if not getattr(oracle, "singular", None):
            return [verify_tolerance(dtype, s) for s in grid]
    s64 = as_float64(sample)
    scales = perturbation_scale(lambda fl: oracle.ask(kind, with_floats(s64, fl)), floats_of(s64))
    if grid is not None:
        scales = [max(a, b) for a, b in zip(grid, scales, strict=True)]
    return [verify_tolerance(dtype, s) for s in scales]


def compare(
    what: str,
    got: torch.Tensor | None,
    expected: torch.Tensor | None,
    allowed: float,
    slack: torch.Tensor | None = None,
) -> Failures:
    """|got - expected| <= allowed (+ slack, per element: half the interval of valid
    subgradients at a kink) wherever the expected value is representable in got's dtype (NaN
    where a number was expected counts as a difference)."""
    if expected is None:
        return []
    if got is None:
        return [f"{what}: got None, expected a tensor"]
    if tuple(got.shape) != tuple(expected.shape):
        return [f"{what}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}"]
    if not got.is_floating_point():
        return exact(what, got, expected)
    values = got.detach().cpu().double()
    expected = expected.detach().cpu().double()
    limit = float(torch.finfo(got.dtype).max)
    representable = expected.abs() <= limit
    both_nan = values.isnan() & expected.isnan()
    limit_t = torch.full_like(expected, allowed)
    if slack is not None:
        limit_t = limit_t + slack.detach().cpu().double().reshape(expected.shape)
    bad = representable & ~((values - expected).abs() <= limit_t) & ~both_nan
    if not bool(bad.any()):
        return []
    index = tuple(int(i) for i in bad.nonzero()[0])
    g, e = values[index].item(), expected[index].item()
    width = (limit_t[index].item() - allowed) if slack is not None else 0.0
    expected_text = f"{e - width!r} to {e + width!r} (a kink)" if width > 0 else repr(e)
    return [
        f"{what} at index {index}: expected {expected_text}, got {g!r} "
        f"(|difference| {abs(g - e):.3g} > allowed {limit_t[index].item():.3g}; "
        f"{int(bad.sum())} of {bad.numel()} elements off)"
    ]


def exact(what: str, got: torch.Tensor, expected: torch.Tensor) -> Failures:
    """Integer/bool outputs: equal values (and shape)."""
    if tuple(got.shape) != tuple(expected.shape):
        return [f"{what}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}"]
    g, e = got.detach().cpu(), expected.detach().cpu().to(got.dtype)
    if torch.equal(g, e):
        return []
    index = tuple(int(i) for i in (g != e).nonzero()[0])
    return [f"{what} at index {index}: expected {e[index].item()!r}, got {g[index].item()!r}"]


def compare_outputs(
    subject: Subject,
    sample: Sample,
    outs: Sequence[torch.Tensor],
    expected: Sequence[torch.Tensor],
    allowed: Sequence[float],
    label: str,
) -> Failures:
    """Each output against its expected value, as ``compare=`` says (floats within the
    tolerance, integers exactly, index outputs up to ties, or not at all)."""
    failures: Failures = []
    for k, (o, e) in enumerate(zip(outs, expected, strict=True)):
        mode = subject.compare.get(k, "close" if o.is_floating_point() else "exact")
        what = f"{label}output {k}" if subject.spec.n_outputs > 1 else f"{label}value"
        if not o.is_floating_point() and o.dtype != e.dtype:
            failures.append(f"{what}: dtype {o.dtype}, expected {e.dtype}")
        if mode == "ignore":
            continue
        if callable(mode):
            failures += list(mode(o, e, sample) or [])
        elif mode == "ties":
            failures += _up_to_ties(what, o, e, sample)
        elif mode == "exact":
            failures += exact(what, o, e)
        else:
            failures += compare(what, o, e, allowed[k])
    return failures


def _up_to_ties(what: str, got: torch.Tensor, expected: torch.Tensor, sample: Sample) -> Failures:
    """Indices into the first differentiable input's last dimension are equal where they
    select equal values (ties may be broken either way)."""
    if tuple(got.shape) != tuple(expected.shape):
        return [f"{what}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}"]
    x = sample.inputs[0].detach().cpu().double()
    try:
        g = x.gather(-1, got.detach().cpu().long())
        e = x.gather(-1, expected.detach().cpu().long())
    except (RuntimeError, IndexError) as error:
        return [f"{what}: indices do not index the input's last dimension ({error})"]
    return exact(f"{what} (the values the indices select)", g, e)


def input_label(subject: Subject, i: int) -> str:
    """How a report names differentiable input ``i``."""
    return f"input {i}" if subject.elementwise else f"argument {subject.spec.diff[i]}"


def check_against(
    subject: Subject, sample: Sample, oracles: Sequence[Oracle], label: str = ""
) -> Failures:
    """Outputs and gradients (for the sample's grad_outputs) against each oracle."""
    s64 = as_float64(sample)  # before the call: a Function that writes into it can't move the truth
    outs, grads = vjp(subject, sample)
    failures: Failures = []
    for oracle in oracles:
        tag = f"{label}{oracle.name} "
        failures += compare_outputs(
            subject,
            sample,
            outs,
            oracle.ask("outputs", s64),
            tolerances(subject, oracle, "outputs", sample),
            tag,
        )
        expected, slack = oracle.expect("vjp", s64)
        allowed = tolerances(subject, oracle, "vjp", sample)
        for i, (got, exp) in enumerate(zip(grads, expected, strict=True)):
            if sample.requires_grad[i]:
                failures += compare(
                    f"{tag}gradient of {input_label(subject, i)}", got, exp, allowed[i], slack[i]
                )
    return failures


def same_run(subject: Subject, a: Sample, b: Sample, what: str) -> Failures:
    """Outputs and gradients of two samples holding the same values agree (to rounding)."""
    outs_a, grads_a = vjp(subject, a)
    outs_b, grads_b = vjp(subject, b)
    yard = subject.yardstick
    failures = compare_outputs(
        subject,
        a,
        outs_a,
        [o.detach().cpu().reshape(oa.shape) for o, oa in zip(outs_b, outs_a, strict=True)],
        tolerances(subject, yard, "outputs", a),
        f"{what}: ",
    )
    allowed = tolerances(subject, yard, "vjp", a)
    for i, (ga, gb) in enumerate(zip(grads_a, grads_b, strict=True)):
        if ga is not None and gb is not None:
            failures += compare(
                f"{what}: gradient of {input_label(subject, i)}",
                ga,
                gb.cpu().double().reshape(ga.shape),
                allowed[i],
            )
    return failures


#: gradcheck's finite-difference step (its default eps), doubled: the reach of its samples
FINITE_DIFFERENCE_REACH = 2e-6


def straddles_kink(subject: Subject, sample: Sample) -> bool:
    """Is a kink within finite differences' reach of the sample? (Then gradcheck and
    gradgradcheck would compare a derivative with a difference quotient across the kink.)

    Declared ``kinks`` are checked directly; otherwise the yardstick's vjp (unit cotangents,
    as finite differences use) at the sample moved by +-FINITE_DIFFERENCE_REACH with random
    signs per element (three patterns: one of them crosses a near-tie) must be a smooth
    function of the move: its second difference is ~reach^2 times a derivative for smooth
    functions, and the size of the jump across a kink.
    """
    inputs = [x.detach().cpu().double() for x in sample.inputs]
    for k in subject.kinks:
        if any(bool(((x - k).abs() <= FINITE_DIFFERENCE_REACH).any()) for x in inputs):
            return True
    s64 = replace(
        as_float64(sample),
        grad_outputs=tuple(None if g is None else torch.ones_like(g) for g in sample.grad_outputs),
    )
    s64 = s64.mapped(lambda t: t.detach().to("cpu", torch.float64))
    generator = torch.Generator().manual_seed(1)
    yard = subject.yardstick
    for _ in range(3):
        signs = [
            torch.randint(0, 2, x.shape, generator=generator, dtype=torch.float64) * 2 - 1
            for x in inputs
        ]
        near, far = (
            [
                yard.ask(
                    "vjp",
                    s64.with_inputs([x + d * h * s for x, s in zip(inputs, signs, strict=True)]),
                )
                for d in (1.0, -1.0)
            ]
            for h in (FINITE_DIFFERENCE_REACH / 2, FINITE_DIFFERENCE_REACH)
        )
        for n_up, n_down, f_up, f_down in zip(*near, *far, strict=True):
            if n_up is None or n_up.numel() == 0:
                continue
            # smooth: the difference over 2h is twice that over h (to O(h^3)); a jump between
            # the points breaks that by its own size, wherever it sits
            broken = ((f_up - f_down) - 2 * (n_up - n_down)).abs()
            size = torch.stack([v.abs() for v in (n_up, n_down, f_up, f_down)]).max(0).values
            if bool((broken > 1e-6 * (size + 1.0)).any()) or not bool(torch.isfinite(broken).all()):
                return True
    return False


def both_nan_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal values, NaN where the other has NaN."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if not a.is_floating_point():
        return bool(torch.equal(a, b))
    return bool(torch.equal(a.isnan(), b.isnan())) and bool(
        torch.equal(a.nan_to_num(0.0), b.nan_to_num(0.0))
    )


def zeros_for_none(grads: Sequence[torch.Tensor | None], like: Sequence[torch.Tensor]) -> list:
    return [torch.zeros_like(x) if g is None else g for g, x in zip(grads, like, strict=True)]


__all__ += [
    "MissingDerivative",
    "both_nan_equal",
    "call",
    "check_against",
    "compare",
    "compare_outputs",
    "float_call",
    "input_label",
    "max_abs",
    "outputs_of",
    "pairs",
    "replace",
    "same_run",
    "straddles_kink",
    "tolerances",
    "vjp",
    "zeros_for_none",
]
