"""``legendre-verify check`` as it runs (issue #11): a row per finished check; on a terminal, a
live progress line (draws done out of the budget, redrawn with a carriage return) for a check
running over a second; nothing of it with --quiet or where stderr is not a terminal."""

from __future__ import annotations

import io
import re

from legendre_verify.cli import _CheckDisplay, main
from legendre_verify.verification.report import CheckProgress, CheckResult

P3 = ["check", "legendre_verify:LegendrePolynomial3", "--symbolic", "legendre(3, x)"]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_line_only_after_a_second_redrawn_in_place_and_erased_before_the_row():
    out, err = io.StringIO(), FakeTerminal()
    display = _CheckDisplay(out, err)
    display.sample(CheckProgress("gradients", 1, 20, 0.4))
    assert err.getvalue() == ""  # a check under a second: no live line
    display.sample(CheckProgress("gradients", 5, 20, 1.2))
    first = "gradients               [#####---------------]  5/20 draws  1.2 s"
    assert err.getvalue() == "\r" + first
    display.sample(CheckProgress("gradients", 6, 20, 1.25))  # within 0.1 s: not redrawn
    assert err.getvalue() == "\r" + first
    display.sample(CheckProgress("gradients", 20, 20, 1.5))
    second = "gradients               [####################] 20/20 draws  1.5 s"
    assert err.getvalue() == "\r" + first + "\r" + second
    display.sample(CheckProgress("gradients", 23, 20, 1.7, shrinking=True))
    third = "gradients               shrinking a failing sample (23 samples run)  1.7 s"
    assert err.getvalue().endswith("\r" + third)
    display.finished(CheckResult("gradients", "failed", 23, 1.8))
    assert err.getvalue().endswith("\r" + " " * len(third) + "\r")  # erased
    assert out.getvalue().splitlines() == [
        "check                   status   examples  seconds",
        "gradients               failed         23     1.80",
    ]
    # the next check starts afresh: nothing shown before its own first second
    display.sample(CheckProgress("values", 3, 20, 0.5))
    assert err.getvalue().endswith("\r")


def test_no_control_characters_where_stderr_is_not_a_terminal():
    out, err = io.StringIO(), io.StringIO()
    display = _CheckDisplay(out, err)
    for i in range(1, 21):
        display.sample(CheckProgress("values", i, 20, 0.2 * i))
    display.finished(CheckResult("values", "passed", 20, 4.0))
    assert err.getvalue() == ""
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()
    assert out.getvalue().splitlines()[1].split() == ["values", "passed", "20", "4.00"]


def test_check_on_a_terminal_shows_each_checks_draws(monkeypatch, capsys):
    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setattr(_CheckDisplay, "AFTER", 0.0)  # every check "takes over a second"
    monkeypatch.setattr(_CheckDisplay, "EVERY", 0.0)
    assert main([*P3, "--max-examples", "5"]) == 0
    err, out = terminal.getvalue(), capsys.readouterr().out
    # the verifier's own per-sample feed: values' draws counted up to its budget of 5
    counts = [int(n) for n in re.findall(r"\rvalues +\[[#-]{20}\] (\d)/5 draws", err)]
    assert counts == sorted(counts) and counts[-1] == 5 and len(counts) >= 2
    assert err.endswith("\r") and "\n" not in err  # every live line erased, nothing else
    assert "\r" not in out
    rows = [line.split()[:2] for line in out.splitlines()[1:] if "  " in line]
    assert ["values", "passed"] in rows and ["gradients", "passed"] in rows


def test_check_piped_has_no_control_characters(monkeypatch, capsys):
    monkeypatch.setattr(_CheckDisplay, "AFTER", 0.0)
    assert main([*P3, "--max-examples", "3"]) == 0
    captured = capsys.readouterr()  # neither stream a terminal
    for stream in (captured.out, captured.err):
        assert "\r" not in stream and "\x1b" not in stream
    assert re.search(r"^values +passed +3 ", captured.out, re.M)  # a line per finished check


def test_check_quiet_shows_nothing_even_on_a_terminal(monkeypatch, capsys):
    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setattr(_CheckDisplay, "AFTER", 0.0)
    assert main([*P3, "--max-examples", "3", "--quiet"]) == 0
    assert terminal.getvalue() == ""
    out = capsys.readouterr().out
    assert "\r" not in out and not re.search(r"^(check|values|gradients) ", out, re.M)
