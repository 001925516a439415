"""The driver behind ``legendre_verify.verify``: draw samples with Hypothesis, run the checks,
shrink failures, report. (Named ``driver``, not ``verify``: a submodule named like the function
the package re-exports would replace that function on the package when first imported.)
"""

from __future__ import annotations

import inspect
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from hypothesis import HealthCheck, find, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky, FlakyFailure, NoSuchExample, Unsatisfiable

from legendre_verify import strategies as lst
from legendre_verify.checks import CHECKS, Check, Subject, requires_grad_combinations, run_check
from legendre_verify.oracles import Oracle, ReferenceOracle, SymbolicOracle
from legendre_verify.samples import Sample
from legendre_verify.training import resolve_device

__all__ = ["CheckResult", "Report", "VerificationError", "build_subject", "verify"]

#: examples per check by default (a check's ``cost`` divides it); ``thorough=True`` uses 10x
DEFAULT_MAX_EXAMPLES = 20
_DTYPE_NAMES = {str(d).removeprefix("torch."): d for d in lst.FLOAT_DTYPES}


@dataclass
class CheckResult:
    """How one check went: ``passed``, ``failed`` or ``skipped`` (with the reason)."""

    name: str
    status: str
    examples: int
    seconds: float
    message: str = ""
    doc: str = ""


@dataclass
class Report:
    """The outcome of ``verify``: one :class:`CheckResult` per check, in the order run."""

    subject: str
    results: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(r.status != "failed" for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "failed"]

    def format_table(self) -> str:
        """A plain-text table: check, status, examples tried, seconds."""
        width = max([len(r.name) for r in self.results] + [5])
        lines = [f"{'check':<{width}}  {'status':<7}  {'examples':>8}  {'seconds':>7}"]
        for r in self.results:
            note = f"  {r.message}" if r.status == "skipped" else ""
            lines.append(
                f"{r.name:<{width}}  {r.status:<7}  {r.examples:>8}  {r.seconds:>7.2f}{note}"
            )
        failed = len(self.failures)
        lines.append(
            f"{self.subject}: {'PASSED' if not failed else f'FAILED {failed} check(s)'} "
            f"in {self.seconds:.1f} s"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format_table()


class VerificationError(AssertionError):
    """A check failed; the message holds the shrunk minimal sample and how to reproduce it."""

    def __init__(self, message: str, report: Report) -> None:
        super().__init__(message)
        self.report = report


def _arity_of(func: Callable[..., Any]) -> int | None:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return None
    return sum(
        p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        for p in params
    )


def _resolve_arity(arity: int | None, fn: Any, symbolic: Any, reference: Any) -> int:
    """``arity``, else the parameter count of symbolic/reference, else fn's, else 1 (builtins
    such as ``torch.exp`` hide their signature; the probe then confirms the count)."""
    if arity is not None:
        if isinstance(arity, bool) or not isinstance(arity, int) or arity < 1:
            raise ValueError(f"arity must be an int >= 1, got arity={arity!r}")
        return arity
    found = {
        name: _arity_of(f)
        for name, f in (("symbolic", symbolic), ("reference", reference))
        if f is not None
    }
    known = {name: a for name, a in found.items() if a is not None}
    if len(set(known.values())) > 1:
        raise TypeError(f"symbolic and reference take different numbers of arguments: {known}")
    if known:
        return next(iter(known.values()))
    return _arity_of(fn) or 1


def _probe(
    fn: Callable[..., torch.Tensor], arity: int, domain: tuple[float, float]
) -> tuple[bool, bool]:
    """Check fn takes ``arity`` tensors; find whether it supports forward AD and vmap."""
    lo, hi = domain
    x = tuple(
        torch.tensor([lo + (hi - lo) * f for f in (0.25, 0.5, 0.75)], dtype=torch.float64)
        for _ in range(arity)
    )
    try:
        fn(*x)
    except TypeError as error:
        if "argument" in str(error):
            raise TypeError(
                f"fn does not take {arity} tensor(s) (arity={arity}): {error}"
            ) from error
    except Exception:  # a crash on plain input is a finding for the checks, not misuse
        pass
    capabilities = []
    for attempt in (
        lambda: torch.func.jvp(fn, x, tuple(torch.ones_like(t) for t in x)),
        lambda: torch.func.vmap(fn)(*x),
    ):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                attempt()
            capabilities.append(True)
        except Exception:
            capabilities.append(False)
    return capabilities[0], capabilities[1]


def build_subject(
    fn: Callable[..., torch.Tensor],
    *,
    symbolic: Callable[..., Any] | None = None,
    reference: Callable[..., torch.Tensor] | None = None,
    arity: int | None = None,
    domain: Sequence[float] = (-1.0, 1.0),
    name: str | None = None,
) -> Subject:
    """Validate the arguments and build the :class:`~legendre_verify.checks.Subject`."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}: {fn!r}")
    for label, value in (("symbolic", symbolic), ("reference", reference)):
        if value is not None and not callable(value):
            raise TypeError(f"{label} must be callable, got {type(value).__name__}: {value!r}")
    if symbolic is None and reference is None:
        raise TypeError("verify needs an oracle: symbolic= (sympy) and/or reference= (torch)")
    lo, hi = lst._check_domain(domain)
    if not lo < hi:
        raise ValueError(
            f"domain must be a non-empty interval lo < hi, got domain={tuple(domain)!r}"
        )
    arity = _resolve_arity(arity, fn, symbolic, reference)
    oracles: list[Oracle] = []
    if symbolic is not None:
        try:
            oracles.append(SymbolicOracle(symbolic, arity))
        except Exception as error:
            raise TypeError(
                f"symbolic must map {arity} sympy symbol(s) to an expression: {error}"
            ) from error
    if reference is not None:
        oracles.append(ReferenceOracle(reference, arity))
        try:
            oracles[-1].value([[0.5 * (lo + hi)]] * arity)
        except TypeError as error:
            raise TypeError(
                f"reference must take {arity} tensor(s) (arity={arity}): {error}"
            ) from error
    forward_ad, vmap = _probe(fn, arity, (lo, hi))
    return Subject(
        fn,
        oracles,
        arity,
        (lo, hi),
        name or _name_of(fn),
        forward_ad,
        vmap,
    )


def _name_of(fn: Callable[..., Any]) -> str:
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type):  # Function.apply is bound to the Function class
        return f"{owner.__name__}.{fn.__name__}"
    return getattr(fn, "__qualname__", repr(fn))


def _resolve_dtypes(dtypes: Iterable[Any] | None) -> list[torch.dtype]:
    if dtypes is None:
        return list(lst.FLOAT_DTYPES)
    resolved = []
    for d in dtypes:
        if isinstance(d, str) and d in _DTYPE_NAMES:
            d = _DTYPE_NAMES[d]
        if not (isinstance(d, torch.dtype) and d.is_floating_point):
            raise ValueError(f"dtypes must be among {list(_DTYPE_NAMES)}, got {d!r}")
        resolved.append(d)
    if not resolved:
        raise ValueError("dtypes must not be empty")
    return resolved


def _resolve_devices(devices: Iterable[Any] | None) -> list[torch.device]:
    if devices is None:
        return lst.available_devices()
    resolved = []
    for d in devices:
        device = resolve_device(d)  # names the bad value; refuses CUDA where it is absent
        if device.type not in ("cpu", "cuda"):
            raise ValueError(f"devices must be 'cpu' or 'cuda', got {d!r}")
        resolved.append(device)
    if not resolved:
        raise ValueError("devices must not be empty")
    return resolved


@st.composite
def _edge_samples(
    draw: st.DrawFn,
    arity: int,
    dtypes: list[torch.dtype],
    devices: list[torch.device],
    domain: tuple[float, float],
) -> Sample:
    dtype = draw(st.sampled_from(dtypes))
    device = draw(st.sampled_from(devices))
    axis = torch.tensor(lst.edge_values(domain, dtype), dtype=torch.float64)
    grids = torch.meshgrid(*([axis] * arity), indexing="ij")
    inputs = tuple(g.reshape(-1).to(dtype=dtype, device=device) for g in grids)
    ones = torch.ones_like(inputs[0])
    return Sample(inputs, ones, (ones,) * arity, (True,) * arity)


def _strategy(
    check: Check, subject: Subject, dtypes: list[torch.dtype], devices: list[torch.device]
) -> st.SearchStrategy[Sample]:
    all_dtypes = check.dtypes == "all"
    dtype_choice = lst.dtypes(dtypes) if all_dtypes else torch.float64
    device_choice = st.sampled_from([torch.device("cpu")] if check.needs == "cuda" else devices)
    if check.edges_only:
        return _edge_samples(
            subject.arity,
            dtypes,
            [torch.device("cpu")] if check.needs == "cuda" else devices,
            subject.domain,
        )
    domain = subject.domain
    if check.small:  # finite differences step 1e-6 past the sample: keep them inside the domain
        lo, hi = domain
        domain = (lo + 1e-3 * (hi - lo), hi - 1e-3 * (hi - lo))
    return lst.samples(
        arity=subject.arity,
        dtype=dtype_choice,
        device=device_choice,
        shape=lst.shapes(min_dims=1, max_dims=2, min_side=1, max_side=3)
        if check.small
        else lst.shapes(max_dims=4),
        layout=lst.layouts() if check.layouts else "contiguous",
        grad_layout=lst.layouts() if check.layouts else "contiguous",
        domain=domain,
        edges=not check.small,
        requires_grad=st.sampled_from(requires_grad_combinations(subject.arity))
        if check.requires_grad
        else None,
    )


def _skip_reason(check: Check, subject: Subject, dtypes: list[torch.dtype]) -> str | None:
    if check.needs == "forward_ad" and not subject.forward_ad:
        return "the Function has no forward-mode AD (jvp)"
    if check.needs == "vmap" and not subject.vmap:
        return "the Function does not support torch.func.vmap"
    if check.needs == "cuda" and not torch.cuda.is_available():
        return "CUDA is not available here"
    if check.dtypes == "float64" and torch.float64 not in dtypes:
        return "float64 was left out of dtypes"
    return None


def _failure_message(subject: Subject, check: Check, sample: Sample, failures: list[str]) -> str:
    indented = "\n".join("  " + line for line in sample.reproduce(subject.name).splitlines())
    return (
        f"verify({subject.name}): check {check.name!r} failed: {check.doc}\n"
        + "\n".join(f"  {f}" for f in failures[:5])
        + "\nminimal failing sample (shrunk by Hypothesis):\n"
        + "\n".join("  " + line for line in sample.describe().splitlines())
        + f"\nreproduce (with {subject.name} in scope):\n{indented}\n"
        + f"or run only this check: verify(..., checks=[{check.name!r}])"
    )


def verify(
    fn: Callable[..., torch.Tensor],
    *,
    symbolic: Callable[..., Any] | None = None,
    reference: Callable[..., torch.Tensor] | None = None,
    arity: int | None = None,
    domain: Sequence[float] = (-1.0, 1.0),
    dtypes: Iterable[torch.dtype | str] | None = None,
    devices: Iterable[str | torch.device] | None = None,
    max_examples: int | None = None,
    checks: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    inductor: bool = False,
    thorough: bool = False,
    name: str | None = None,
    progress: Callable[[CheckResult], None] | None = None,
    raise_on_failure: bool = True,
    fail_fast: bool = False,
) -> Report:
    """Prove an elementwise autograd Function right, or show a minimal counterexample.

    ``fn`` takes ``arity`` tensors of one shape and returns one of that shape. The truth is
    ``symbolic`` (sympy symbols -> expression; derivatives by sympy.diff) and/or ``reference``
    (differentiable torch; values and autograd derivatives). Inputs are drawn from the closed
    ``domain``. Each named check (see ``legendre_verify.checks.CHECKS``) draws up to
    ``max_examples`` samples; a failing one is shrunk by Hypothesis and raised as
    :class:`VerificationError` (after all checks ran) unless ``raise_on_failure=False``.
    ``skip`` names checks to leave out (e.g. ``gradcheck`` for straight-through estimators);
    ``inductor=True`` adds the inductor compile check; ``thorough=True`` draws 10x as many
    examples, randomly rather than derandomized; ``fail_fast=True`` stops at the first failure.
    """
    subject = build_subject(
        fn, symbolic=symbolic, reference=reference, arity=arity, domain=domain, name=name
    )
    dtypes = _resolve_dtypes(dtypes)
    devices = _resolve_devices(devices)
    if max_examples is not None and (
        isinstance(max_examples, bool) or not isinstance(max_examples, int) or max_examples < 1
    ):
        raise ValueError(f"max_examples must be an int >= 1, got max_examples={max_examples!r}")
    base_examples = max_examples or DEFAULT_MAX_EXAMPLES * (10 if thorough else 1)
    skip = set(skip)
    names = list(checks) if checks is not None else [n for n, c in CHECKS.items() if c.default]
    if inductor and "inductor" not in names:
        names.append("inductor")
    unknown = sorted((set(names) | skip) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown check name(s) {unknown}; known: {list(CHECKS)}")

    report = Report(subject.name)
    started = time.perf_counter()
    first_failure: str | None = None
    for check_name in names:
        check = CHECKS[check_name]
        reason = (
            "skipped by the caller" if check_name in skip else _skip_reason(check, subject, dtypes)
        )
        t0 = time.perf_counter()
        if reason:
            result = CheckResult(check_name, "skipped", 0, 0.0, reason, check.doc)
        else:
            result, message = _run_one(
                check,
                subject,
                dtypes,
                devices,
                max(1, int(base_examples / check.cost)),
                derandomize=not thorough,
            )
            result.seconds = time.perf_counter() - t0
            if message and first_failure is None:
                first_failure = message
        report.results.append(result)
        if progress is not None:
            progress(result)
        if fail_fast and result.status == "failed":
            break
    report.seconds = time.perf_counter() - started
    if first_failure is not None and raise_on_failure:
        others = [r.name for r in report.failures[1:]]
        suffix = f"\nother failing checks: {', '.join(others)}" if others else ""
        raise VerificationError(first_failure + suffix + "\n\n" + report.format_table(), report)
    return report


def _run_one(
    check: Check,
    subject: Subject,
    dtypes: list[torch.dtype],
    devices: list[torch.device],
    examples: int,
    *,
    derandomize: bool,
) -> tuple[CheckResult, str | None]:
    tried = 0
    first: tuple[Sample, list[str]] | None = None

    def fails(sample: Sample) -> bool:
        nonlocal tried, first
        tried += 1
        failures = run_check(check, subject, sample)
        if failures and first is None:
            first = (sample, failures)
        return bool(failures)

    config = settings(
        max_examples=examples,
        derandomize=derandomize,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    try:
        minimal = find(_strategy(check, subject, dtypes, devices), fails, settings=config)
    except (NoSuchExample, Unsatisfiable):
        return CheckResult(check.name, "passed", tried, 0.0, doc=check.doc), None
    except (Flaky, FlakyFailure):
        # the same sample failed once and then passed: the Function is nondeterministic (reads
        # uninitialised memory, races, keeps state): a failure in itself; report the first one
        assert first is not None
        minimal, failures = first
        failures = [f"nondeterministic: failed once, then passed on the same sample: {failures[0]}"]
        message = _failure_message(subject, check, minimal, failures)
        return CheckResult(check.name, "failed", tried, 0.0, failures[0], check.doc), message
    failures = run_check(check, subject, minimal) or ["(passed when run again: nondeterministic)"]
    message = _failure_message(subject, check, minimal, failures)
    return CheckResult(
        check.name, "failed", tried, 0.0, failures[0] if failures else "", check.doc
    ), message
