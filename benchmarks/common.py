"""Shared by the asv benchmarks: modes and parameter sets, seeded inputs, the steady-state
warm-up, CUDA-aware parameters and sync.

Modes (environment variables, read when asv imports the suite):

- full (default): every size (2,000 / 1M / 10M elements), degree and method;
- ``ASV_REDUCED=1`` (``nox -s benchmarks -- --reduced``, ``nox -s benchmarks_aa``): 2,000 and
  1M elements, degrees P3 / 10 / 32, fewer methods, one torch thread, the same steady-state
  timing; about 4-5 min for the whole suite on 2 cores, for histories and the A/A check;
- ``ASV_SMOKE=1`` (``nox -s bench_smoke``, CI): the smallest sets, run once with ``--quick``
  to prove every benchmark imports and runs; its figures mean nothing.

``ASV_SIZES=2000,1000000`` and ``ASV_DEGREES=P3,3,10`` override the sizes and degrees of any
mode; ``ASV_THREADS=N`` sets torch's thread count (default: all cores, 1 in the reduced mode).

Timing rule (issue #21): a ``time_*`` benchmark times the steady state it names. Everything
that happens once per process (first calls, lazy imports, the tiered dispatcher's background
build and its first-call check, torch.compile, Hypothesis' and scipy's set-up) happens in
``setup`` through :func:`steady`, which runs once per process: asv re-runs ``setup`` before
every sample (and, with this asv_runner, before every call when ``number`` > 1). One-time costs
have their own ``track_*`` benchmarks measured in fresh processes (``ColdStart``,
``TrainColdStart``, ``Verify.track_cold_seconds``).
"""

from __future__ import annotations

import ctypes
import math
import os
import time
from collections.abc import Callable, Hashable
from typing import Any

import torch

try:  # absent before the tiered dispatcher: then nothing is compiled in the background
    from legendre_verify.legendre import dispatch
except ImportError:  # pragma: no cover - older commits in a history
    dispatch = None


def _steady_malloc() -> bool:
    """Keep freed memory for reuse instead of returning it to the OS (glibc's ``mallopt``: a
    fixed 32 MiB mmap threshold, no trimming below 1 GiB), so a steady-state call's
    temporaries land in pages already mapped. With glibc's dynamic thresholds whether a 4-8 MB
    temporary is faulted in anew each call depends on the process's allocation history: P3's
    second-order backward at 1M elements took 457 to 7,238 page faults a call in six fresh
    processes (4.0 to 18.9 ms), with this none (2.4-3.9 ms float32, 7.0-8.3 ms float64).
    Arrays over 32 MiB (10M elements) are still mapped and faulted in on every call, as in a
    user's process. Done at import: forked benchmark processes inherit it."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(
        libc.mallopt(m_mmap_threshold, 32 << 20) and libc.mallopt(m_trim_threshold, 1 << 30)
    )


STEADY_MALLOC = _steady_malloc()
SMOKE = os.environ.get("ASV_SMOKE") == "1"
REDUCED = SMOKE or os.environ.get("ASV_REDUCED") == "1"
HAS_CUDA = torch.cuda.is_available()
# CUDA parameters exist only where a CUDA run can exist: a CPU-only machine's results and
# pages have no empty CUDA rows
DEVICES = ["cpu", "cuda"] if HAS_CUDA else ["cpu"]

#: torch's threads: all cores in the full mode; one in the reduced mode, whose figures must
#: hold on a 2-core machine that other work shares. With 2 threads each parallel operation
#: waits for both threads' time slices: one other busy process made P_10's eager forward and
#: backward (1M float32, hundreds of small parallel operations) 35-150 ms a call with 5 s
#: outliers, against 10-13 ms single-threaded (and 1.25 s against 7 ms between two A/A runs).
THREADS = int(os.environ.get("ASV_THREADS") or (1 if REDUCED else 0))
if THREADS:
    torch.set_num_threads(THREADS)
    # the fresh processes of the cold-start benchmarks use the same count
    os.environ["OMP_NUM_THREADS"] = str(THREADS)


def _env_list(name: str, default: str) -> list[str]:
    return [v.strip() for v in os.environ.get(name, default).split(",") if v.strip()]


if SMOKE:
    _SIZES, _DEGREES = "2000", "P3,10"
elif REDUCED:
    _SIZES, _DEGREES = "2000,1000000", "P3,10,32"
else:
    _SIZES, _DEGREES = "2000,1000000,10000000", "P3,3,10,32,100"
SIZES = [int(s) for s in _env_list("ASV_SIZES", _SIZES)]
DTYPES = ["float32", "float64"]
# "P3" is LegendrePolynomial3; integers are legendre_p(x, n)
DEGREES = [d if d == "P3" else int(d) for d in _env_list("ASV_DEGREES", _DEGREES)]
# degrees of the baselines that take an integer n (torch.special, scipy)
BASELINE_DEGREES = [d for d in DEGREES if d != "P3"] or [3]
SEED = 0

#: seconds one sample should last (asv's own default is 10 ms): ``number`` calls make it up
SAMPLE_SECONDS = 0.02 if REDUCED else 0.05
#: processes per timed benchmark (asv's ``rounds``): asv runs round 1 of every benchmark, then
#: round 2 ..., so a benchmark's samples come from processes minutes apart and its median (what
#: asv records) is not one moment's luck on a shared machine. Measured on 2,000 elements (P3
#: forward, ~10 us): one process's medians moved 9.9 -> 13.6 -> 12.5 us within seconds while
#: another program ran on the other core.
ROUNDS = 3 if REDUCED else 2
#: (min_repeat, max_repeat, max_time) per round, for timings of milliseconds and less: with
#: ROUNDS, 15-21 samples reduced, 14-30 full
REPEAT = (5, 7, 2.0) if REDUCED else (7, 15, 10.0)
#: for calls of 10 ms and more (10M elements, eager high degrees)
REPEAT_SLOW = (3, 5, 3.0) if REDUCED else (5, 10, 20.0)
#: asv's own warm-up before sampling, after setup's: transient effects (caches, frequency)
WARMUP_SECONDS = 0.05 if REDUCED else 0.2


def dtype_of(name: str) -> torch.dtype:
    return getattr(torch, name)


def make_input(
    size: int, dtype: str, device: str, low: float = -1.0, high: float = 1.0
) -> torch.Tensor:
    """Seeded uniform values on [low, high], on the device."""
    generator = torch.Generator().manual_seed(SEED)
    x = torch.rand(size, generator=generator, dtype=torch.float64) * (high - low) + low
    return x.to(device=device, dtype=dtype_of(dtype))


#: inputs of at most this many elements are timed over ALIGNMENTS copies (see make_inputs)
SMALL = 100_000
ALIGNMENTS = 16


def make_inputs(size: int, dtype: str, device: str) -> list[torch.Tensor]:
    """:func:`make_input`'s values in ``ALIGNMENTS`` copies, each in a buffer of its own at
    its own offset (16 elements apart), for sizes up to :data:`SMALL`; else the one tensor.

    A call of tens of µs depends on where its input and output land relative to each other
    (cache-set and 4K aliasing): one fresh process timed P3's forward at 2,000 float32 at
    13.3 µs, the next at 23.7 µs, the same code (five processes: 13.3-23.7 µs), which made
    the A/A check's 2,000-element rows differ by up to 1.8x between two runs. Timed in turn
    over 16 placements (:class:`Cycle`), five processes read 20.0-21.2 µs."""
    x = make_input(size, dtype, device)
    if size > SMALL:
        return [x]
    copies = []
    for k in range(ALIGNMENTS):
        buffer = torch.empty(size + 16 * k, dtype=x.dtype, device=x.device)
        copies.append(buffer.narrow(0, 16 * k, size).copy_(x))
    return copies


class Cycle:
    """Its items in turn, one per call (the timed calls rotate over :func:`make_inputs`)."""

    def __init__(self, items: list[Any]) -> None:
        self.items, self.next = list(items), 0

    def __call__(self) -> Any:
        item = self.items[self.next]
        self.next = (self.next + 1) % len(self.items)
        return item


def sync(device: str) -> None:
    """Wait for queued CUDA work, so a GPU timing covers the work and not just its launch."""
    if device == "cuda":
        torch.cuda.synchronize()


# ---------------------------------------------------------------------------------------------
# Steady state


_ONCE: dict[Hashable, Any] = {}


def once(key: Hashable, make: Callable[[], Any]) -> Any:
    """``make()``, run once per process for ``key``: asv runs ``setup`` before every sample
    (with this asv_runner, before every call when ``number`` > 1), and each benchmark runs
    in a process of its own, so this is once per benchmark and parameter set."""
    if key not in _ONCE:
        _ONCE[key] = make()
    return _ONCE[key]


def _unsettled_kernels() -> list[str]:
    """The dispatcher's kernels that are not in their final state yet: eager but counting
    towards a build, building, or built and not yet checked (its next call checks it)."""
    if dispatch is None or not hasattr(dispatch, "compile_status"):
        return []
    return [
        k.name
        for k in dispatch.compile_status().kernels
        if k.state in ("eager", "pending", "ready")
    ]


def _wait_for_builds() -> None:
    if dispatch is not None and hasattr(dispatch.DISPATCHER, "wait"):
        dispatch.DISPATCHER.wait()


def settle(*calls: Callable[[], Any], rounds: int = 3, limit: int = 80, budget: float = 120.0):
    """Call each of ``calls`` (what the benchmark times, with sync) until it is in its steady
    state: at least ``rounds`` times (first calls, lazy imports, allocator and autograd set-up),
    and until every kernel of the tiered dispatcher that they reach is compiled and checked (or
    failed, or stays eager): a kernel turns hot after some calls, builds in a background
    thread (waited for here), and its next call checks it against the float64 truth; a timing
    taken before that would time a build or a check. Returns the seconds of one call of the
    last round, each call (for :func:`number_for`)."""
    started = time.perf_counter()
    last: list[float] = [0.0] * len(calls)
    for i in range(limit):
        for j, call in enumerate(calls):
            t = time.perf_counter()
            call()
            last[j] = time.perf_counter() - t
        _wait_for_builds()
        if i + 1 >= rounds and not _unsettled_kernels():
            break
        if time.perf_counter() - started > budget:
            raise RuntimeError(f"no steady state after {budget:.0f} s: {_unsettled_kernels()}")
    # one more round, timed, in the steady state (the round above may have run the check)
    for j, call in enumerate(calls):
        t = time.perf_counter()
        call()
        last[j] = time.perf_counter() - t
    return last


def number_for(seconds_per_call: float) -> int:
    """``number`` (calls per sample) so that a sample lasts about :data:`SAMPLE_SECONDS`."""
    if seconds_per_call <= 0:
        return 100
    return max(1, min(10_000, math.ceil(SAMPLE_SECONDS / seconds_per_call)))


def steady(benchmark: Any, key: Hashable, build: Callable[[], dict], *timed: str) -> None:
    """Set ``benchmark``'s attributes from ``build()`` (run once per process for ``key``) and
    bring each timed method (names in ``timed``, called with the benchmark's current params)
    to its steady state, once; then set ``benchmark.number`` from the slowest call's time."""

    def make() -> dict:
        state = build()
        for name, value in state.items():
            setattr(benchmark, name, value)
        calls = [_bound(benchmark, name, key) for name in timed]
        seconds = settle(*calls) if calls else [0.0]
        state["number"] = number_for(max(seconds))
        if max(seconds) > 0.01:
            state["repeat"] = REPEAT_SLOW
        return state

    for name, value in once(key, make).items():
        setattr(benchmark, name, value)


def _bound(benchmark: Any, name: str, key: Hashable) -> Callable[[], Any]:
    params = key[1:] if isinstance(key, tuple) else ()
    method = getattr(benchmark, name)
    return lambda: method(*params)
