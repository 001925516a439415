"""Where a default verify() spends its time: per check (the report's seconds) and per phase,
exclusive (Hypothesis's own work; drawing samples; the Function; the truth; measuring
tolerances, the truth's runs for it included; the checks' own comparisons and bookkeeping),
for P3, LinearFunction, an attention Function and a sort: warm (the second run in one
process) and, with --fresh, the first run in a fresh process (import included).

    python benchmarks/tools/profile_verify.py [--fresh] [--repeat N]

The four Functions are ``benchmarks/verify_subjects.py``'s (the asv ``Verify`` benchmark's).
Warm: the median of ``--repeat`` runs after one untimed run; fresh: ``--repeat`` fresh
processes (``python benchmarks/verify_subjects.py NAME``), import included, median, next to
the floors no verify can go under (a fresh process that only imports torch, torch and dynamo,
every module a default verify loads), each with the seconds the interpreter's exit takes
(after the last atexit hook: the teardown of those modules).
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
    import torch

    def wrapper(*args, **kwargs):
        if torch.compiler.is_compiling():  # the compile check traces the Function: no clock
            return function(*args, **kwargs)
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


#: what a fresh process of each row runs: the floors (imports only) and the four verifies
_ATEXIT_STAMP = (
    "import atexit, sys, time\n"
    "atexit.register(lambda: print('EXITING', time.time(), file=sys.stderr))\n"
)
FLOORS = {
    "python, nothing imported": "pass",
    "import torch": "import torch",
    "import torch, torch._dynamo": "import torch, torch._dynamo",
    "every module a default verify imports, nothing run": (
        "import torch, torch._dynamo, sympy, hypothesis, networkx\n"
        "import torch._functorch.aot_autograd, torch.fx.experimental.symbolic_shapes\n"
        "import legendre_verify.verification.driver, legendre_verify.verification.symbolic"
    ),
}


def _fresh_once(code: str) -> tuple[float, float]:
    """(wall seconds, of which the interpreter's exit after the last atexit hook) of one fresh
    ``python -c code``."""
    import verify_subjects  # on sys.path: subjects() put it there

    started = time.time()
    done = subprocess.run(
        [sys.executable, "-c", _ATEXIT_STAMP + code],
        check=True,
        capture_output=True,
        text=True,
        env=verify_subjects.fresh_env(),
    )
    ended = time.time()
    stamp = [line for line in done.stderr.splitlines() if line.startswith("EXITING ")][-1]
    return ended - started, ended - float(stamp.split()[1])


def fresh(label: str, code: str, repeat: int) -> None:
    """One row: the median of ``repeat`` fresh processes after one untimed run (it fills the
    bytecode and inductor's disk caches, as a user's second run finds them)."""
    runs = [_fresh_once(code) for _ in range(repeat + 1)][1:]
    walls = sorted(w for w, _ in runs)
    exits = sorted(e for _, e in runs)
    print(
        f"| {label} | {walls[len(walls) // 2]:.2f} | {walls[0]:.2f}–{walls[-1]:.2f} "
        f"| {exits[len(exits) // 2]:.2f} |",
        flush=True,
    )


def _subject_code(name: str) -> str:
    script = Path(__file__).resolve().parents[1] / "verify_subjects.py"
    return f"import runpy, sys\nsys.argv = [{str(script)!r}, {name!r}]\n" + (
        f"runpy.run_path({str(script)!r}, run_name='__main__')"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="fresh processes, not phases")
    parser.add_argument("--repeat", type=int, default=3, help="runs per Function (median)")
    args = parser.parse_args()
    names = list(subjects())
    if args.fresh:
        print("| fresh process | wall s (median) | range | of it, the interpreter's exit s |")
        print("|---|---|---|---|")
        for label, code in FLOORS.items():
            fresh(label, code, args.repeat)
        for name in names:
            fresh(f"{name}: a default verify", _subject_code(name), args.repeat)
        return
    instrument()
    print("| Function | warm s | " + " | ".join(PHASES) + " | slowest checks (s) |")
    print("|---|---|" + "---|" * len(PHASES) + "---|")
    for name in names:
        profile(name, args.repeat)


if __name__ == "__main__":
    main()
