"""``verify()``: plan the checks, explore samples, find root causes, shrink, report.

Checks that draw the same kind of sample (the same dtypes, layouts, sizes) form a *group*:
each sample a group draws is judged by every check of the group, so a sample is drawn once
and the truth at it computed once (the subject caches it) for all of them. A failing check
keeps its first failing draw; after every group has run, failures with one root cause (the
Function raising the same error, returning the same wrong shape, hanging) are reported once,
at the first check that met them, and the checks they block say so in one line. Then the first
failing check's draw is shrunk by Hypothesis, and the others' within what time is left, so a
failing verify takes a small multiple of a passing one. (Named ``driver``, not ``verify``: a
submodule named like the function the package re-exports would replace that function.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from hypothesis import strategies as st

from legendre_verify.verification import strategies as lst
from legendre_verify.verification.checks import CHECKS, Check, DtypeDraw, run_check
from legendre_verify.verification.checks.base import NotApplicable
from legendre_verify.verification.expectations import expect
from legendre_verify.verification.limits import DEFAULT_TIMEOUT, Hang, time_limit
from legendre_verify.verification.narrowing import one_element
from legendre_verify.verification.options import Options
from legendre_verify.verification.oracles import MissingDerivative, OracleError
from legendre_verify.verification.process import verify_settings
from legendre_verify.verification.replay import recording, snippet
from legendre_verify.verification.report import (
    CheckProgress,
    CheckResult,
    InternalError,
    Report,
    VerificationError,
)
from legendre_verify.verification.samples import Sample
from legendre_verify.verification.search import Choices, explore, remember, shrink
from legendre_verify.verification.subject import Capability, Subject, build_subject

__all__ = ["DEFAULT_MAX_EXAMPLES", "Plan", "make_plan", "run_plan", "run_planned_check", "verify"]

#: examples per check by default (a check's ``cost`` divides it); ``thorough=True`` uses 10x
DEFAULT_MAX_EXAMPLES = 20

#: a failing verify shrinks for at most this many times as long as its checks ran (and at
#: least SHRINK_FLOOR seconds): the first failing check gets what it needs of that, the others
#: what is left (a failing run takes at most ~3x a passing one)
SHRINK_FACTOR = 2.0
SHRINK_FLOOR = 2.0

_DTYPE_NAMES = {str(d).removeprefix("torch."): d for d in lst.FLOAT_DTYPES}


def resolve_dtypes(dtypes: Iterable[Any] | None) -> list[torch.dtype]:
    """Floating dtypes by object or name; a ValueError naming a bad one."""
    if dtypes is None:
        return list(lst.FLOAT_DTYPES)
    if isinstance(dtypes, str | torch.dtype):
        raise TypeError(f"dtypes must be a list of dtypes, got dtypes={dtypes!r}")
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
    if isinstance(devices, str | torch.device):
        raise TypeError(f"devices must be a list of devices, got devices={devices!r}")
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
    order = list(CHECKS)
    return sorted(dict.fromkeys(names), key=order.index), skip


# ---------------------------------------------------------------------------------------------
# the plan


@dataclass
class Group:
    """Checks that judge the same draws: their strategy and how many samples each takes."""

    key: tuple
    checks: list[Check]
    examples: dict[str, int]
    strategy: st.SearchStrategy[Sample]

    @property
    def total(self) -> int:
        return max(self.examples.values())

    @property
    def label(self) -> str:
        names = [c.name for c in self.checks]
        return names[0] if len(names) == 1 else f"{names[0]} (+{len(names) - 1} checks)"


@dataclass
class Plan:
    """A validated verify() call: the subject, the checks to run and how, in groups."""

    subject: Subject
    names: list[str]
    skipped: dict[str, str]
    dtypes: list[torch.dtype]
    devices: list[torch.device]
    base_examples: int
    seed: int | None
    derandomize: bool
    database: Any
    fail_fast: bool = False
    notes: list[str] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    #: the results of a whole run, kept for one check asked at a time (pytest items)
    outcome: Report | None = None
    #: the checks each Hypothesis run served, in the order they ran (their statistics follow)
    runs: list[frozenset[str]] = field(default_factory=list)


def _check_examples(max_examples: Any, thorough: bool) -> int:
    if max_examples is not None and (
        isinstance(max_examples, bool) or not isinstance(max_examples, int) or max_examples < 1
    ):
        raise ValueError(f"max_examples must be an int >= 1, got max_examples={max_examples!r}")
    return max_examples or DEFAULT_MAX_EXAMPLES * (10 if thorough else 1)


def _from_settings(options: Options) -> tuple[int | None, bool | None, Any]:
    """max_examples, derandomize and database from ``settings=`` (a Hypothesis settings
    object or a registered profile's name), where the keywords leave them open."""
    chosen = options.search.settings
    if chosen is None:
        return None, None, None
    from hypothesis import settings as hypothesis_settings

    if isinstance(chosen, str):
        try:
            chosen = hypothesis_settings.get_profile(chosen)
        except Exception as error:
            raise ValueError(f"settings={chosen!r} names no Hypothesis profile") from error
    if not isinstance(chosen, hypothesis_settings):
        raise TypeError(
            f"settings must be a hypothesis.settings or a profile's name, got {chosen!r}"
        )
    return chosen.max_examples, chosen.derandomize, chosen.database


def _skip_reason(check: Check, subject: Subject, dtypes: list[torch.dtype]) -> str | None:
    for capability in sorted(check.needs, key=lambda c: c.name):
        reason = subject.missing(capability)
        if reason:
            return reason
    if check.dtypes is DtypeDraw.FLOAT64 and torch.float64 not in dtypes:
        return "float64 was left out of dtypes"
    return None


def _group_key(check: Check) -> tuple:
    return (
        check.dtypes,
        check.layouts,
        check.small,
        check.edges_only,
        Capability.CUDA in check.needs,
    )


def _strategy(
    key: tuple, subject: Subject, dtypes: list[torch.dtype], devices: list[torch.device]
) -> st.SearchStrategy[Sample]:
    draw_dtypes, layouts, small, edges_only, on_cpu = key
    devices = [torch.device("cpu")] if on_cpu else devices  # drawn on the CPU, moved by it
    if edges_only:
        return lst.edge_calls(
            subject.spec,
            dtypes,
            devices,
            subject.domain,
            overflow=not subject.domain_given and not subject.elementwise,
        )
    domain = subject.domain
    if small:  # finite differences step 1e-6 past the sample: keep them inside the domain
        lo, hi = domain
        domain = (lo + 1e-3 * (hi - lo), hi - 1e-3 * (hi - lo))
    return lst.calls(
        subject.spec,
        dtype=lst.dtypes(dtypes) if draw_dtypes is DtypeDraw.ALL else torch.float64,
        device=st.sampled_from(devices),
        layout=lst.layouts() if layouts else "contiguous",
        domain=domain,
        edges=not small,
        small=small,
    )


def make_plan(fn: Callable[..., Any], options: Options | None = None, **keywords: Any) -> Plan:
    """Validate a verify() call and plan it: ``options`` (or the same as keywords, as
    ``verify`` takes them). Misuse is a TypeError/ValueError naming the argument."""
    if options is None:
        options = Options.from_keywords(**keywords)
    elif keywords:
        raise TypeError("make_plan takes options= or keywords, not both")
    search, run = options.search, options.run
    profile_examples, profile_derandomize, profile_database = _from_settings(options)
    subject = build_subject(fn, **options.subject_keywords())
    dtypes = resolve_dtypes(run.dtypes)
    devices = resolve_devices(run.devices)
    base_examples = _check_examples(
        search.max_examples if search.max_examples is not None else profile_examples,
        search.thorough,
    )
    names, caller_skipped = select_checks(run.checks, run.skip, run.inductor)
    seed = search.seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed must be an int, got seed={seed!r}")
    derandomize = search.derandomize
    if derandomize is None and profile_derandomize is not None and not search.thorough:
        derandomize = profile_derandomize
    database = search.database if search.database is not None else profile_database
    if seed is not None and not (search.thorough or derandomize is False):
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
        derandomize = not search.thorough and search.database is None
    if not derandomize and seed is None and database is None:
        seed = random.SystemRandom().randrange(2**32)
        notes.append(f"random run, seed={seed}: replay with thorough=True, seed={seed}")
    if isinstance(database, str | os.PathLike):
        from hypothesis.database import DirectoryBasedExampleDatabase

        database = DirectoryBasedExampleDatabase(os.fspath(database))
    skipped = {}
    for name in names:
        reason = (
            "skipped by the caller"
            if name in caller_skipped
            else _skip_reason(CHECKS[name], subject, dtypes)
        )
        if reason:
            skipped[name] = reason
    plan = Plan(
        subject,
        names,
        skipped,
        dtypes,
        devices,
        base_examples,
        seed,
        derandomize,
        database,
        run.fail_fast,
        notes,
    )
    by_key: dict[tuple, Group] = {}
    for name in names:
        if name in skipped:
            continue
        check = CHECKS[name]
        key = _group_key(check)
        if key not in by_key:
            by_key[key] = Group(key, [], {}, _strategy(key, subject, dtypes, devices))
            plan.groups.append(by_key[key])
        by_key[key].checks.append(check)
        by_key[key].examples[name] = max(1, int(base_examples / check.cost))
    return plan


# ---------------------------------------------------------------------------------------------
# running it


def failure_message(
    subject: Subject,
    check: Check,
    sample: Sample,
    failures: list[str],
    *,
    how: str,
    rerun: bool = True,
) -> str:
    """What a failed check says: the bug class, what differed, the sample as it was before the
    call (``how`` it was found: shrunk or first), and a snippet that re-fails when run (it
    replays the check against the truth's recorded answers) and passes once fixed."""
    with recording() as recorder:
        if rerun:  # (not for a hang: it would take the time limit again)
            with contextlib.suppress(Exception, Hang):
                run_check(check, subject, sample.copy())  # what the truth answered: the snippet's
        # and what it answers to the usual questions at the sample, which the failing run may
        # not have reached (it stopped where the Function raised), but a fixed Function will
        for oracle in subject.truths:
            for kind in check.asks:
                with contextlib.suppress(Exception, Hang):
                    expect(subject, oracle, kind, sample)
    code, notes = snippet(subject, check.name, sample, recorder)
    indented = "\n".join("  " + line for line in code.splitlines())
    return (
        f"verify({subject.name}): check {check.name!r} failed: {check.doc}\n"
        + "\n".join(f"  {f}" for f in failures[:5])
        + f"\n{how} (as it was before the call):\n"
        + "\n".join("  " + line for line in sample.describe().splitlines())
        + "\nreproduce (a script that raises while the Function fails this check):\n"
        + indented
        + "".join(f"\n  # {note}" for note in notes)
    )


@dataclass
class _Tally:
    """What exploring found for one check."""

    tried: int = 0
    judged: int = 0
    seconds: float = 0.0
    set_aside: str | None = None
    missing: str | None = None
    failure: tuple[Sample, list[str], Choices] | None = None
    hang: tuple[Sample, Hang] | None = None


class _Abort(BaseException):
    """Leaves Hypothesis at once (an oracle's or the verifier's own error: nothing to shrink)."""

    def __init__(self, error: OracleError | InternalError, sample: Sample) -> None:
        super().__init__(str(error))
        self.error, self.sample = error, sample


def _trivial(sample: Sample) -> bool:
    """A sample that judges little: an empty differentiable input, or all of them zero."""
    xs = [x for x in sample.inputs if isinstance(x, torch.Tensor)]
    return any(x.numel() == 0 for x in xs) or all(not bool(x.any()) for x in xs)


def _takes(group: Group, name: str, tried: int, drawn: int, sample: Sample) -> bool:
    """Does check ``name``, having tried ``tried`` samples, take the group's ``drawn``-th?
    A check that takes fewer samples than its group draws takes them spread out (one per
    stride of draws; Hypothesis's first draws are its simplest), each at the first draw of its
    stride that is not trivial (empty or all zero), unless too few draws are left to wait."""
    wanted = group.examples[name]
    if tried >= wanted:
        return False
    if wanted >= group.total:
        return True
    stride = group.total / wanted
    if drawn < stride * tried + 1:  # this stride's sample is taken already
        return False
    return not _trivial(sample) or group.total - drawn < wanted - tried


def _explore_group(
    plan: Plan,
    group: Group,
    index: int,
    tallies: dict[str, _Tally],
    on_sample: Callable[[CheckProgress], None] | None,
) -> None:
    subject = plan.subject
    started = time.perf_counter()
    drawn = 0

    def visit(sample: Sample, choices: Choices) -> None:
        nonlocal drawn
        drawn += 1
        for check in group.checks:
            tally = tallies[check.name]
            if tally.failure or tally.hang or tally.missing:
                continue
            if not _takes(group, check.name, tally.tried, drawn, sample):
                continue
            tally.tried += 1
            t0 = time.perf_counter()
            try:
                failures = run_check(check, subject, sample.copy())  # the draw stays pristine
            except NotApplicable as reason:
                tally.set_aside = str(reason)
                tally.tried -= 1  # a sample it could not judge does not count: the next may
                continue
            except MissingDerivative as error:
                tally.missing = str(error)
                continue
            except Hang as hang:
                tally.hang = (sample, hang)
                raise
            except (OracleError, InternalError) as error:
                raise _Abort(error, sample) from error
            finally:
                tally.seconds += time.perf_counter() - t0
            tally.judged += 1
            if failures:
                tally.failure = (sample, failures, choices)
        if on_sample is not None:
            on_sample(CheckProgress(group.label, drawn, group.total, time.perf_counter() - started))

    seed = None if plan.seed is None else plan.seed + index
    plan.runs.append(frozenset(c.name for c in group.checks))
    try:
        explore(
            group.strategy,
            group.total,
            visit,
            derandomize=plan.derandomize,
            seed=seed,
            database=plan.database,
            key=_database_key(plan, group),
        )
    except Hang:
        pass  # recorded in its check's tally
    except _Abort as abort:
        raise type(abort.error)(
            f"{abort.error}\nat the sample (as it was before the call):\n{abort.sample.describe()}"
        ) from abort.error


#: what a failure adds when the Function draws from torch's random generator
RANDOM_HINT = (
    "\n  fn draws from torch's random generator (its state advanced while fn ran on this "
    "sample): verify compares repeated calls, and a truth, at the same sample, so a Function "
    "random on purpose is verified with its draws fixed: each call (and the reference's) "
    'seeded alike, in float64 (the README\'s "Random Functions")'
)


def _draws_random(subject: Subject, sample: Sample) -> bool:
    """Does one call of the Function on ``sample`` advance torch's CPU generator? (Run with
    the generator forked: the caller's random state is left as it was.)"""
    with torch.random.fork_rng(devices=[]):
        before = torch.random.get_rng_state()
        try:
            with torch.no_grad(), time_limit(subject.timeout, "the Function"):
                subject.fn(*sample.fresh_args(clone=subject.dirty)[0], **sample.kwargs)
        except (Exception, Hang):  # a crash or a hang is some other finding, not randomness
            return False
        return not torch.equal(before, torch.random.get_rng_state())


def _database_key(plan: Plan, group: Group) -> bytes:
    names = ",".join(group.examples)  # every check of the group, restricted or not
    return f"legendre-verify:{plan.subject.name}:{names}".encode()


_SHAPE = re.compile(r"shape (?:is )?(\([\d, ]*\)), expected (\([\d, ]*\))")
_DTYPE = re.compile(r"dtype (?:is )?(torch\.\w+), expected (torch\.\w+)")


def root_cause(failures: list[str]) -> str | None:
    """What a failure has in common with others that share its cause: the Function raising an
    error (its type and first line), a hang, or a wrong output shape or dtype."""
    first = failures[0]
    if first.startswith("raised "):
        return first.splitlines()[0][:300]
    if "(a hang)" in first:
        return "the Function hangs"
    for pattern, what in ((_SHAPE, "shape"), (_DTYPE, "dtype")):
        match = pattern.search(first)
        if match:
            return f"an output of {what} {match[1]} where {match[2]} is expected"
    return None


def run_plan(
    plan: Plan,
    *,
    progress: Callable[[CheckResult], None] | None = None,
    on_sample: Callable[[CheckProgress], None] | None = None,
) -> Report:
    """Run every check of the plan (see the module docstring) into a :class:`Report`, with
    :func:`~legendre_verify.verification.process.verify_settings` (one torch thread, the
    process's older objects out of the garbage collector's passes)."""
    with verify_settings():
        return _run_plan(plan, progress, on_sample)


def _run_plan(
    plan: Plan,
    progress: Callable[[CheckResult], None] | None,
    on_sample: Callable[[CheckProgress], None] | None,
) -> Report:
    subject = plan.subject
    report = Report(subject.name, notes=list(plan.notes))
    started = time.perf_counter()
    tallies = {name: _Tally() for name in plan.names}
    final: dict[str, CheckResult] = {}

    def emit(result: CheckResult) -> None:
        final[result.name] = result
        if progress is not None:
            progress(result)

    for name, reason in plan.skipped.items():
        emit(CheckResult(name, "skipped", 0, 0.0, reason, CHECKS[name].doc))
    hung_in: str | None = None
    for index, group in enumerate(plan.groups):
        if not group.checks:  # none of its checks asked for (see restrict)
            continue
        if hung_in is not None:
            for check in group.checks:
                emit(
                    CheckResult(
                        check.name,
                        "blocked",
                        0,
                        0.0,
                        f"blocked: the Function hangs (see {hung_in}); not run",
                        check.doc,
                    )
                )
            continue
        _explore_group(plan, group, index, tallies, on_sample)
        for check in group.checks:
            tally = tallies[check.name]
            if tally.hang is not None:
                hung_in = hung_in or check.name
            elif tally.failure is None:
                emit(_settled(check, tally))
        if plan.fail_fast and any(
            tallies[c.name].failure or tallies[c.name].hang for c in group.checks
        ):
            break
    explored = time.perf_counter() - started
    _report_failures(plan, tallies, final, emit, explored)
    report.results = [final[name] for name in plan.names if name in final]
    report.seconds = time.perf_counter() - started
    needed = report.skipped_for_truth
    if needed:
        report.notes.append(f"skipped for lack of a truth: {', '.join(needed)}")
    return report


def _settled(check: Check, tally: _Tally) -> CheckResult:
    """A check that found no failure: passed, or skipped where it judged no sample."""
    if tally.missing:
        return CheckResult(
            check.name, "skipped", tally.tried, tally.seconds, tally.missing, check.doc
        )
    if not tally.judged and tally.set_aside:
        return CheckResult(
            check.name, "skipped", tally.tried, tally.seconds, tally.set_aside, check.doc
        )
    return CheckResult(check.name, "passed", tally.tried, tally.seconds, doc=check.doc)


def _report_failures(
    plan: Plan,
    tallies: dict[str, _Tally],
    final: dict[str, CheckResult],
    emit: Callable[[CheckResult], None],
    explored: float,
) -> None:
    """Failing checks in order: a root cause once (the others it blocks say so in a line),
    the first shrunk fully and the rest within the time left."""
    subject = plan.subject
    budget = max(SHRINK_FLOOR, SHRINK_FACTOR * explored)
    spent = 0.0
    causes: dict[str, str] = {}
    for name in plan.names:
        tally = tallies[name]
        check = CHECKS[name]
        hung = False  # a hang while shrinking: no call of the Function after it
        if tally.hang is not None:
            sample, hang = tally.hang
            failures = [f"{hang}: no result"]
            details = failure_message(
                subject,
                check,
                sample,
                failures,
                how="the sample it hung on (not shrunk)",
                rerun=False,
            )
            causes.setdefault("the Function hangs", name)
            emit(
                CheckResult(
                    name, "failed", tally.tried, tally.seconds, failures[0], check.doc, details
                )
            )
            continue
        if tally.failure is None:
            continue
        sample, failures, choices = tally.failure
        cause = root_cause(failures)
        if cause is not None and cause in causes:
            line = f"blocked: {cause} (the root cause reported by '{causes[cause]}')"
            emit(CheckResult(name, "blocked", tally.tried, tally.seconds, line, check.doc, line))
            continue
        if cause is not None:
            causes[cause] = name
        seconds = budget - spent if not spent else min(budget - spent, 0.25 * budget)
        t0 = time.perf_counter()
        how = "first failing sample (not shrunk: the time for shrinking was spent)"
        if seconds > 0 and not check.edges_only:
            found: list[list[str]] = []

            def fails(candidate: Sample, check: Check = check, found: list = found) -> bool:
                try:
                    result = run_check(check, subject, candidate.copy())
                except (NotApplicable, MissingDerivative):
                    return False
                if result:
                    found[:] = [result]
                return bool(result)

            group = next(g for g in plan.groups if check in g.checks)
            narrowed = None
            if subject.spec.elementwise:
                try:
                    narrowed = one_element(sample, fails)
                except Hang:
                    narrowed = None
            try:
                if narrowed is not None:  # one element: nothing smaller for Hypothesis to find
                    remember(plan.database, _database_key(plan, group), choices)
                    shrunk = (narrowed, True)
                else:
                    plan.runs.append(frozenset({name}))  # (its Hypothesis statistics follow)
                    shrunk = shrink(
                        group.strategy,
                        choices,
                        fails,
                        seconds=seconds,
                        database=plan.database,
                        key=_database_key(plan, group),
                    )
            except Hang as hang:
                shrunk, hung = None, True
                failures = [f"{hang} while shrinking: no result"]
            if shrunk is None:
                failures = [
                    f"nondeterministic: failed once, then passed on the same sample: {failures[0]}"
                ]
                how = "the failing sample (it passed when run again)"
            else:
                sample, smaller = shrunk
                failures = found[0] if found else failures
                how = (
                    "minimal failing sample (one failing element of the first failing draw, by bisection)"
                    if narrowed is not None
                    else "minimal failing sample (shrunk by Hypothesis)"
                    if smaller
                    else "failing sample (Hypothesis found nothing smaller)"
                )
        elif check.edges_only:
            how = "failing sample (the domain's edge values: not shrunk)"
        if failures and not hung and _draws_random(subject, sample):  # only its draws?
            failures = [failures[0] + RANDOM_HINT, *failures[1:]]
        spent += time.perf_counter() - t0
        details = failure_message(subject, check, sample, failures, how=how)
        emit(
            CheckResult(
                name,
                "failed",
                tally.tried,
                tally.seconds + time.perf_counter() - t0,
                failures[0],
                check.doc,
                details,
            )
        )


def restrict(plan: Plan, names: Iterable[str]) -> Plan:
    """The plan with only the checks ``names`` (the items ``pytest -k`` kept): groups none of
    whose checks is kept are not drawn at all; a kept check sees the very draws (and database
    entries) it sees in the whole plan."""
    keep = set(names)
    return dataclasses.replace(
        plan,
        names=[n for n in plan.names if n in keep],
        skipped={n: r for n, r in plan.skipped.items() if n in keep},
        groups=[
            dataclasses.replace(g, checks=[c for c in g.checks if c.name in keep])
            for g in plan.groups
        ],
        outcome=None,
        runs=[],
    )


def run_planned_check(
    plan: Plan, name: str, on_sample: Callable[[CheckProgress], None] | None = None
) -> CheckResult:
    """One check's result of the whole plan's run (run once, then kept: pytest asks for one
    check per item; root causes need every check's findings)."""
    if plan.outcome is None:
        plan.outcome = run_plan(plan, on_sample=on_sample)
    for result in plan.outcome.results:
        if result.name == name:
            return result
    return CheckResult(
        name, "skipped", 0, 0.0, "not run (fail_fast stopped earlier)", CHECKS[name].doc
    )


# ---------------------------------------------------------------------------------------------
# verify


def verify(
    fn: Callable[..., Any],
    *,
    example: tuple[Any, ...] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    signature: str | None = None,
    batch: bool = False,
    arity: int | None = None,
    symbolic: Callable[..., Any] | None = None,
    reference: Callable[..., Any] | None = None,
    derived: bool | None = None,
    reference_error: float | None = None,
    compare: Mapping[int, Any] | None = None,
    kinks: Sequence[float] = (),
    domain: Sequence[float] | str | None = None,
    max_examples: int | None = None,
    thorough: bool = False,
    seed: int | None = None,
    database: Any = None,
    settings: Any = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    checks: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    dtypes: Iterable[torch.dtype | str] | None = None,
    devices: Iterable[str | torch.device] | None = None,
    inductor: bool = False,
    fail_fast: bool = False,
    name: str | None = None,
    progress: Callable[[CheckResult], None] | None = None,
    on_sample: Callable[[CheckProgress], None] | None = None,
    raise_on_failure: bool = True,
) -> Report:
    """Prove a custom autograd Function (or custom op) right, or show a minimal counterexample.

    The options come in four groups (:mod:`~legendre_verify.verification.options` documents
    each once; ``call=``, ``truth=``, ``search=``, ``run=`` take whole groups there):

    - what is called: ``example`` (one call's arguments: floating tensors are the
      differentiable inputs; ``constant(t)``, ``index(high=...)``, ``size(name)`` markers,
      plain values and Hypothesis strategies as documented), ``kwargs``, ``signature`` (numpy's
      gufunc syntax, sizes may carry bounds: ``"(b,n>=1,3)->(b,n)"``; loop dimensions of the
      example beyond the core ones are drawn and broadcast), ``batch``, ``arity`` (the
      elementwise form, without ``example``);
    - what is true: ``symbolic`` (sympy, elementwise), ``reference`` (plain torch with fn's
      call signature, float64), ``derived`` (fn's own forward run outside it: automatic),
      ``reference_error`` (trust an imprecise reference to that relative error, by name),
      ``compare`` (``{output: "close" | "exact" | "ties" | "ignore" | callable(got, expected,
      sample) -> list of failure strings}``: index outputs compare up to ties by default),
      ``kinks``, ``domain``;
    - how hard to look: ``max_examples`` (per check), ``thorough`` (10x, random, seeded:
      ``seed`` replays), ``database`` (failing samples saved and replayed first), ``settings``
      (a Hypothesis settings object or profile name), ``timeout`` (seconds per check and
      sample in the Function; a hang is a finding);
    - what runs: ``checks``, ``skip``, ``dtypes``, ``devices``, ``inductor`` (the slow inductor
      compile check), ``fail_fast``.

    Each check draws its samples (shared with the checks that draw alike), judges them against
    the truth under one tolerance model, and a failing one is shrunk and raised as
    :class:`VerificationError` (after all checks ran) unless ``raise_on_failure=False``; a
    root cause met by several checks is reported once. ``progress`` hears each check's
    :class:`CheckResult` as it is settled, ``on_sample`` a :class:`CheckProgress` after every
    sample. An oracle's own failure is an ``OracleError``, raised at once: never blamed on
    ``fn``; misuse is a ``TypeError``/``ValueError`` naming the argument.
    """
    options = Options.from_keywords(
        example=example,
        kwargs=kwargs,
        signature=signature,
        batch=batch,
        arity=arity,
        symbolic=symbolic,
        reference=reference,
        derived=derived,
        reference_error=reference_error,
        compare=compare,
        kinks=kinks,
        domain=domain,
        max_examples=max_examples,
        thorough=thorough,
        seed=seed,
        database=database,
        settings=settings,
        timeout=timeout,
        checks=checks,
        skip=skip,
        dtypes=dtypes,
        devices=devices,
        inductor=inductor,
        fail_fast=fail_fast,
        name=name,
    )
    return verify_with(
        fn,
        options,
        progress=progress,
        on_sample=on_sample,
        raise_on_failure=raise_on_failure,
    )


def verify_with(
    fn: Callable[..., Any],
    options: Options,
    *,
    progress: Callable[[CheckResult], None] | None = None,
    on_sample: Callable[[CheckProgress], None] | None = None,
    raise_on_failure: bool = True,
) -> Report:
    """:func:`verify` with its options already grouped."""
    with verify_settings():
        try:
            plan = make_plan(fn, options)
        except VerificationError as error:  # the Function hung on the example while probed
            if raise_on_failure:
                raise
            return error.report
        report = run_plan(plan, progress=progress, on_sample=on_sample)
    if not report.passed and raise_on_failure:
        raise VerificationError(report.failure_text(), report)
    return report
