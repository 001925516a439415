"""verify() inside pytest: one test item per check.

``test_swish = verification_tests(Swish.apply, symbolic=...)`` (any ``verify()`` arguments)
in a test module is collected as ``test_swish[meta]``, ``test_swish[gradients]``, ... : a
skipped check is a pytest skip with its reason, a failed one shows the shrunk sample and the
reproduce snippet as its failure text. ``-k gradients``, ``-x``, ``--lf`` and ``-n`` (with
pytest-xdist) work as for any test. Unless the call says otherwise, the active Hypothesis
settings profile decides ``max_examples``, ``derandomize`` and the example database (failing
samples are saved and replayed first next time), and ``--hypothesis-seed`` seeds random runs.

Registered as a pytest plugin (entry point ``pytest11``): it adds the ``verification``
marker every generated item carries (``pytest -m verification``) and a header line, and hands
each item's Hypothesis run statistics to Hypothesis's own pytest plugin, so
``--hypothesis-show-statistics`` lists every check's draws as it does for ``@given`` tests.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import pytest

__all__ = ["verification_tests"]


def _profile_options(options: dict[str, Any]) -> dict[str, Any]:
    """max_examples, derandomize, database and seed from the active Hypothesis profile and
    --hypothesis-seed, where the call does not set them."""
    from hypothesis import core, settings

    active = settings.default
    chosen = dict(options)
    chosen.setdefault("max_examples", active.max_examples)
    if "thorough" not in options and "derandomize" not in options:
        chosen["derandomize"] = active.derandomize
        if not active.derandomize:
            # a random run: failing samples saved in the profile's database are replayed first,
            # and --hypothesis-seed fixes the draws after them (the same seed draws the same
            # samples with or without a database)
            if active.database is not None:
                chosen.setdefault("database", active.database)
            if core.global_force_seed is not None:
                chosen.setdefault("seed", int(core.global_force_seed))
    return chosen


def _located_at(filename: str, line: int) -> Callable[[], None]:
    """An object whose code sits at ``filename:line``: pytest reports an item's location (and
    its skips) where its ``place_as`` object's code is: the user's own line."""

    def here() -> None:
        pass

    here.__code__ = here.__code__.replace(co_filename=filename, co_firstlineno=line)
    return here


#: checks left out at collection, per test: they cannot apply to this Function on this
#: machine (a summary line at the end of the run says which and why)
NOT_APPLICABLE: dict[str, dict[str, str]] = {}


def verification_tests(fn: Callable[..., Any], **options: Any) -> Callable[[str], None]:
    """A pytest test function, parametrized over verify()'s checks, for ``fn``.

    Assign it to a ``test_*`` name in a test module. ``options`` are ``verify()``'s; misuse
    (a bad argument, an example fn rejects) is raised at once, at collection. Checks that
    cannot apply to this Function on this machine (opcheck for a Function that is not a custom
    op, CUDA without a GPU, a check the call skips) are left out at collection, with one
    summary line at the end of the run; the others are one item each. Items run the whole
    plan once (its samples are shared by the checks), so a root cause several checks meet
    fails its first check in full and the others in one line (``blocked: ...``).
    """
    from legendre_verify.verification.driver import make_plan, run_planned_check

    for key in ("progress", "on_sample", "raise_on_failure", "fail_fast"):
        if key in options:
            raise TypeError(f"verification_tests() runs one check per item: {key}= has no use")
    caller = sys._getframe(1)
    place = _located_at(caller.f_code.co_filename, caller.f_lineno)
    plan = make_plan(fn, **_profile_options(options))
    runnable = [name for name in plan.names if name not in plan.skipped]
    left_out = {name: reason for name, reason in plan.skipped.items()}

    @pytest.mark.verification
    @pytest.mark.parametrize("check", runnable)
    def test(check: str) -> None:
        # the plan as collection left it (only the kept items' checks: see below)
        result = run_planned_check(test._legendre_verify_plan, check)  # type: ignore[attr-defined]
        if result.status == "skipped":
            raise pytest.skip.Exception(result.message, _use_item_location=True)
        if result.status == "blocked":
            pytest.fail(result.message, pytrace=False)
        if result.status == "failed":
            pytest.fail(result.details, pytrace=False)

    test.__doc__ = f"verify({plan.subject.name}), one item per check."
    test._legendre_verify_check = True  # type: ignore[attr-defined]
    test._legendre_verify_left_out = left_out  # type: ignore[attr-defined]
    test._legendre_verify_plan = plan  # type: ignore[attr-defined]
    test.place_as = place  # type: ignore[attr-defined]
    return test


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "verification: a verify() check generated by verification_tests()"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Run a verification test's whole plan on its first item (its draws serve every check),
    collecting the statistics of each Hypothesis run inside it the way Hypothesis's plugin does
    for a ``@given`` test, and give every item those of the runs that served its check: its
    group's exploration and its shrinking. Hypothesis's ``pytest_runtest_makereport`` and
    ``pytest_terminal_summary`` then report them (``--hypothesis-show-statistics``, JUnit XML
    properties, through pytest-xdist too). torch.compile's DEBUG trace is kept out of the
    captured logs of a failure."""
    obj = getattr(item, "obj", None)
    plan = getattr(obj, "_legendre_verify_plan", None)
    if getattr(obj, "_legendre_verify_check", False) is not True or plan is None:
        return (yield)
    from hypothesis.statistics import collector, describe_statistics

    from legendre_verify.verification.driver import run_plan

    trace = logging.getLogger("torch.__trace")  # torch.compile's DEBUG trace: not the finding
    propagate, trace.propagate = trace.propagate, False
    try:
        if plan.outcome is None:
            collected: list[dict[str, Any]] = []
            with collector.with_value(collected.append):
                plan.outcome = run_plan(plan)
            plan.statistics = collected  # type: ignore[attr-defined]
        check = item.callspec.params.get("check") if hasattr(item, "callspec") else None
        mine = [
            stats
            for served, stats in zip(plan.runs, getattr(plan, "statistics", []), strict=False)
            if check in served
        ]
        if mine:
            for stats in mine:
                stats["nodeid"] = item.nodeid
            texts = [describe_statistics(stats) for stats in mine]
            # one heading (the item's id) over the runs' phases
            texts[1:] = [t.split("\n", 1)[1] if "\n" in t else t for t in texts[1:]]
            item.hypothesis_statistics = "\n".join(texts)  # type: ignore[attr-defined]
        return (yield)
    finally:
        trace.propagate = propagate


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Note, per verification test, the checks left out at collection (for the summary)."""
    for item in items:
        obj = getattr(item, "obj", None)
        left_out = getattr(obj, "_legendre_verify_left_out", None)
        if left_out:
            name = item.nodeid.split("[", 1)[0]
            NOT_APPLICABLE[name] = left_out


def pytest_collection_finish(session: pytest.Session) -> None:
    """Each verification test runs only the checks of its items that were kept (``-k``,
    ``--lf``, a node id): ``pytest -k gradients`` waits for the gradients check alone."""
    from legendre_verify.verification.driver import restrict

    kept: dict[int, tuple[Any, set[str]]] = {}
    for item in session.items:
        obj = getattr(item, "obj", None)
        plan = getattr(obj, "_legendre_verify_plan", None)
        if getattr(obj, "_legendre_verify_check", False) is not True or plan is None:
            continue
        check = item.callspec.params.get("check") if hasattr(item, "callspec") else None
        kept.setdefault(id(obj), (obj, set()))[1].add(check)
    for obj, names in kept.values():
        plan = obj._legendre_verify_plan
        if set(plan.names) - names and plan.outcome is None:
            obj._legendre_verify_plan = restrict(plan, names)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line for the checks verification_tests() left out as not applicable here."""
    if not NOT_APPLICABLE:
        return
    reasons: dict[str, set[str]] = {}
    for left_out in NOT_APPLICABLE.values():
        for check, reason in left_out.items():
            reasons.setdefault(check, set()).add(reason)
    total = sum(len(v) for v in NOT_APPLICABLE.values())
    shown = "; ".join(
        f"{check} ({' / '.join(sorted(r.split(': ')[0] for r in why))})"
        for check, why in sorted(reasons.items())
    )
    terminalreporter.write_line(
        f"legendre-verify: {total} checks not applicable here were left out at collection "
        f"({len(NOT_APPLICABLE)} verification tests): {shown}"
    )


def pytest_report_header(config: pytest.Config) -> str:
    from hypothesis import settings

    return f"legendre-verify: verification_tests() use the Hypothesis profile {settings._current_profile!r}"
