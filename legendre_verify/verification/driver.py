"""``verify()``: draw samples with Hypothesis, run the checks, shrink failures, report. The only
module that knows Hypothesis's find/settings. (Named ``driver``, not ``verify``: a submodule
named like the function the package re-exports would replace that function when imported.)
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from hypothesis import HealthCheck, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Flaky, FlakyFailure, Unsatisfiable

from legendre_verify.verification import strategies as lst
from legendre_verify.verification.checks import CHECKS, Check, DtypeDraw, run_check
from legendre_verify.verification.oracles import MissingDerivative
from legendre_verify.verification.report import (
    CheckProgress,
    CheckResult,
    Report,
    VerificationError,
)
from legendre_verify.verification.samples import Sample
from legendre_verify.verification.subject import Capability, Subject, build_subject

__all__ = ["DEFAULT_MAX_EXAMPLES", "Plan", "make_plan", "run_planned_check", "verify"]

#: examples per check by default (a check's ``cost`` divides it); ``thorough=True`` uses 10x
DEFAULT_MAX_EXAMPLES = 20
_DTYPE_NAMES = {str(d).removeprefix("torch."): d for d in lst.FLOAT_DTYPES}


def resolve_dtypes(dtypes: Iterable[Any] | None) -> list[torch.dtype]:
    """Floating dtypes by object or name; a ValueError naming a bad one."""
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


def resolve_devices(devices: Iterable[Any] | None) -> list[torch.device]:
    """'cpu'/'cuda' devices; a ValueError for anything else or CUDA where it is absent."""
    if devices is None:
        return lst.available_devices()
    resolved = []
    for d in devices:
        try:
            device = torch.device(d)
        except (RuntimeError, TypeError) as error:
            raise ValueError(f"devices must be 'cpu' or 'cuda', got {d!r}") from error
        if device.type not in ("cpu", "cuda"):
            raise ValueError(f"devices must be 'cpu' or 'cuda', got {d!r}")
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"devices: {d!r} was asked for, but CUDA is not available here")
        resolved.append(device)
    if not resolved:
        raise ValueError("devices must not be empty")
    return resolved


def _strategy(
    check: Check, subject: Subject, dtypes: list[torch.dtype], devices: list[torch.device]
) -> st.SearchStrategy[Sample]:
    on_cpu = Capability.CUDA in check.needs  # drawn on the CPU, moved by the check
    devices = [torch.device("cpu")] if on_cpu else devices
    if check.edges_only:
        return lst.edge_calls(subject.spec, dtypes, devices, subject.domain)
    domain = subject.domain
    if check.small:  # finite differences step 1e-6 past the sample: keep them inside the domain
        lo, hi = domain
        domain = (lo + 1e-3 * (hi - lo), hi - 1e-3 * (hi - lo))
    return lst.calls(
        subject.spec,
        dtype=lst.dtypes(dtypes) if check.dtypes is DtypeDraw.ALL else torch.float64,
        device=st.sampled_from(devices),
        layout=lst.layouts() if check.layouts else "contiguous",
        domain=domain,
        edges=not check.small,
        small=check.small,
    )


def _skip_reason(check: Check, subject: Subject, dtypes: list[torch.dtype]) -> str | None:
    for capability in sorted(check.needs, key=lambda c: c.name):
        reason = subject.missing(capability)
        if reason:
            return reason
    if check.dtypes is DtypeDraw.FLOAT64 and torch.float64 not in dtypes:
        return "float64 was left out of dtypes"
    return None


def failure_message(subject: Subject, check: Check, sample: Sample, failures: list[str]) -> str:
    """What a failed check says: the bug class, what differed, the shrunk sample as it was
    before the call, and a snippet that reproduces it."""
    snippet = sample.reproduce(
        subject.call,
        preamble=subject.preamble,
        differentiable_outputs=subject.spec.differentiable_outputs,
    )
    indented = "\n".join("  " + line for line in snippet.splitlines())
    return (
        f"verify({subject.name}): check {check.name!r} failed: {check.doc}\n"
        + "\n".join(f"  {f}" for f in failures[:5])
        + "\nminimal failing sample (shrunk by Hypothesis; as it was before the call):\n"
        + "\n".join("  " + line for line in sample.describe().splitlines())
        + f"\nreproduce:\n{indented}\n"
        + f"or run only this check: verify(..., checks=[{check.name!r}])"
    )


def _check_examples(max_examples: Any, thorough: bool) -> int:
    if max_examples is not None and (
        isinstance(max_examples, bool) or not isinstance(max_examples, int) or max_examples < 1
    ):
        raise ValueError(f"max_examples must be an int >= 1, got max_examples={max_examples!r}")
    return max_examples or DEFAULT_MAX_EXAMPLES * (10 if thorough else 1)


def select_checks(
    checks: Iterable[str] | None, skip: Iterable[str], inductor: bool
) -> tuple[list[str], set[str]]:
    """The check names to run, and those skipped by the caller (unknown names: ValueError)."""
    if isinstance(checks, str) or isinstance(skip, str):
        raise TypeError("checks and skip must be lists of check names, not a single string")
    skip = set(skip)
    names = list(checks) if checks is not None else [n for n, c in CHECKS.items() if c.default]
    if inductor and "inductor" not in names:
        names.append("inductor")
    unknown = sorted((set(names) | skip) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown check name(s) {unknown}; known: {list(CHECKS)}")
    return names, skip


def verify(
    fn: Callable[..., Any],
    *,
    example: tuple[Any, ...] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    signature: str | None = None,
    batch: bool = False,
    symbolic: Callable[..., Any] | None = None,
    reference: Callable[..., Any] | None = None,
    derived: bool | None = None,
    compare: Mapping[int, Any] | None = None,
    kinks: Sequence[float] = (),
    arity: int | None = None,
    domain: Sequence[float] = (-1.0, 1.0),
    dtypes: Iterable[torch.dtype | str] | None = None,
    devices: Iterable[str | torch.device] | None = None,
    max_examples: int | None = None,
    checks: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    inductor: bool = False,
    thorough: bool = False,
    seed: int | None = None,
    name: str | None = None,
    progress: Callable[[CheckResult], None] | None = None,
    on_sample: Callable[[CheckProgress], None] | None = None,
    raise_on_failure: bool = True,
    fail_fast: bool = False,
    database: Any = None,
) -> Report:
    """Prove a custom autograd Function (or custom op) right, or show a minimal counterexample.

    Two ways to describe the call:

    - elementwise: ``verify(fn, symbolic=..., reference=...)``: ``fn`` takes ``arity`` tensors
      of one shape and returns one of that shape;
    - any call: ``verify(fn, example=(x, weight, bias, 1e-5), ...)``: floating tensors are the
      differentiable inputs (values drawn from ``domain``), integer/bool tensors and other
      values are passed as given, a Hypothesis strategy in an argument's place is drawn per
      example; ``signature="(m,n),(k,n),(k)->(m,k)"`` lets the floating tensors' shapes vary
      (numpy gufunc syntax; ``batch=True`` adds leading loop dimensions); ``kwargs=`` for
      keyword arguments. ``fn`` may return a tensor or a tuple of tensors.

    The truth: ``symbolic`` (sympy, elementwise only), ``reference`` (differentiable torch with
    fn's call signature, run in float64), or, when neither is given and ``fn`` is
    ``SomeFunction.apply`` with a forward in differentiable torch, that forward run outside the
    Function (``derived``; ``derived=False`` turns it off). With no truth at all (``example=``
    only) every check that needs none still runs and the report names those skipped.
    ``compare={output index: "ignore" | "ties" | "exact" | callable}`` says how to compare an
    output (e.g. ``"ties"`` for sort indices). Kinks are found from the oracle (a derivative
    that jumps between neighbouring floats: any value between the one-sided derivatives passes)
    or declared with ``kinks=[...]``; finite differences keep away from them.

    Each named check (``legendre_verify.checks.CHECKS``) draws up to ``max_examples``
    samples; a failing one is shrunk by Hypothesis and raised as :class:`VerificationError`
    (after all checks ran) unless ``raise_on_failure=False``. ``skip`` names checks to leave
    out; ``inductor=True`` adds the inductor compile check; ``thorough=True`` draws 10x as many
    examples, randomly, from a seed the report prints (``seed=`` replays it; without
    ``thorough`` the draws are derandomized: the same whatever else is imported);
    ``fail_fast=True`` stops at the first failure. ``progress`` is called with each check's
    :class:`CheckResult` as it finishes, ``on_sample`` with a :class:`CheckProgress` after
    every sample a check runs (a progress bar's feed). An oracle's own failure
    is an ``OracleError``, raised at once: never blamed on ``fn``. ``database=`` (a
    Hypothesis example database, or a directory) saves each check's failing samples and
    replays them first the next time (opt-in; inside pytest, :func:`verification_tests`
    uses the active Hypothesis profile's).
    """
    plan = make_plan(
        fn,
        example=example,
        kwargs=kwargs,
        signature=signature,
        batch=batch,
        symbolic=symbolic,
        reference=reference,
        derived=derived,
        compare=compare,
        kinks=kinks,
        arity=arity,
        domain=domain,
        dtypes=dtypes,
        devices=devices,
        max_examples=max_examples,
        checks=checks,
        skip=skip,
        inductor=inductor,
        thorough=thorough,
        seed=seed,
        name=name,
        database=database,
    )
    report = Report(plan.subject.name, notes=list(plan.notes))
    started = time.perf_counter()
    for check_name in plan.names:
        result = run_planned_check(plan, check_name, on_sample=on_sample)
        report.results.append(result)
        if progress is not None:
            progress(result)
        if fail_fast and result.status == "failed":
            break
    report.seconds = time.perf_counter() - started
    needed = report.skipped_for_truth
    if needed:
        report.notes.append(f"skipped for lack of a truth: {', '.join(needed)}")
    if report.failures and raise_on_failure:
        others = [r.name for r in report.failures[1:]]
        suffix = f"\nother failing checks: {', '.join(others)}" if others else ""
        raise VerificationError(
            report.failures[0].details + suffix + "\n\n" + report.format_table(), report
        )
    return report


@dataclass
class Plan:
    """A validated verify() call: the subject and how each check is to be run."""

    subject: Subject
    names: list[str]
    skipped: set[str]
    dtypes: list[torch.dtype]
    devices: list[torch.device]
    base_examples: int
    seed: int | None
    derandomize: bool
    database: Any
    notes: list[str] = field(default_factory=list)


def make_plan(
    fn: Callable[..., Any],
    *,
    dtypes: Iterable[torch.dtype | str] | None = None,
    devices: Iterable[str | torch.device] | None = None,
    max_examples: int | None = None,
    checks: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    inductor: bool = False,
    thorough: bool = False,
    seed: int | None = None,
    database: Any = None,
    derandomize: bool | None = None,
    **subject_options: Any,
) -> Plan:
    """Validate a verify() call (``subject_options`` as ``build_subject``'s) and plan it."""
    subject = build_subject(fn, **subject_options)
    dtypes = resolve_dtypes(dtypes)
    devices = resolve_devices(devices)
    base_examples = _check_examples(max_examples, thorough)
    names, skipped = select_checks(checks, skip, inductor)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed must be an int, got seed={seed!r}")
    if seed is not None and not (thorough or derandomize is False):
        raise ValueError("seed= replays a thorough=True run; without thorough draws are fixed")
    notes = subject.describe()
    left_out = [
        str(d).removeprefix("torch.") for d in dtypes if not lst.represents(subject.domain, d)
    ]
    if left_out:
        dtypes = [d for d in dtypes if lst.represents(subject.domain, d)]
        notes.append(
            f"{', '.join(left_out)} hold no value of the domain {subject.domain}: left out"
        )
    if derandomize is None:  # a database replays random runs: derandomized ones need none
        derandomize = not thorough and database is None
    if not derandomize and database is None:
        seed = random.SystemRandom().randrange(2**32) if seed is None else seed
        notes.append(f"random run, seed={seed}: replay with thorough=True, seed={seed}")
    elif database is not None:  # Hypothesis's @seed turns the database off: its own randomness
        seed = None
    if isinstance(database, str | os.PathLike):
        from hypothesis.database import DirectoryBasedExampleDatabase

        database = DirectoryBasedExampleDatabase(os.fspath(database))
    return Plan(
        subject, names, skipped, dtypes, devices, base_examples, seed, derandomize, database, notes
    )


def run_planned_check(
    plan: Plan, name: str, on_sample: Callable[[CheckProgress], None] | None = None
) -> CheckResult:
    """Run one check of a plan (skipped, with the reason, where it cannot run); ``on_sample``
    hears after every sample it runs."""
    check = CHECKS[name]
    subject = plan.subject
    reason = (
        "skipped by the caller"
        if name in plan.skipped
        else _skip_reason(check, subject, plan.dtypes)
    )
    if reason:
        return CheckResult(name, "skipped", 0, 0.0, reason, check.doc)
    t0 = time.perf_counter()
    result = run_one(
        check,
        subject,
        plan.dtypes,
        plan.devices,
        max(1, int(plan.base_examples / check.cost)),
        derandomize=plan.derandomize,
        seed=None if plan.seed is None else plan.seed + list(CHECKS).index(name),
        database=plan.database,
        on_sample=on_sample,
    )
    result.seconds = time.perf_counter() - t0
    return result


@contextmanager
def _without_local_constants() -> Iterator[None]:
    """Hypothesis draws, now and then, constants it finds in the *user's* loaded modules
    (``hypothesis.internal.conjecture.providers``): then the same derandomized verify() draws
    differently depending on what else was imported. Turn that off while verify() draws (a
    private API: where it is not there, nothing to turn off)."""
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover
        yield
        return
    original = getattr(providers, "_get_local_constants", None)
    cache = getattr(providers, "CONSTANTS_CACHE", None)
    constants = getattr(providers, "Constants", None)
    if original is None or cache is None or constants is None:  # pragma: no cover
        yield
        return
    empty = constants()
    providers._get_local_constants = lambda: empty
    cache.cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = original
        cache.cache.clear()


class _CheckFailed(AssertionError):
    """Raised inside the Hypothesis test when a check fails on a sample."""


def run_one(
    check: Check,
    subject: Subject,
    dtypes: list[torch.dtype],
    devices: list[torch.device],
    examples: int,
    *,
    derandomize: bool = True,
    seed: int | None = None,
    database: Any = None,
    on_sample: Callable[[CheckProgress], None] | None = None,
) -> CheckResult:
    """Draw up to ``examples`` samples for one check; shrink the first failure. With a
    ``database`` (random runs only: Hypothesis's derandomized runs use none) the minimal
    failing sample is saved under this Function and check, and replayed first next time;
    ``seed`` fixes a random run's draws (Hypothesis then uses no database). ``on_sample``
    hears after every sample run."""
    tried = 0
    started = time.perf_counter()
    first: tuple[Sample, list[str]] | None = None
    last: list[Sample] = []

    def fails(sample: Sample) -> bool:
        nonlocal tried, first
        tried += 1
        failures = run_check(check, subject, sample.copy())  # the drawn sample stays pristine
        if failures and first is None:
            first = (sample, failures)
        if on_sample is not None:
            on_sample(
                CheckProgress(
                    check.name,
                    tried,
                    examples,
                    time.perf_counter() - started,
                    shrinking=first is not None,
                )
            )
        return bool(failures)

    config = settings(
        max_examples=examples,
        derandomize=derandomize,
        database=None if derandomize else database,  # Hypothesis: derandomized, no database
        deadline=None,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
    )

    @config
    @given(_strategy(check, subject, dtypes, devices))
    def property_holds(sample: Sample) -> None:
        if fails(sample):
            last[:] = [sample]
            raise _CheckFailed(check.name)

    if seed is not None:
        property_holds = hypothesis_seed(seed)(property_holds)
    property_holds._hypothesis_internal_database_key = (  # type: ignore[attr-defined]
        f"legendre-verify:{subject.name}:{check.name}".encode()
    )
    try:
        with _without_local_constants():
            property_holds()
        return CheckResult(check.name, "passed", tried, 0.0, doc=check.doc)
    except Unsatisfiable:
        return CheckResult(check.name, "passed", tried, 0.0, doc=check.doc)
    except MissingDerivative as error:
        return CheckResult(check.name, "skipped", tried, 0.0, str(error), check.doc)
    except (Flaky, FlakyFailure):
        # the same sample failed once and then passed: the Function is nondeterministic (reads
        # uninitialised memory, races, keeps state): a failure in itself; report the first one
        assert first is not None
        minimal, failures = first
        failures = [f"nondeterministic: failed once, then passed on the same sample: {failures[0]}"]
        details = failure_message(subject, check, minimal, failures)
        return CheckResult(check.name, "failed", tried, 0.0, failures[0], check.doc, details)
    except _CheckFailed:
        (minimal,) = last  # Hypothesis ran the minimal failing sample last
    failures = run_check(check, subject, minimal.copy()) or [
        "(passed when run again: nondeterministic)"
    ]
    details = failure_message(subject, check, minimal, failures)
    return CheckResult(check.name, "failed", tried, 0.0, failures[0], check.doc, details)
