"""What a check is, the registry of checks, and the helpers they share: calling the Function,
its vjp, comparing with an oracle under the one tolerance formula."""

from __future__ import annotations

import enum
import importlib
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from legendre_verify.verification.expectations import (
    compare,
    exact,
    judge,
    max_abs,
    within,
)
from legendre_verify.verification.limits import time_limit
from legendre_verify.verification.oracles import (
    MissingDerivative,
    Oracle,
    OracleError,
    as_float64,
)
from legendre_verify.verification.report import InternalError
from legendre_verify.verification.samples import Sample, clone_like
from legendre_verify.verification.subject import Capability, Subject

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
    max_examples / cost; ``needs``: capabilities without which the check is skipped; ``asks``:
    the questions (``outputs``, ``vjp``, ``jvp``, ``vhp``) it may put to the truth.
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
    #: the questions it may put to the truth (what a failure's snippet records beforehand)
    asks: tuple[str, ...] = ("outputs", "vjp")

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


#: the verifier's modules that never call the Function (the oracle only through
#: ``Oracle.ask``, whose failures are OracleErrors): an exception raised in one of them is the
#: verifier's own
_OWN_FILES = frozenset(
    importlib.import_module(f"legendre_verify.verification.{name}").__file__
    for name in ("expectations", "samples", "tolerances")
)


def raised_by_the_verifier(error: BaseException) -> bool:
    """Was ``error`` raised in the verifier's own arithmetic (its innermost frame in a module
    of :data:`_OWN_FILES`), not by the Function it runs?"""
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename in _OWN_FILES


def run_check(check: Check | str, subject: Subject, sample: Sample) -> Failures:
    """Run one check; an exception from the Function is a failure, not a crash of the run. An
    oracle's own failure is raised (:class:`OracleError`), and so is the verifier's
    (:class:`InternalError`): neither is blamed on the Function."""
    check = CHECKS[check] if isinstance(check, str) else check
    try:
        with time_limit(subject.timeout, "the Function"):
            return check.run(subject, sample)
    except (OracleError, NotApplicable):
        raise
    except Exception as error:  # the Function under test crashed: that is the finding
        if raised_by_the_verifier(error):
            frame = traceback.extract_tb(error.__traceback__)[-1]
            raise InternalError(
                f"legendre-verify failed in its own code, not in the Function under test (a "
                f"bug in the verifier: please report it with this message): "
                f"{type(error).__name__}: {str(error).strip()[:1500]} (in {frame.name}, "
                f"{frame.filename}:{frame.lineno}; check {check.name!r})"
            ) from error
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
# comparisons (the rule itself lives in expectations)


def output_modes(subject: Subject) -> list[object]:
    """How each output is compared (``compare=``; by default floats ``close``, indices up to
    ``ties``)."""
    return [subject.compare.get(k, "close") for k in range(subject.spec.n_outputs)]


def output_names(subject: Subject, label: str) -> list[str]:
    return [
        f"{label}output {k}" if subject.spec.n_outputs > 1 else f"{label}value"
        for k in range(subject.spec.n_outputs)
    ]


def compare_outputs(
    subject: Subject,
    sample: Sample,
    outs: Sequence[torch.Tensor],
    expected: Sequence[torch.Tensor],
    allowed: Sequence[float],
    label: str,
) -> Failures:
    """Each output against another run of the Function (self-consistency): floats within the
    tolerance (NaN meeting NaN), index outputs exactly, as ``compare=`` says."""
    failures: Failures = []
    names = output_names(subject, label)
    for k, (o, e) in enumerate(zip(outs, expected, strict=True)):
        mode = subject.compare.get(k, "close")
        if mode == "ignore":
            continue
        if callable(mode):
            failures += list(mode(o, e, sample) or [])
        elif not o.is_floating_point() or mode == "exact":
            failures += exact(names[k], o, e)
        else:
            failures += compare(names[k], o, e, allowed[k])
    return failures


def input_label(subject: Subject, i: int) -> str:
    """How a report names differentiable input ``i``."""
    return f"input {i}" if subject.elementwise else f"argument {subject.spec.diff[i]}"


def check_against(
    subject: Subject, sample: Sample, oracles: Sequence[Oracle], label: str = ""
) -> Failures:
    """Outputs and gradients (for the sample's grad_outputs) against each oracle."""
    outs, grads = vjp(subject, sample)
    failures: Failures = []
    for oracle in oracles:
        tag = f"{label}{oracle.name} "
        failures += judge(
            subject,
            oracle,
            "outputs",
            sample,
            outs,
            output_names(subject, tag),
            output_modes(subject),
        )
        wanted = [g if rg else None for g, rg in zip(grads, sample.requires_grad, strict=True)]
        failures += judge(
            subject,
            oracle,
            "vjp",
            sample,
            wanted,
            [f"{tag}gradient of {input_label(subject, i)}" for i in range(len(grads))],
        )
    return failures


def _valid(subject: Subject, sample: Sample, outs: Sequence, grads: Sequence) -> bool:
    """Are these outputs and gradients a right answer at ``sample``, by the truth's rule for
    kinks and ties (another valid tie-break, another valid subgradient)?"""
    yard = subject.truths[0]
    names = output_names(subject, "")
    wanted = [g if rg else None for g, rg in zip(grads, sample.requires_grad, strict=True)]
    return not judge(
        subject, yard, "outputs", sample, outs, names, output_modes(subject)
    ) and not judge(subject, yard, "vjp", sample, wanted, [""] * len(wanted))


def same_run(subject: Subject, a: Sample, b: Sample, what: str) -> Failures:
    """Outputs and gradients of two samples holding the same values agree (to rounding), or
    both are right answers (two runs may break a tie, or pick a subgradient at a kink,
    differently: each is judged against the yardstick then)."""
    outs_a, grads_a = vjp(subject, a)
    outs_b, grads_b = vjp(subject, b)
    failures = _differences(subject, a, what, outs_a, grads_a, outs_b, grads_b)
    if (
        failures
        and subject.truths  # (the Function's own float64 run would share its bugs)
        and _valid(subject, a, outs_a, grads_a)
        and _valid(subject, b, outs_b, grads_b)
    ):
        return []
    return failures


def _differences(
    subject: Subject,
    a: Sample,
    what: str,
    outs_a: Sequence,
    grads_a: Sequence,
    outs_b: Sequence,
    grads_b: Sequence,
) -> Failures:
    others = [o.detach().cpu().reshape(oa.shape) for o, oa in zip(outs_b, outs_a, strict=True)]

    def differences(out_allowed: list[float], grad_allowed: list[float]) -> Failures:
        failures = compare_outputs(subject, a, outs_a, others, out_allowed, f"{what}: ")
        for i, (ga, gb) in enumerate(zip(grads_a, grads_b, strict=True)):
            if ga is not None and gb is not None:
                failures += compare(
                    f"{what}: gradient of {input_label(subject, i)}",
                    ga,
                    gb.cpu().double().reshape(ga.shape),
                    grad_allowed[i],
                )
        return failures

    return within(subject, subject.yardstick, [("outputs", a), ("vjp", a)], differences)


#: gradcheck's finite-difference step (its default eps), doubled: the reach of its samples
FINITE_DIFFERENCE_REACH = 2e-6


def straddles_kink(subject: Subject, sample: Sample) -> bool:
    """Is a kink or a tie within finite differences' reach of the sample, by the yardstick
    alone? (Used where no autograd truth can run its own finite differences: a sympy truth,
    or none.)

    Declared ``kinks`` are checked directly; otherwise the yardstick's vjp (random cotangents:
    unit ones are blind to a sort's permutation) at the sample moved by
    +-FINITE_DIFFERENCE_REACH must be a smooth function of the move, for moves with random
    signs per element and moves of the elements whose flat index has bit b set (for every
    pair of elements one such move separates them: a near-tie between two elements is crossed
    by gradcheck's one-element steps, never by a move of both): its second difference is
    ~reach^2 times a derivative for smooth functions, and the size of the jump across a kink.
    """
    inputs = [x.detach().cpu().double() for x in sample.inputs]
    for k in subject.kinks:
        if any(bool(((x - k).abs() <= FINITE_DIFFERENCE_REACH).any()) for x in inputs):
            return True
    generator = torch.Generator().manual_seed(1)
    s64 = replace(
        as_float64(sample),
        grad_outputs=tuple(
            None if g is None else torch.rand(g.shape, generator=generator, dtype=torch.float64)
            for g in sample.grad_outputs
        ),
    )
    yard = subject.yardstick
    total = sum(x.numel() for x in inputs)
    offsets = [sum(x.numel() for x in inputs[:j]) for j in range(len(inputs))]
    patterns = []
    for _ in range(2):
        patterns.append(
            [
                torch.randint(0, 2, x.shape, generator=generator, dtype=torch.float64) * 2 - 1
                for x in inputs
            ]
        )
    for bit in range(max(1, (total - 1).bit_length())):
        patterns.append(
            [
                (((torch.arange(x.numel()) + o) >> bit) & 1).to(torch.float64).reshape(x.shape)
                for x, o in zip(inputs, offsets, strict=True)
            ]
        )
    for signs in patterns[:10]:
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


class NotApplicable(Exception):
    """This sample cannot judge this check (a kink or a tie of the truth within finite
    differences' reach): the driver draws another, and a check that found no sample it could
    judge is skipped with this reason."""


def finite_differences_apply(subject: Subject, sample: Sample, order: int) -> None:
    """Raise :class:`NotApplicable` where finite differences cannot judge the Function at
    ``sample``: where the truth's own derivatives of ``order`` 1 or 2 disagree with its own
    finite differences there (a kink or a tie within reach, a padding index, a detach: an
    autograd truth runs gradcheck/gradgradcheck on itself), or, without such a truth, where
    :func:`straddles_kink` finds a jump."""
    if subject.replaying:  # verify judged this sample: so does its replay
        return
    truth = next((o for o in subject.truths if hasattr(o, "function_of_inputs")), None)
    if truth is None:
        if straddles_kink(subject, sample):
            raise NotApplicable("every sample had a kink or a tie within finite differences' reach")
        return
    s64 = as_float64(sample)
    f = truth.function_of_inputs(s64)
    inputs = tuple(
        x.detach().requires_grad_(rg) for x, rg in zip(s64.inputs, s64.requires_grad, strict=True)
    )
    check = torch.autograd.gradcheck if order == 1 else torch.autograd.gradgradcheck
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ok = check(f, inputs, raise_exception=False)
    except Exception:
        ok = False
    if not ok:
        raise NotApplicable(
            f"at every sample the {truth.name} oracle's own derivatives of order {order} "
            "disagreed with its own finite differences (a kink or a tie within their reach, "
            "or a derivative stopped on purpose): finite differences cannot judge there"
        )


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
    "NotApplicable",
    "both_nan_equal",
    "call",
    "check_against",
    "compare",
    "compare_outputs",
    "finite_differences_apply",
    "float_call",
    "input_label",
    "judge",
    "max_abs",
    "output_modes",
    "output_names",
    "outputs_of",
    "pairs",
    "replace",
    "same_run",
    "straddles_kink",
    "vjp",
    "within",
    "zeros_for_none",
]
