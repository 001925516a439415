"""Running the reproduce snippet a failing verify() prints, as a user would: as a script, in a
fresh process. A new interpreter per snippet would cost seconds (torch's import), and forking
the test's own process can deadlock (its torch thread pools have run), so a small server
process is started once per test process: it imports torch and never runs a torch operation
itself, and forks a child per snippet (a fresh process with torch imported)."""

from __future__ import annotations

import atexit
import subprocess
import sys
from pathlib import Path
from typing import Any

from legendre_verify import Report

_SERVER = r"""
import os, runpy, sys
sys.path[:0] = sys.argv[1:]
import torch  # noqa: F401 - imported once; never used here, so forking is safe
import legendre_verify.verification.replay  # noqa: F401
for line in sys.stdin:
    path = line.strip()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        try:
            runpy.run_path(path, run_name="__main__")
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
"""

_server: subprocess.Popen | None = None


def _start() -> subprocess.Popen:
    global _server
    if _server is None or _server.poll() is not None:
        here = str(Path(__file__).resolve().parent)
        _server = subprocess.Popen(
            [sys.executable, "-c", _SERVER, here, *sys.path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        atexit.register(_server.kill)
    return _server


def snippet_of(report: Report) -> str:
    """The first failure's reproduce snippet, as a script."""
    details = report.failures[0].details
    code = details.split("this check):\n", 1)[1]
    return "\n".join(line[2:] for line in code.splitlines())


def exit_status(code: str, path: Path) -> int:
    """The exit status of ``code`` run as a script in a fresh process."""
    path.write_text(code)
    server = _start()
    assert server.stdin is not None and server.stdout is not None
    server.stdin.write(f"{path}\n")
    server.stdin.flush()
    return int(server.stdout.readline())


def fixed(code: str, mutant: object) -> str:
    """The snippet with the mutant's class replaced by the correct Function it derives from."""
    cls = mutant.fn.__self__
    return code.replace(cls.__name__, cls.__mro__[1].__name__)


def assert_caught_and_replayable(mutant: Any, tmp_path: Path, **options: Any) -> Exception:
    """verify() rejects ``mutant`` with a failing sample and a reproduce snippet; the snippet,
    run as a script in a fresh process, fails, and with the Function's correct base (where
    the mutant is a Function class) passes. Returns the VerificationError."""
    import pytest

    from legendre_verify import VerificationError, verify

    with pytest.raises(VerificationError) as info:
        verify(mutant.fn, **mutant.verify_kwargs(), fail_fast=True, **options)
    message = str(info.value)
    assert "failing sample" in message and "reproduce (" in message
    code = snippet_of(info.value.report)
    assert exit_status(code, tmp_path / "snippet.py") != 0
    if hasattr(mutant.fn, "__self__"):  # a Function class: its correct base is its parent
        assert exit_status(fixed(code, mutant), tmp_path / "fixed.py") == 0
    return info.value
