"""The Hypothesis engine, in two moves: :func:`explore` draws samples and hands each to the
caller (nothing is shrunk, so one draw serves every check of a group), and :func:`shrink`
replays one failing draw and shrinks it for one check, within a budget. The only module that
knows Hypothesis's settings, seeds, phases and example databases.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from hypothesis.control import current_build_context
from hypothesis.database import InMemoryExampleDatabase, choices_to_bytes
from hypothesis.errors import Flaky, FlakyFailure

__all__ = ["Choices", "explore", "shrink"]

#: the choices Hypothesis made to draw one sample: replayed, they draw it again
Choices = tuple[Any, ...]


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


def _settings(**overrides: Any) -> settings:
    return settings(
        deadline=None,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        **overrides,
    )


def explore(
    strategy: st.SearchStrategy[Any],
    examples: int,
    visit: Callable[[Any, Choices], None],
    *,
    derandomize: bool,
    seed: int | None,
    database: Any,
    key: bytes,
) -> None:
    """Draw up to ``examples`` samples and call ``visit(sample, choices)`` on each; a random
    run (``derandomize=False``) first replays what ``database`` holds under ``key`` (samples
    that failed before), and ``seed`` fixes its draws. ``visit`` judges; nothing raised by it
    is shrunk (a :class:`~legendre_verify.verification.limits.Hang`, a ``BaseException``,
    passes through at once)."""

    @_settings(
        max_examples=examples,
        derandomize=derandomize,
        database=None if derandomize else database,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )
    @given(strategy)
    def draw(sample: Any) -> None:
        visit(sample, tuple(current_build_context().data.choices))

    draw._hypothesis_internal_database_key = key  # type: ignore[attr-defined]
    if seed is not None:  # what @seed sets, without the database=None @seed adds: a seeded
        # random run still replays the database's failing draws first
        draw._hypothesis_internal_use_seed = seed  # type: ignore[attr-defined]
    with _without_local_constants():
        draw()


class _StillFails(AssertionError):
    """Raised inside :func:`shrink`'s test when a candidate still fails."""


class _OutOfTime(BaseException):
    """Leaves Hypothesis's shrinker at once when the shrinking time is spent (a
    BaseException: Hypothesis lets it through, as it does KeyboardInterrupt)."""


def shrink(
    strategy: st.SearchStrategy[Any],
    choices: Choices,
    fails: Callable[[Any], bool],
    *,
    seconds: float,
    database: Any = None,
    key: bytes = b"",
) -> tuple[Any, bool] | None:
    """Replay the draw ``choices`` and shrink it while ``fails(sample)``, for at most
    ``seconds`` (then the smallest failing sample found so far stands: every other candidate
    is let pass). Returns (the minimal sample, whether it was shrunk at all), or None when the
    replayed draw does not fail (the Function is nondeterministic). A ``database`` (random
    runs) keeps the minimal draw under ``key``, to be replayed first next time."""
    memory = InMemoryExampleDatabase()
    own_key = b"legendre-verify-shrink"
    # the secondary corpus: replayed, then shrunk (an entry of the primary one counts as
    # shrunk already, and Hypothesis would stop at it)
    memory.save(own_key + b".secondary", choices_to_bytes(choices))
    started = time.monotonic()
    best: list[Choices] = [choices]
    minimal: list[Any] = []
    calls = 0

    @_settings(
        database=memory,
        phases=[Phase.reuse, Phase.shrink],
        max_examples=100,
        derandomize=False,
    )
    @given(strategy)
    def replay(sample: Any) -> None:
        nonlocal calls
        current = tuple(current_build_context().data.choices)
        if time.monotonic() - started > seconds and current != best[0]:
            raise _OutOfTime  # the best draw so far stands: no candidate is drawn in vain
        calls += 1
        if fails(sample):
            best[0] = current
            minimal[:] = [sample]
            raise _StillFails

    replay._hypothesis_internal_database_key = own_key  # type: ignore[attr-defined]
    # the shrinker's own random choices fixed: the same failure shrinks the same way each run
    # (what @seed sets, without the database=None that @seed adds)
    replay._hypothesis_internal_use_seed = 0  # type: ignore[attr-defined]
    try:
        with _without_local_constants():
            replay()
    except (_StillFails, _OutOfTime):
        pass
    except (Flaky, FlakyFailure):
        return None if not minimal else (minimal[0], best[0] != choices)
    if not minimal:
        return None
    remember(database, key, best[0])
    return minimal[0], best[0] != choices


def remember(database: Any, key: bytes, choices: Choices) -> None:
    """Keep the failing draw ``choices`` under ``key`` in ``database`` (if any): the next
    random run replays it first."""
    if database is not None:
        database.save(key, choices_to_bytes(choices))
