"""The ratios report: each implementation's time and its ratio to ``clone()`` and to the
tutorial's eager P3, measured side by side in one run (``legendre-verify bench``).

Timing is ``torch.utils.benchmark.Timer`` (median of blocked runs; CUDA synchronised), in
rounds: every case is timed once per round, and a ratio is the median over rounds of the
case's time over the clone's time *in the same round*, so that a shared machine's drift
(seen here: +-20 % within an hour) cancels instead of landing on whichever case ran then.
The asv suite in ``benchmarks/`` follows the same cases across commits.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch.utils import benchmark

from legendre_verify import baselines
from legendre_verify.legendre import LegendrePolynomial3, dispatch, legendre_p

__all__ = [
    "Case",
    "ColdStart",
    "Row",
    "cases",
    "cold_start",
    "format_table",
    "run",
    "speedups_over_special",
]


@dataclass(frozen=True)
class Case:
    """One timed call: ``make(x)`` returns the zero-argument function to time."""

    name: str
    kind: str  # "forward", "backward" or "forward+backward": the tutorial row of that kind
    make: Callable[[torch.Tensor], Callable[[], object]]


@dataclass(frozen=True)
class Row:
    device: str
    name: str
    kind: str
    seconds: float
    vs_clone: float
    vs_tutorial: float


def _forward(
    f: Callable[[torch.Tensor], torch.Tensor],
) -> Callable[[torch.Tensor], Callable[[], object]]:
    return lambda x: lambda: f(x)


def _backward(
    f: Callable[[torch.Tensor], torch.Tensor],
) -> Callable[[torch.Tensor], Callable[[], object]]:
    """Backward alone: one graph, run again and again (retain_graph)."""

    def make(x: torch.Tensor) -> Callable[[], object]:
        xr = x.detach().requires_grad_(True)
        y = f(xr)
        g = torch.ones_like(y)
        return lambda: torch.autograd.grad(y, xr, g, retain_graph=True)

    return make


def _forward_backward(
    f: Callable[[torch.Tensor], torch.Tensor],
) -> Callable[[torch.Tensor], Callable[[], object]]:
    """Forward and backward through autograd, what a training step pays."""

    def make(x: torch.Tensor) -> Callable[[], object]:
        xr = x.detach().requires_grad_(True)
        g = torch.ones_like(x)
        return lambda: torch.autograd.grad(f(xr), xr, g)

    return make


def _passes(name: str, f: Callable[[torch.Tensor], torch.Tensor]) -> list[Case]:
    return [
        Case(name, "forward", _forward(f)),
        Case(name, "backward", _backward(f)),
        Case(name, "forward+backward", _forward_backward(f)),
    ]


def _scipy(n: int) -> Callable[[torch.Tensor], Callable[[], object]]:
    def make(x: torch.Tensor) -> Callable[[], object]:
        array = x.cpu().numpy()
        return lambda: baselines.scipy_legendre(array, n)

    return make


#: torch.special and scipy are timed up to this degree (at n = 1000 one call takes seconds)
BASELINE_MAX_DEGREE = 100


def cases(degrees: Iterable[int] = (3, 10, 32), scipy: bool = True) -> list[Case]:
    """The key cases: clone, tutorial P3, ours, torch.special and scipy at each degree."""
    found = [
        Case("x.clone()", "forward", _forward(baselines.clone)),
        *_passes("tutorial P3 (eager)", baselines.TutorialP3.apply),
        *_passes("LegendrePolynomial3", LegendrePolynomial3.apply),
    ]
    for n in degrees:
        found += _passes(f"legendre_p n={n}", lambda x, n=n: legendre_p(x, n))
        if n > BASELINE_MAX_DEGREE:
            continue
        found.append(
            Case(
                f"torch.special n={n}",
                "forward",
                _forward(lambda x, n=n: baselines.special_legendre(x, n)),
            )
        )
        if scipy:
            found.append(Case(f"scipy eval_legendre n={n}", "forward", _scipy(n)))
    return found


def _time(fn: Callable[[], object], min_run_time: float) -> float:
    # Timer runs single-threaded unless told otherwise: time with every thread torch uses
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time).median


def run(
    devices: Iterable[str] = ("cpu",),
    size: int | None = None,
    dtype: torch.dtype = torch.float32,
    degrees: Iterable[int] = (3, 10, 32),
    min_run_time: float = 0.3,
    rounds: int = 3,
    progress: Callable[[str], None] | None = None,
) -> list[Row]:
    """Time every case on each device, ``rounds`` times round-robin; CPU 10M elements, CUDA
    100M unless ``size`` is given. Times and ratios are medians over the rounds."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be an int >= 1, got rounds={rounds!r}")
    rows = []
    for device in devices:
        n_elements = size or (100_000_000 if device.startswith("cuda") else 10_000_000)
        x = torch.rand(n_elements, generator=torch.Generator().manual_seed(0)).mul_(2).sub_(1)
        x = x.to(device=device, dtype=dtype)
        try:
            import scipy  # noqa: F401

            with_scipy = device == "cpu"
        except ImportError:
            with_scipy = False
        found = cases(degrees, scipy=with_scipy)
        calls = [case.make(x) for case in found]
        for _ in range(dispatch.HOT_CALLS):
            for call in calls:
                call()  # warm up (allocator, lazy init) and make the kernels hot
        dispatch.DISPATCHER.wait()  # the background builds: timings are of the steady state
        for call in calls:
            call()  # the compiled kernels' first call checks them against eager
        times = [[0.0] * rounds for _ in found]  # times[case][round]
        for r in range(rounds):
            for i, (case, call) in enumerate(zip(found, calls, strict=True)):
                times[i][r] = _time(call, min_run_time)
                if progress is not None:
                    message = f"{case.name} {case.kind}: {times[i][r] * 1e3:.2f} ms"
                    progress(f"{device} round {r + 1}/{rounds}: {message}")
        clone = next(times[i] for i, c in enumerate(found) if c.name == "x.clone()")
        tutorial = {c.kind: times[i] for i, c in enumerate(found) if c.name.startswith("tutorial")}

        def ratio(these: list[float], base: list[float]) -> float:
            return statistics.median(t / b for t, b in zip(these, base, strict=True))

        rows += [
            Row(
                device,
                c.name,
                c.kind,
                statistics.median(times[i]),
                ratio(times[i], clone),
                ratio(times[i], tutorial[c.kind]),
            )
            for i, c in enumerate(found)
        ]
    return rows


def speedups_over_special(rows: list[Row]) -> dict[tuple[str, int], float]:
    """(device, n) -> torch.special's forward time over our forward+backward time: how many
    times faster a gradient step is than torch.special's value alone."""
    found = {}
    for r in rows:
        if r.name.startswith("torch.special n="):
            n = int(r.name.removeprefix("torch.special n="))
            ours = next(
                o
                for o in rows
                if (o.device, o.name, o.kind) == (r.device, f"legendre_p n={n}", "forward+backward")
            )
            found[(r.device, n)] = r.vs_clone / ours.vs_clone
    return found


def format_table(rows: list[Row], title: str = "") -> str:
    """A markdown table of times and ratios, then the speed-ups over torch.special."""
    lines = [title] if title else []
    lines += [
        "| device | implementation | pass | time (ms) | × clone | × tutorial P3 (same pass) |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.device} | {r.name} | {r.kind} | {r.seconds * 1e3:.2f} | {r.vs_clone:.2f} | "
            f"{r.vs_tutorial:.2f} |"
        )
    speedups = speedups_over_special(rows)
    if speedups:
        lines.append(
            "\nspeed-up of legendre_p forward+backward (autograd) vs torch.special forward alone: "
            + ", ".join(f"{d} n={n}: {v:.1f}x" for (d, n), v in speedups.items())
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# What a user waits for: a fresh process's first calls (``legendre-verify bench --cold``).

_COLD_SCRIPT = """
import json, sys, time
started = time.perf_counter()
import torch
from legendre_verify.legendre import dispatch, legendre_p
imported = time.perf_counter() - started
n, size, count, wait_after = (int(a) for a in sys.argv[1:5])
x = torch.rand(size, generator=torch.Generator().manual_seed(0)).mul_(2).sub_(1)
calls, states = [], []
for i in range(count):
    start = time.perf_counter()
    legendre_p(x, n)
    calls.append(time.perf_counter() - start)
    kernels = dispatch.compile_status().kernels
    states.append(kernels[0].state if kernels else "eager")
    if i + 1 == wait_after:
        dispatch.DISPATCHER.wait()
kernels = dispatch.compile_status().kernels
build = kernels[0].artifact.seconds if kernels else None
print(json.dumps({"import": imported, "calls": calls, "states": states, "build": build,
                  "wall": time.perf_counter() - started}))
"""


@dataclass(frozen=True)
class ColdStart:
    """One fresh process calling ``legendre_p(x, n)`` ``len(calls)`` times (seconds each)."""

    mode: str
    n: int
    size: int
    import_seconds: float
    calls: list[float]
    states: list[str]  # the kernel's state after each call (eager, pending, ready, compiled)
    build_seconds: float | None  # the compiled kernel's build (None: nothing was built)
    process_seconds: float  # the whole process, interpreter start to exit

    @property
    def first_compiled_call(self) -> int | None:
        """1-based index of the first call that ran compiled (after its check), if any."""
        ready = [i for i, s in enumerate(self.states) if s == "compiled"]
        return ready[0] + 1 if ready else None

    def summary(self) -> str:
        eager = [t for t, s in zip(self.calls, self.states, strict=True) if s != "compiled"]
        compiled = [t for t, s in zip(self.calls, self.states, strict=True) if s == "compiled"]
        parts = [
            f"mode {self.mode}: process {self.process_seconds:.2f} s (import "
            f"{self.import_seconds:.2f} s), first call {self.calls[0] * 1e3:.1f} ms"
        ]
        if len(eager) > 1:
            parts.append(f"eager calls median {statistics.median(eager[1:]) * 1e3:.2f} ms")
        if compiled:
            parts.append(
                f"compiled from call {self.first_compiled_call} "
                f"(build {self.build_seconds:.2f} s), median {statistics.median(compiled[1:] or compiled) * 1e3:.2f} ms"
            )
        return "; ".join(parts)


def cold_start(
    mode: str = "tiered",
    n: int = 10,
    size: int = 1 << 20,
    calls: int = 1,
    wait_after: int = 0,
    cache: str | None = None,
) -> ColdStart:
    """Run a fresh Python process that calls ``legendre_p(x, n)`` ``calls`` times on ``size``
    float32 elements with ``LEGENDRE_VERIFY_COMPILE=mode``, with empty kernel caches (inductor's
    and ours) unless ``cache`` names a directory to keep them in; ``wait_after`` > 0 waits for
    the background build after that call (a user doing other work meanwhile)."""
    import json
    import os
    import subprocess
    import sys
    import tempfile
    import time

    with tempfile.TemporaryDirectory(prefix="legendre-cold-") as empty:
        where = cache or empty
        env = {
            **os.environ,
            "LEGENDRE_VERIFY_COMPILE": mode,
            "LEGENDRE_VERIFY_CACHE_DIR": os.path.join(where, "legendre"),
            "TORCHINDUCTOR_CACHE_DIR": os.path.join(where, "inductor"),
        }
        command = [
            sys.executable,
            "-c",
            _COLD_SCRIPT,
            str(n),
            str(size),
            str(calls),
            str(wait_after),
        ]
        start = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"the cold-start process failed:\n{done.stderr[-2000:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return ColdStart(
        mode, n, size, found["import"], found["calls"], found["states"], found["build"], wall
    )
