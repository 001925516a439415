"""``verify()``: draw samples with Hypothesis, run the checks, shrink failures, report. The only
module that knows Hypothesis's find/settings. (Named ``driver``, not ``verify``: a submodule
named like the function the package re-exports would replace that function when imported.)
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from hypothesis import HealthCheck, find, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky, FlakyFailure, NoSuchExample, Unsatisfiable

from legendre_verify.verification import strategies as lst
from legendre_verify.verification.checks import CHECKS, Check, DtypeDraw, run_check
from legendre_verify.verification.oracles import MissingDerivative
from legendre_verify.verification.report import CheckResult, Report, VerificationError
from legendre_verify.verification.samples import Sample
from legendre_verify.verification.subject import Capability, Subject, build_subject

__all__ = ["DEFAULT_MAX_EXAMPLES", "verify"]

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
    raise_on_failure: bool = True,
    fail_fast: bool = False,
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
    ``fail_fast=True`` stops at the first failure. An oracle's own failure
    is an ``OracleError``, raised at once: never blamed on ``fn``.
    """
    subject = build_subject(
        fn,
        example=example,
        kwargs=kwargs,
        signature=signature,
        batch=batch,
        symbolic=symbolic,
        reference=reference,
        derived=derived,
        arity=arity,
        domain=domain,
        compare=compare,
        kinks=kinks,
        name=name,
    )
    dtypes = resolve_dtypes(dtypes)
    devices = resolve_devices(devices)
    base_examples = _check_examples(max_examples, thorough)
    names, skipped = select_checks(checks, skip, inductor)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed must be an int, got seed={seed!r}")
    if seed is not None and not thorough:
        raise ValueError("seed= replays a thorough=True run; without thorough draws are fixed")

    report = Report(subject.name, notes=subject.describe())
    left_out = [
        str(d).removeprefix("torch.") for d in dtypes if not lst.represents(subject.domain, d)
    ]
    if left_out:
        dtypes = [d for d in dtypes if lst.represents(subject.domain, d)]
        report.notes.append(
            f"{', '.join(left_out)} hold no value of the domain {subject.domain}: left out"
        )
    if thorough:
        seed = random.SystemRandom().randrange(2**32) if seed is None else seed
        report.notes.append(f"thorough run, seed={seed}: replay with thorough=True, seed={seed}")
    started = time.perf_counter()
    first_failure: str | None = None
    for check_name in names:
        check = CHECKS[check_name]
        reason = (
            "skipped by the caller"
            if check_name in skipped
            else _skip_reason(check, subject, dtypes)
        )
        t0 = time.perf_counter()
        if reason:
            result = CheckResult(check_name, "skipped", 0, 0.0, reason, check.doc)
        else:
            result = run_one(
                check,
                subject,
                dtypes,
                devices,
                max(1, int(base_examples / check.cost)),
                seed=None if seed is None else seed + names.index(check_name),
            )
            result.seconds = time.perf_counter() - t0
            if result.details and first_failure is None:
                first_failure = result.details
        report.results.append(result)
        if progress is not None:
            progress(result)
        if fail_fast and result.status == "failed":
            break
    report.seconds = time.perf_counter() - started
    needed = report.skipped_for_truth
    if needed:
        report.notes.append(f"skipped for lack of a truth: {', '.join(needed)}")
    if first_failure is not None and raise_on_failure:
        others = [r.name for r in report.failures[1:]]
        suffix = f"\nother failing checks: {', '.join(others)}" if others else ""
        raise VerificationError(first_failure + suffix + "\n\n" + report.format_table(), report)
    return report


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


def run_one(
    check: Check,
    subject: Subject,
    dtypes: list[torch.dtype],
    devices: list[torch.device],
    examples: int,
    *,
    seed: int | None = None,
) -> CheckResult:
    """Draw up to ``examples`` samples for one check; shrink the first failure."""
    tried = 0
    first: tuple[Sample, list[str]] | None = None

    def fails(sample: Sample) -> bool:
        nonlocal tried, first
        tried += 1
        failures = run_check(check, subject, sample.copy())  # the drawn sample stays pristine
        if failures and first is None:
            first = (sample, failures)
        return bool(failures)

    config = settings(
        max_examples=examples,
        derandomize=seed is None,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    try:
        with _without_local_constants():
            minimal = find(
                _strategy(check, subject, dtypes, devices),
                fails,
                settings=config,
                random=None if seed is None else random.Random(seed),
            )
    except (NoSuchExample, Unsatisfiable):
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
    failures = run_check(check, subject, minimal.copy()) or [
        "(passed when run again: nondeterministic)"
    ]
    details = failure_message(subject, check, minimal, failures)
    return CheckResult(check.name, "failed", tried, 0.0, failures[0], check.doc, details)
