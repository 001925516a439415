"""The README's pytest example, timed as a user runs it: ``test_my_ops.py`` taken from the
README (Swish), plus the general zoo's LinearFunction and SortFunction with their options
(issue #20's three-Function example), run by ``pytest -q`` in a fresh directory at
Hypothesis's default profile; wall time per run, median.

    python benchmarks/tools/pytest_example.py [--repeat N] [--swish-only]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"

EXTRA = """

from legendre_verify.verification.mutants.general import GENERAL_CORRECT

_correct = {m.name: m for m in GENERAL_CORRECT}
test_linear = verification_tests(
    _correct["LinearFunction"].fn, **_correct["LinearFunction"].options
)
test_sort = verification_tests(_correct["SortFunction"].fn, **_correct["SortFunction"].options)
"""


def readme_example() -> str:
    """The README's ``# test_my_ops.py`` code block."""
    blocks = re.findall(r"```python\n(# test_my_ops\.py\n.*?)```", README.read_text(), re.S)
    if not blocks:
        raise SystemExit("README.md has no '# test_my_ops.py' python block")
    return blocks[0]


def run_once(source: str) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "test_my_ops.py").write_text(source)
        env = {k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE")}
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_my_ops.py"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
    last = (done.stdout.strip().splitlines() or [""])[-1]
    if done.returncode != 0:
        raise SystemExit(f"pytest failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return wall, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--swish-only", action="store_true", help="the README's block alone")
    args = parser.parse_args()
    source = readme_example() + ("" if args.swish_only else EXTRA)
    walls = []
    for k in range(args.repeat):
        wall, last = run_once(source)
        walls.append(wall)
        print(f"run {k + 1}: {wall:.1f} s wall ({last})", flush=True)
    print(f"median {statistics.median(walls):.1f} s, range {min(walls):.1f}-{max(walls):.1f} s")


if __name__ == "__main__":
    main()
