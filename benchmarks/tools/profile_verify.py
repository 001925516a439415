"""Where a default verify() spends its time: per check (the report's seconds) and per phase,
exclusive (Hypothesis's own work; drawing samples; the Function; the truth; measuring
tolerances, the truth's runs for it included; the checks' own comparisons and bookkeeping),
for P3, LinearFunction, an attention Function and a sort: warm (the second run in one
process) and, with --fresh, the first run in a fresh process (import included).

    python benchmarks/tools/profile_verify.py [--fresh] [--repeat N]

The four Functions are ``benchmarks/verify_subjects.py``'s (the asv ``Verify`` benchmark's).
Warm: the median of ``--repeat`` runs after one untimed run; fresh: ``--repeat`` fresh
processes (``python benchmarks/verify_subjects.py NAME``), import included, median.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

PHASES = ("hypothesis", "drawing", "the Function", "the truth", "tolerances", "checks")
_clock: dict[str, float] = defaultdict(float)
_stack: list[list] = []  # [phase, started]


def _enter(phase: str) -> bool:
    now = time.perf_counter()
    if _stack and (
        _stack[-1][0] == phase or (_stack[-1][0] == "tolerances" and phase == "the truth")
    ):
        return False  # counted where it is nested
    if _stack:
        _clock[_stack[-1][0]] += now - _stack[-1][1]
    _stack.append([phase, now])
    return True


def _leave() -> None:
    now = time.perf_counter()
    phase, started = _stack.pop()
    _clock[phase] += now - started
    if _stack:
        _stack[-1][1] = now


def _wrapped(function, phase):
    def wrapper(*args, **kwargs):
        entered = _enter(phase)
        try:
            return function(*args, **kwargs)
        finally:
            if entered:
                _leave()

    return wrapper


def subjects():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import verify_subjects

    return {name: verify_subjects.subject(name)[:2] for name in verify_subjects.NAMES}


def instrument() -> None:
    from legendre_verify.verification import driver, expectations, oracles, search, strategies
    from legendre_verify.verification.checks import base

    search.explore = _wrapped(search.explore, "hypothesis")
    driver.explore = search.explore
    driver.shrink = _wrapped(search.shrink, "hypothesis")
    strategies.draw_tensor = _wrapped(strategies.draw_tensor, "drawing")
    strategies.indices = _wrapped(strategies.indices, "drawing")
    oracles.Oracle.ask = _wrapped(oracles.Oracle.ask, "the truth")
    expectations.scales = _wrapped(expectations.scales, "tolerances")
    base.run_check = _wrapped(base.run_check, "checks")
    driver.run_check = base.run_check
    build = driver.build_subject

    def build_timed(fn, **options):
        subject = build(fn, **options)
        subject.fn = _wrapped(subject.fn, "the Function")
        return subject

    driver.build_subject = build_timed


def profile(name: str, repeat: int) -> None:
    from legendre_verify import verify

    fn, options = subjects()[name]
    verify(fn, **options)  # the first run's one-time costs out of the way
    runs = []
    for _ in range(repeat):
        _clock.clear()
        started = time.perf_counter()
        report = verify(fn, **options)
        runs.append((time.perf_counter() - started, dict(_clock), report))
    total, clock, report = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    cells = " | ".join(f"{clock.get(p, 0.0):.2f}" for p in PHASES)
    slow = sorted(((r.seconds, r.name) for r in report.results if r.seconds >= 0.05), reverse=True)
    checks = ", ".join(f"{n} {s:.2f}" for s, n in slow[:5])
    print(f"| {name} | {total:.2f} | {cells} | {checks} |", flush=True)


def fresh(name: str, repeat: int) -> None:
    script = Path(__file__).resolve().parents[1] / "verify_subjects.py"
    import verify_subjects  # on sys.path: subjects() put it there

    times = []
    for _ in range(repeat + 1):  # the first one fills bytecode and inductor's disk caches
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, str(script), name],
            check=True,
            capture_output=True,
            env=verify_subjects.fresh_env(),
        )
        times.append(time.perf_counter() - started)
    kept = sorted(times[1:])
    print(f"| {name} | {kept[len(kept) // 2]:.2f} | {kept[0]:.2f}–{kept[-1]:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="fresh processes, not phases")
    parser.add_argument("--repeat", type=int, default=3, help="runs per Function (median)")
    args = parser.parse_args()
    names = list(subjects())
    if args.fresh:
        print("| Function | fresh process s (median) | range |\n|---|---|---|")
        for name in names:
            fresh(name, args.repeat)
        return
    instrument()
    print("| Function | warm s | " + " | ".join(PHASES) + " | slowest checks (s) |")
    print("|---|---|" + "---|" * len(PHASES) + "---|")
    for name in names:
        profile(name, args.repeat)


if __name__ == "__main__":
    main()
