"""Seconds for a default, passing ``verify()`` of four Functions (issue #20): P3 (sympy truth),
LinearFunction (against F.linear, drawn shapes), an attention Function (q, k, v, scale, causal;
against scaled_dot_product_attention) and SortFunction (values and indices). ``Verify`` times
the warm steady state (one verify of the same Function already ran in the process: imports,
Hypothesis' and torch's first calls, the compile check's caches); ``VerifyCold`` a fresh
process, import included (what one CI job pays per Function). Goals (issue #20, 2 cores):
warm <= 1 s for P3 and LinearFunction, <= 2 s for attention; fresh process <= 4 s."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from .common import REDUCED, SMOKE, once
from .verify_subjects import NAMES, fresh_env, subject

SUBJECTS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "verify_subjects.py")


def _subject_or_skip(name: str):
    try:
        return subject(name)
    except (ImportError, ValueError) as error:  # a commit without it: no point, not a failure
        raise NotImplementedError(f"{name}: {error}") from error


class Verify:
    params = ["P3", "SortFunction"] if SMOKE else NAMES
    param_names = ["function"]
    number = 1
    # seconds a sample: the median of 3 (2 where one verify takes over 10 s)
    repeat = (2, 3, 20.0) if REDUCED else (3, 5, 60.0)
    warmup_time = 0.0
    processes = 1
    timeout = 900

    def setup(self, function):
        def first():
            from legendre_verify import verify

            fn, options, _ = _subject_or_skip(function)
            verify(fn, **options)  # first call: imports, compiles, Hypothesis' set-up
            return fn, options

        self.fn, self.options = once(("Verify", function), first)
        from legendre_verify import verify

        self.verify = verify

    def time_verify(self, function):
        self.verify(self.fn, **self.options)


class VerifyCold:
    """``python verify_subjects.py NAME`` in a fresh process: import and one default verify,
    wall seconds (median of 3 in the full mode, 1 run reduced), after one untimed run that
    fills the disk caches a user's second run finds (bytecode, inductor's; not in the smoke
    run)."""

    params = ["P3"] if SMOKE else (["P3", "LinearFunction"] if REDUCED else NAMES)
    param_names = ["function"]
    unit = "seconds"
    number = 1
    repeat = 1
    processes = 1
    timeout = 900

    def setup(self, function):
        _subject_or_skip(function)
        self.runs = 1 if REDUCED else 3
        if not SMOKE:
            self._fresh(function)  # untimed: the disk caches

    def _fresh(self, function) -> float:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, SUBJECTS_FILE, function],
            check=True,
            capture_output=True,
            timeout=self.timeout,
            env=fresh_env(),
        )
        return time.perf_counter() - start

    def track_cold_seconds(self, function):
        return statistics.median(self._fresh(function) for _ in range(self.runs))
