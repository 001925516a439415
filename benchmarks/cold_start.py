"""Issue #12's end-to-end measurements in one run (python benchmarks/cold_start.py, ~2 min):
a fresh process's first call per mode, the background build and switch, build seconds per n,
loading from the disk cache, and `legendre-verify train` auto vs eager with empty caches."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

from legendre_verify import bench


def main() -> None:
    print("== fresh process, one legendre_p(x, 10) on 1M float32, empty caches (alternating)")
    walls = {"eager": [], "tiered": []}
    firsts = {"eager": [], "tiered": []}
    for _ in range(4):
        for mode in ("eager", "tiered"):
            r = bench.cold_start(mode, 10, 1 << 20, calls=1)
            walls[mode].append(r.process_seconds)
            firsts[mode].append(r.calls[0])
    for mode in walls:
        print(
            f"{mode}: process median {statistics.median(walls[mode]):.2f} s {[round(w, 2) for w in walls[mode]]}, first call median {statistics.median(firsts[mode]) * 1e3:.1f} ms"
        )
    print(
        f"ratio tiered/eager process: {statistics.median(walls['tiered']) / statistics.median(walls['eager']):.2f}"
    )
    print("== tiered, 300 calls, no waiting")
    r = bench.cold_start("tiered", 10, 1 << 20, calls=300)
    print(r.summary())
    print("== compiled mode (build on first call), empty cache: build seconds per n")
    for n in (10, 100, 1000):
        r = bench.cold_start("compiled", n, 1 << 20, calls=3)
        print(
            f"n={n}: build {r.build_seconds:.2f} s, first call {r.calls[0]:.2f} s, then {r.calls[2] * 1e3:.1f} ms"
        )
    with tempfile.TemporaryDirectory() as keep:
        bench.cold_start("compiled", 10, 1 << 20, calls=1, cache=keep)
        for n in (10, 100, 1000):
            r = bench.cold_start("tiered", n, 1 << 20, calls=2, cache=keep)
            print(
                f"warm cache, tiered n={n}: load {r.build_seconds * 1e3:.1f} ms, first call {r.calls[0] * 1e3:.1f} ms (state {r.states[0]})"
            )
    print("== train: auto vs eager, empty caches (alternating)")
    tw = {"auto": [], "eager": []}
    for _ in range(3):
        for m in ("auto", "eager"):
            with tempfile.TemporaryDirectory() as empty:
                env = {
                    **os.environ,
                    "TORCHINDUCTOR_CACHE_DIR": empty + "/i",
                    "LEGENDRE_VERIFY_CACHE_DIR": empty + "/l",
                }
                t = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, "-m", "legendre_verify", "train", "--method", m],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                tw[m].append(time.perf_counter() - t)
                last = done.stdout.strip().splitlines()[-1]
        print(m, last, done.stderr.strip().splitlines()[-1])
    for m in tw:
        print(f"{m}: median {statistics.median(tw[m]):.2f} s {[round(w, 2) for w in tw[m]]}")
    print(f"ratio auto/eager: {statistics.median(tw['auto']) / statistics.median(tw['eager']):.2f}")


if __name__ == "__main__":
    main()
