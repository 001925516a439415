"""Time limits on the user's code: a Function that never returns is a finding, not a wait.

:func:`time_limit` runs a block under a deadline (a ``SIGALRM`` timer, in the main thread of a
platform that has one): when it passes, :class:`Hang` is raised where the code is running.
``Hang`` is a ``BaseException``, so it passes through Hypothesis at once (no shrinking of a
sample that takes a minute each time) and is reported by the driver with the sample.
Limits nest: time spent inside an inner limit (the oracle's) does not count against the outer
one (the Function's). Code that hangs inside a C extension without returning to Python cannot
be interrupted this way; the command line adds a hard backstop for that.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["DEFAULT_TIMEOUT", "Hang", "check_timeout", "time_limit", "usable"]

#: seconds one check may spend in the Function on one sample (and the oracle in answering one
#: question), by default: samples are small, so a correct Function takes milliseconds
DEFAULT_TIMEOUT = 60.0


class Hang(BaseException):
    """``who`` did not return within ``seconds``."""

    def __init__(self, who: str, seconds: float) -> None:
        super().__init__(f"{who} did not return within {seconds:g} s (a hang)")
        self.who = who
        self.seconds = seconds


@dataclass
class _Scope:
    who: str
    seconds: float
    deadline: float


_scopes: list[_Scope] = []


def usable() -> bool:
    """Can deadlines be enforced here (a SIGALRM timer, in the main thread)?"""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def check_timeout(timeout: object) -> float | None:
    """``timeout=`` validated: seconds > 0, or None for no limit."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"timeout must be seconds (a number) or None, got timeout={timeout!r}")
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError(f"timeout must be a finite number of seconds > 0, got timeout={timeout!r}")
    return float(timeout)


def _arm() -> None:
    """Set the timer to the innermost scope's deadline (or clear it)."""
    if not _scopes:
        signal.setitimer(signal.ITIMER_REAL, 0)
        return
    remaining = _scopes[-1].deadline - time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, max(remaining, 1e-3))


def _expired(signum: int, frame: object) -> None:
    if _scopes:
        scope = _scopes[-1]
        if time.monotonic() >= scope.deadline - 1e-3:
            raise Hang(scope.who, scope.seconds)
        _arm()  # a stale alarm: set it again


@contextmanager
def time_limit(seconds: float | None, who: str) -> Iterator[None]:
    """Run the block with at most ``seconds`` (None: no limit) before :class:`Hang` naming
    ``who`` is raised in it. Where deadlines cannot be enforced (see :func:`usable`), the
    block runs without one."""
    if seconds is None or not usable():
        yield
        return
    started = time.monotonic()
    outermost = not _scopes
    if outermost:  # someone else's timer (pytest-timeout's) is put back afterwards
        previous = signal.signal(signal.SIGALRM, _expired)
        theirs = signal.getitimer(signal.ITIMER_REAL)[0]
    _scopes.append(_Scope(who, seconds, started + seconds))
    _arm()
    try:
        yield
    finally:
        _scopes.pop()
        spent = time.monotonic() - started
        for scope in _scopes:  # an inner scope's time is not the outer scopes' code's
            scope.deadline += spent
        _arm()
        if outermost:
            signal.signal(signal.SIGALRM, previous)
            if theirs:
                signal.setitimer(signal.ITIMER_REAL, max(theirs - spent, 1e-3))
