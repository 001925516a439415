"""A/A check: the asv suite twice on the same code, and the largest ratio between the two runs
per benchmark (issue #21). ``nox -s benchmarks_aa`` runs it in the reduced mode.

    python benchmarks/tools/aa.py [--full] [--threshold 1.5] [--compare-only] [-- ASV RUN OPTIONS]

Each run is ``asv run --python=same --set-commit-hash=HEAD`` (this interpreter's installed
package, results recorded under HEAD's hash) into its own results directory
(``.asv/aa/run1``, ``.asv/aa/run2``), with the benchmark processes launched by a forkserver.
Options after ``--`` go to both ``asv run`` calls (e.g. ``--bench Legendre`` or
``--cpu-affinity 1``). For every benchmark the largest ratio max(a, b) / min(a, b) over its
parameter sets is printed, worst first, with the 1-minute load average before and after each
run; the exit status is 1 when a ``time_*`` benchmark moved more than ``--threshold``.
``--compare-only`` compares the two results directories as they are.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AA = ROOT / ".asv" / "aa"


def _config(run: int) -> Path:
    """A copy of asv.conf.json whose results go to .asv/aa/runN (absolute paths throughout)."""
    from asv.util import load_json

    conf = load_json(str(ROOT / "asv.conf.json"), js_comments=True)
    conf["repo"] = str(ROOT)
    conf["benchmark_dir"] = str(ROOT / conf.get("benchmark_dir", "benchmarks"))
    conf["env_dir"] = str(ROOT / conf.get("env_dir", ".asv/env"))
    conf["results_dir"] = str(AA / f"run{run}")
    conf["html_dir"] = str(AA / f"html{run}")
    path = AA / f"asv.conf.run{run}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(conf, indent=1))
    return path


def _head() -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (5 min {five:.2f})"


def run_twice(extra: list[str], env: dict[str, str]) -> list[dict[str, str]]:
    """Both runs; returns what each saw (load before and after, seconds)."""
    head = _head()
    seen = []
    for run in (1, 2):
        shutil.rmtree(AA / f"run{run}", ignore_errors=True)  # an earlier A/A's results: stale
        config = _config(run)
        command = [
            sys.executable,
            "-m",
            "asv",
            "--config",
            str(config),
            "run",
            "--python=same",
            f"--set-commit-hash={head}",
            "--launch-method=forkserver",
            "--record-samples",
            "--show-stderr",
            *extra,
        ]
        before = _load()
        print(f"== A/A run {run}: load {before}: {' '.join(command[3:])}", flush=True)
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=env, check=True)
        seconds = time.perf_counter() - start
        seen.append({"before": before, "after": _load(), "seconds": f"{seconds:.0f}"})
        print(f"== A/A run {run}: {seconds:.0f} s, load after {seen[-1]['after']}", flush=True)
    return seen


def _results(directory: Path) -> dict[tuple[str, tuple], float]:
    """{(benchmark, params): value} of every results file under ``directory``."""
    from asv.results import Results

    found: dict[tuple[str, tuple], float] = {}
    paths = [p for p in sorted(directory.glob("*/*.json")) if p.name != "machine.json"]
    if len(paths) > 1:  # two commits' results would overwrite each other's figures
        raise SystemExit(f"{directory} holds results of {len(paths)} runs; one is compared")
    for path in paths:
        results = Results.load(str(path))
        for key in results.get_all_result_keys():
            params = results.get_result_params(key)
            values = results.get_result_value(key, params)
            combos = list(itertools.product(*params)) if params else [()]
            for combo, value in zip(combos, values, strict=False):
                if value is not None and not (isinstance(value, float) and math.isnan(value)):
                    found[(key, tuple(combo))] = value
    return found


def compare(threshold: float) -> int:
    """Print the largest ratio per benchmark; the number of time_* benchmarks over threshold."""
    first, second = _results(AA / "run1"), _results(AA / "run2")
    worst: dict[str, tuple[float, tuple, float, float]] = {}
    for (name, combo), a in first.items():
        b = second.get((name, combo))
        if b is None or a <= 0 or b <= 0:
            continue
        ratio = max(a, b) / min(a, b)
        if name not in worst or ratio > worst[name][0]:
            worst[name] = (ratio, combo, a, b)
    if not worst:
        print("no benchmark has a result in both runs")
        return 1
    width = max(len(n) for n in worst)
    print(f"{'benchmark':<{width}}  worst ratio  run 1 -> run 2  at parameters")
    over = []
    for name, (ratio, combo, a, b) in sorted(worst.items(), key=lambda kv: -kv[1][0]):
        timed = name.rsplit(".", 1)[-1].startswith("time_")
        flag = "  <-- over" if timed and ratio > threshold else ""
        if flag:
            over.append(name)
        shown = ", ".join(str(c) for c in combo)
        print(
            f"{name:<{width}}  {ratio:10.3f}x  {_fmt(a, timed)} -> {_fmt(b, timed)}  ({shown}){flag}"
        )
    timed_ratios = [(r[0], n) for n, r in worst.items() if n.rsplit(".", 1)[-1].startswith("time_")]
    if timed_ratios:
        top, which = max(timed_ratios)
        print(
            f"\n{len(timed_ratios)} timed benchmarks: largest ratio {top:.3f}x ({which}); "
            f"{len(over)} over {threshold}x"
        )
    tracked = [(r[0], n) for n, r in worst.items() if not n.rsplit(".", 1)[-1].startswith("time_")]
    if tracked:
        top, which = max(tracked)
        print(f"{len(tracked)} tracked benchmarks: largest ratio {top:.3f}x ({which})")
    return len(over)


def _fmt(value: float, timed: bool) -> str:
    if not timed:
        return f"{value:.4g}"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value * 1e9:.3g} ns"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="full mode (default: reduced)")
    parser.add_argument("--threshold", type=float, default=1.5)
    parser.add_argument("--compare-only", action="store_true")
    args = parser.parse_args(own)
    env = dict(os.environ)
    if not args.full:
        env["ASV_REDUCED"] = "1"
    if not args.compare_only:
        seen = run_twice(extra, env)
        mode = "full" if args.full else "reduced (ASV_REDUCED=1)"
        print(f"\n== A/A, {mode}, commit {_head()[:8]}")
        for run, s in enumerate(seen, 1):
            print(f"run {run}: {s['seconds']} s, load {s['before']} before, {s['after']} after")
        print()
    return 1 if compare(args.threshold) else 0


if __name__ == "__main__":
    sys.exit(main())
