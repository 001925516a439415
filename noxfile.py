"""Sessions: `tests` (pytest; posargs pass through), `lint` (ruff), `benchmarks` (asv over a
commit range, then publish), `bench_smoke` (every benchmark imports and runs, quickly) and
`gpu` (on a CUDA machine: the CUDA tests and the CUDA ratio table, benchmarks/gpu.sh)."""

from __future__ import annotations

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


@nox.session
def benchmarks(session: nox.Session) -> None:
    """Run the asv suite over a commit range (posargs; default: the last commit), then publish
    the HTML (open it with `asv preview`)."""
    session.install(*CONSTRAINTS, "asv>=0.6,<0.7", "virtualenv")
    session.run("asv", "machine", "--yes")
    session.run("asv", "run", "--show-stderr", *(session.posargs or ["HEAD^!"]))
    session.run("asv", "publish")


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
def gpu(session: nox.Session) -> None:
    """On a machine with CUDA and torch installed: benchmarks/gpu.sh in the current environment
    (a CUDA torch cannot come from constraints.txt's CPU pin)."""
    session.run("bash", "benchmarks/gpu.sh", *session.posargs, external=True)
