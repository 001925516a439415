"""Sessions: `tests` (pytest; posargs pass through), `lint` (ruff), `benchmarks` (asv over a
commit range, then publish, offline-ready), `benchmarks_aa` (the suite twice on the same code:
the largest ratio per benchmark), `bench_smoke` (every benchmark imports and runs, quickly),
`benchmarks_screenshots` (headless Chromium on the published pages) and `gpu` (on a CUDA
machine: the CUDA tests and the CUDA ratio table, benchmarks/gpu.sh)."""

from __future__ import annotations

import sys

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint", "bench_smoke"]

CONSTRAINTS = ("-c", "constraints.txt")


@nox.session
def tests(session: nox.Session) -> None:
    """Install the package with its test extra (torch pinned) and run pytest, one worker per
    core (pytest-xdist; pass -n 0 to run serially)."""
    session.install(*CONSTRAINTS, ".[test]")
    session.run("pytest", "-n", "auto", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


ASV = ("asv>=0.6,<0.7", "virtualenv")


@nox.session
def benchmarks(session: nox.Session) -> None:
    """The asv suite over a commit range in asv's own environment (one virtualenv; each
    commit's wheel built and installed in turn, so every commit measures its own code), then
    publish the pages with their scripts fetched from npm (offline-ready; serve them with
    `python -m http.server -d .asv/html 8080`).

    nox -s benchmarks -- [--reduced] [RANGE] [ASV RUN OPTIONS]   (RANGE default: HEAD^!)
    e.g. nox -s benchmarks -- --reduced HEAD~3..HEAD   (ASV_REDUCED=1: see benchmarks/README.md)
    """
    session.install(*CONSTRAINTS, *ASV)
    args = list(session.posargs)
    env = {}
    if "--reduced" in args:
        args.remove("--reduced")
        env["ASV_REDUCED"] = "1"
    if not any(not a.startswith("-") for a in args):
        args.append("HEAD^!")
    session.run("asv", "machine", "--yes")
    session.run("asv", "run", "--show-stderr", *args, env=env)
    session.run("python", "benchmarks/tools/publish.py")


@nox.session
def benchmarks_aa(session: nox.Session) -> None:
    """A/A check: the suite twice on the same code (this checkout, installed here), the largest
    ratio between the two runs per benchmark; fails if a time_ benchmark moved more than 1.5x.
    Reduced mode unless --full. Measure on a quiet machine (it prints the load average).

    nox -s benchmarks_aa -- [--full] [--threshold 1.5] [-- ASV RUN OPTIONS]
    """
    session.install(*CONSTRAINTS, ".[bench]")
    session.run("asv", "machine", "--yes")
    session.run("python", "benchmarks/tools/aa.py", *session.posargs)


@nox.session
def bench_smoke(session: nox.Session) -> None:
    """Prove every benchmark imports and runs: `asv check` and one quick, unsaved pass over
    small sizes in this session's environment (forkserver: torch imported once, not per case)."""
    session.install(*CONSTRAINTS, ".[bench]")
    session.run("asv", "machine", "--yes")
    session.run("asv", "check", "--python=same")
    session.run(
        "asv",
        "run",
        "--python=same",
        "--quick",
        "--dry-run",
        "--show-stderr",
        "--launch-method=forkserver",
        env={"ASV_SMOKE": "1"},
    )


@nox.session(venv_backend="none")
def benchmarks_screenshots(session: nox.Session) -> None:
    """Headless Chromium (Debian: apt-get install -y chromium), offline, on the published pages:
    checks the grid and one graph render and saves benchmarks/screenshots/{grid,graph}.png.
    Not for CI. nox -s benchmarks_screenshots -- [--graph NAME] [--html-dir DIR] [--out DIR]"""
    session.run(sys.executable, "benchmarks/tools/screenshots.py", *session.posargs, external=True)


@nox.session(venv_backend="none")
def gpu(session: nox.Session) -> None:
    """On a machine with CUDA and torch installed: benchmarks/gpu.sh in the current environment
    (a CUDA torch cannot come from constraints.txt's CPU pin)."""
    session.run("bash", "benchmarks/gpu.sh", *session.posargs, external=True)
