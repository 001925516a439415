"""Running the reproduce snippet a failing verify() prints, as a user would: as a script, in a
fresh process (forked from the test's, which has torch imported already: a new interpreter per
snippet would cost seconds each)."""

from __future__ import annotations

import multiprocessing
import os
import runpy
import sys
from pathlib import Path

from legendre_verify import Report


def snippet_of(report: Report) -> str:
    """The first failure's reproduce snippet, as a script."""
    details = report.failures[0].details
    code = details.split("this check):\n", 1)[1]
    return "\n".join(line[2:] for line in code.splitlines())


def _run(path: str) -> None:
    with open(os.devnull, "w") as quiet:
        os.dup2(quiet.fileno(), 1)
        os.dup2(quiet.fileno(), 2)
    runpy.run_path(path, run_name="__main__")


def exit_status(code: str, path: Path) -> int:
    """The exit status of ``code`` run as a script in a fresh (forked) process."""
    path.write_text(code)
    process = multiprocessing.get_context("fork").Process(target=_run, args=(str(path),))
    sys.stdout.flush()
    sys.stderr.flush()
    process.start()
    process.join(120)
    if process.is_alive():  # pragma: no cover - a snippet that hangs
        process.kill()
        process.join()
        return -9
    return process.exitcode


def fixed(code: str, mutant: object) -> str:
    """The snippet with the mutant's class replaced by the correct Function it derives from."""
    cls = mutant.fn.__self__
    return code.replace(cls.__name__, cls.__mro__[1].__name__)
