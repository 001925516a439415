"""``legendre-verify check`` as it runs (issue #11): a row per finished check; on a terminal, a
live progress line (draws done out of the budget, redrawn with a carriage return) for a check
running over a second, never wider than the terminal; nothing of it with --quiet or where stderr
is not a terminal. How it ends (issue #17): exit 0 with a PASSED line, 1 with a FAILED line, 2
with one line on stderr for any misuse (nothing on stdout before it), 3 for its own bugs.
``--example``'s markers and ``--timeout`` (issue #18)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import legendre_verify.verification.driver as driver
from legendre_verify.cli import EXAMPLE_HINT, _CheckDisplay, _shorten, main
from legendre_verify.verification.arguments import Constant, Index, Size
from legendre_verify.verification.checks import CHECKS
from legendre_verify.verification.report import CheckProgress, CheckResult, Report
from legendre_verify.verification.targets import evaluate

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
    # the verifier's own per-sample feed: the draws of values' group (the checks that judge
    # the same samples) counted up to its budget of 5
    counts = [
        int(n) for n in re.findall(r"\rvalues \(\+\d+ checks\) *\[[#-]{20}\] (\d)/5 draws", err)
    ]
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


# ---------------------------------------------------------------------------------------------
# Misuse is exit status 2 with one line on stderr and nothing on stdout (issue #17); a failure
# is exit 1 with a FAILED line; the live line fits the terminal (issue #17); --example's markers
# and --timeout (issue #18)
# ---------------------------------------------------------------------------------------------

USER_FUNCTIONS = Path(__file__).with_name("user_functions.py")

OPS = """\
import torch


class Twice(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, g):
        return 2 * g


def crash(x):
    raise RuntimeError("boom in crash")


NOT_CALLABLE = 3
"""


@pytest.fixture(autouse=True)
def _fixed_terminal_width_and_clean_imports(monkeypatch, tmp_path_factory):
    """An 80-column terminal unless a test says otherwise; target files a test loaded from its
    temporary directory are forgotten after it (they are loaded under their file's stem), and
    the directories put on sys.path to load them."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    base = str(tmp_path_factory.getbasetemp())
    for name in set(sys.modules) - before:
        if (getattr(sys.modules[name], "__file__", None) or "").startswith(base):
            del sys.modules[name]


@pytest.fixture
def ops(tmp_path, monkeypatch):
    """A directory holding ``cli_ops.py`` (and whatever a test writes), made the current one."""
    (tmp_path / "cli_ops.py").write_text(OPS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def misuse(capsys, argv: list[str]) -> str:
    """Run ``check`` with ``argv``; assert exit status 2, nothing on stdout (not even the
    table's header) and one line on stderr, without a traceback; that line."""
    status = main(["check", *argv])
    captured = capsys.readouterr()
    assert status == 2, captured
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert lines[0].startswith("legendre-verify check: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("name", "source", "target", "shown"),
    [
        pytest.param(
            "cli_syntax.py",
            "import torch\n\ndef f(x)\n    return x\n",
            "cli_syntax.py:f",
            [
                "target file 'cli_syntax.py' does not compile",
                "SyntaxError at cli_syntax.py, line 3: expected ':'",
            ],
            id="syntax-error",
        ),
        pytest.param(
            "cli_raises.py",
            "import torch\n\n\ndef helper():\n    raise RuntimeError('no GPU here')\n\n\nhelper()\n",
            "cli_raises.py:f",
            [
                "target file 'cli_raises.py' raised on import",
                "at cli_raises.py, line 5: RuntimeError: no GPU here",
            ],
            id="raises-on-import",
        ),
        pytest.param(
            "cli_exits.py",
            "import sys\n\nsys.exit('bye')\n",
            "cli_exits.py:f",
            ["target file 'cli_exits.py' raised on import", "line 3: SystemExit: bye"],
            id="exits-on-import",
        ),
        pytest.param(
            "cli_imports.py",
            "import torch\nimport no_such_dependency_here\n",
            "cli_imports:f",
            ["target module 'cli_imports' raised on import", "at cli_imports.py, line 2"],
            id="module-missing-a-dependency",
        ),
    ],
)
def test_a_target_file_that_does_not_import_names_the_file_and_line(
    ops, capsys, name, source, target, shown
):
    (ops / name).write_text(source)
    line = misuse(capsys, [target, "--max-examples", "2"])
    for part in shown:
        assert part in line
    assert name.removesuffix(".py") not in sys.modules  # a failed import leaves no half module


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        ("missing.py:f", "target file 'missing.py' does not exist (TARGET 'missing.py:f')"),
        (
            "cli_ops.py:Nope",
            "target file 'cli_ops.py' has no 'Nope' (TARGET 'cli_ops.py:Nope'); its autograd "
            "Functions: Twice",
        ),
        ("cli_ops.py:Twice.nope", "target file 'cli_ops.py': Twice has no 'nope'"),
        ("cli_ops:Nope", "target module 'cli_ops' has no 'Nope'"),
        ("no_such_module_here:f", "target module 'no_such_module_here' is not found"),
        ("cli_ops.py:NOT_CALLABLE", "TARGET 'cli_ops.py:NOT_CALLABLE' is not callable: int 3"),
        ("cli_ops", "TARGET must be MODULE:NAME or path/to/file.py:NAME"),
    ],
)
def test_a_target_that_does_not_name_a_callable_is_misuse(ops, capsys, target, shown):
    assert shown in misuse(capsys, [target])


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (
            ["--example", "(torch.ones(3, 4),"],
            "--example '(torch.ones(3, 4),' is not a Python expression: SyntaxError at column 1: "
            "'(' was never closed",
        ),
        (
            ["--example", "(ones(3),)"],
            "--example '(ones(3),)' does not evaluate: NameError: name 'ones' is not defined (in "
            "scope: torch, F, st, math, constant, index, size and the names of cli_ops)",
        ),
        (
            ["--example", "(torch.ones(-1),)"],
            "--example '(torch.ones(-1),)' does not evaluate: RuntimeError: ",
        ),
        (["--reference", "lambda x:"], "--reference 'lambda x:' is not a Python expression"),
        (["--reference", "3"], "reference must be callable, got int: 3"),
        (
            ["--symbolic", "x +"],
            "--symbolic 'x +' is not a sympy expression: SyntaxError: invalid syntax",
        ),
        (["--symbolic", "x > 1"], "--symbolic 'x > 1' is not a sympy expression of numbers"),
        (["--symbolic", "2"], "--symbolic '2' has no variable"),
    ],
)
def test_a_bad_expression_is_misuse_naming_the_option_and_its_value(ops, capsys, argv, shown):
    assert shown in misuse(capsys, ["cli_ops.py:Twice", *argv])


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (
            ["--example", "(torch.ones(3),)", "--signature", "(m,n)->(m)"],
            "signature='(m,n)->(m)': tensor argument 0 has shape (3,)",
        ),
        (["--skip", "no_such_check"], "unknown check name(s) ['no_such_check']"),
        (["--domain", "1", "-1"], "domain must be a non-empty interval lo < hi"),
        (
            ["--example", "(torch.ones(3),)", "--signature", "(n)->(n)", "--symbolic", "x"],
            "symbolic= describes elementwise Functions",
        ),
    ],
)
def test_what_verify_refuses_before_any_check_runs_is_misuse(ops, capsys, argv, shown):
    assert shown in misuse(capsys, ["cli_ops.py:Twice", *argv])


def test_a_function_that_raises_on_the_example_is_misuse_located_in_the_users_file(ops, capsys):
    line = misuse(capsys, ["cli_ops.py:crash", "--example", "(torch.ones(3),)"])
    assert "fn raised RuntimeError on the example itself" in line
    assert line.endswith("boom in crash (at cli_ops.py, line 15)")


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["--timeout", "soon"], "argument --timeout: expected seconds > 0 or 'none', got 'soon'"),
        (["--timeout", "-1"], "argument --timeout: expected seconds > 0 or 'none', got '-1'"),
        (["--timeout", "nan"], "argument --timeout: expected seconds > 0 or 'none', got 'nan'"),
        (["--max-examples", "0"], "argument --max-examples: expected an integer >= 1, got '0'"),
        (["--domain", "a", "1"], "argument --domain: invalid float value: 'a'"),
    ],
)
def test_a_bad_option_is_one_line_exit_2(ops, capsys, argv, shown):
    with pytest.raises(SystemExit) as exit_:
        main(["check", "cli_ops.py:Twice", *argv])
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1
    assert captured.err == (
        f"legendre-verify check: error: {shown} (see legendre-verify check --help)\n"
    )


@pytest.mark.parametrize(
    "reference", [pytest.param([], id="no-oracle"), pytest.param(["--reference", "F.linear"])]
)
def test_a_function_that_is_not_elementwise_without_example_says_to_pass_it(capsys, reference):
    # verify()'s elementwise probe refuses a Function that does not look elementwise with a
    # TypeError that asks for example=; the CLI says so in its own terms
    line = misuse(capsys, [f"{USER_FUNCTIONS}:LinearFunction", *reference, "--max-examples", "2"])
    assert "elementwise" in line and "example=" in line
    assert line.endswith(f"; {EXAMPLE_HINT}")
    assert "--example '(...)'" in EXAMPLE_HINT and "--signature" in EXAMPLE_HINT


def test_an_oracle_that_fails_during_the_checks_is_exit_2_in_one_line(ops, capsys):
    reference = "lambda x: 2 * x if x.numel() <= 1 else None"
    status = main(["check", "cli_ops.py:Twice", "--reference", reference, "--max-examples", "2"])
    captured = capsys.readouterr()
    assert status == 2
    (line,) = captured.err.splitlines()
    assert line.startswith(
        "legendre-verify check: error: the oracle failed (not the Function): the reference oracle"
    )
    assert "NoneType" in line


def test_a_failure_ends_with_a_failed_line_matching_the_passed_one(tmp_path, capsys):
    target = "legendre_verify.verification.mutants.elementwise:ForwardOffset"
    skip = [name for name in CHECKS if name not in {"meta", "values", "gradients", "linearity"}]
    report = tmp_path / "report.json"
    argv = ["check", target, "--symbolic", "legendre(3, x)", "--max-examples", "2"]
    argv += ["--json", str(report), "--skip", *skip]
    assert main(argv) == 1
    captured = capsys.readouterr()
    checks = json.loads(report.read_text())["checks"]
    failed = [c["name"] for c in checks if c["status"] == "failed"]
    ran = sum(c["status"] in ("passed", "failed") for c in checks)
    assert "values" in failed
    summary = re.escape(f"{target}: FAILED {len(failed)} of {ran} checks ({', '.join(failed)})")
    assert re.fullmatch(summary + r" in \d+\.\d s", captured.out.splitlines()[-1])
    assert "check 'values' failed" in captured.err and "FAILED" not in captured.err
    # --quiet: no rows, the same summary line
    assert main([*argv, "--quiet"]) == 1
    out = capsys.readouterr().out
    assert not re.search(r"^(check|values) ", out, re.M)
    assert re.fullmatch(summary + r" in \d+\.\d s", out.splitlines()[-1])


def test_passed_line(capsys):
    assert main([*P3, "--max-examples", "2", "--skip", *[n for n in CHECKS if n != "values"]]) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"^legendre_verify:LegendrePolynomial3: PASSED 1 checks in \d+\.\d s$", out, re.M
    )


def progress_lines(err: str) -> list[str]:
    """The live lines drawn on a terminal (each after a carriage return)."""
    return [part for part in err.split("\r") if part.strip()]


@pytest.mark.parametrize("columns", [120, 60, 40, 12])
def test_the_live_line_fits_the_terminal_and_never_wraps(monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    out, err = io.StringIO(), FakeTerminal()
    display = _CheckDisplay(out, err)
    for i, shrinking in [(1, False), (9, False), (20, False), (31, True)]:
        display.sample(CheckProgress("requires_grad_subsets", i, 20, 1.0 + i, shrinking=shrinking))
    display.finished(CheckResult("requires_grad_subsets", "failed", 31, 33.0))
    drawn = progress_lines(err.getvalue())
    assert len(drawn) == 4 and "\n" not in err.getvalue()
    assert all(len(line) <= columns - 1 for line in drawn), drawn  # the last column: no wrap
    bar = re.search(r"\[([#-]*)\] +9/20 draws", drawn[1])
    if columns >= 80:
        assert bar and len(bar.group(1)) == 20  # room enough: the full bar
    elif columns == 60:
        assert bar and 5 <= len(bar.group(1)) < 20  # the bar narrows first
    else:  # then the line is cut
        assert drawn[1].endswith("...") or len(drawn[1]) < columns - 1


def test_the_live_line_asks_stderrs_own_terminal_for_its_width(monkeypatch):
    monkeypatch.delenv("COLUMNS")
    asked = []

    class Terminal(FakeTerminal):
        def fileno(self) -> int:
            return 7

    def size(fd: int = 1) -> os.terminal_size:
        asked.append(fd)
        return os.terminal_size((50, 20))

    monkeypatch.setattr(os, "get_terminal_size", size)
    err = Terminal()
    display = _CheckDisplay(io.StringIO(), err)
    display.sample(CheckProgress("gradients", 5, 20, 1.2))
    assert asked == [7]
    (line,) = progress_lines(err.getvalue())
    assert len(line) <= 49 and line.startswith("gradients ")


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short reason", 40, "short reason"),
        (
            "the Function has no vmap (RuntimeError: must override the setup_context method)",
            50,
            "the Function has no vmap (RuntimeError: must...",
        ),
        ("one two three", 9, "one..."),
        ("abcdefghijklmnop rest", 8, "abcdefghijklmnop..."),  # a first word is kept whole
        ("spaces   collapse\nand lines too", 80, "spaces collapse and lines too"),
    ],
)
def test_a_shortened_reason_is_cut_at_a_word_boundary(text, limit, expected):
    assert _shorten(text, limit) == expected


def test_reasons_in_rows_fit_a_terminal_in_whole_words_and_are_whole_when_piped(monkeypatch):
    reason = "the Function has no vmap (RuntimeError: must override the setup_context staticmethod)"
    result = CheckResult("vmap", "skipped", 0, 0.0, reason)
    monkeypatch.setenv("COLUMNS", "100")
    terminal = FakeTerminal()
    _CheckDisplay(terminal, io.StringIO()).finished(result)
    row = terminal.getvalue().splitlines()[-1]
    assert len(row) <= 99 and row.endswith("...)")
    shown = row[row.index("(") + 1 : -len("...)")]
    assert reason.startswith(shown) and not reason[len(shown)].isalnum()  # cut between words
    piped = io.StringIO()
    _CheckDisplay(piped, io.StringIO()).finished(result)
    assert piped.getvalue().splitlines()[-1].endswith(f"  ({reason})")


def test_example_may_use_constant_index_and_size():
    args = evaluate(
        "(torch.ones(4, 3), constant(torch.ones(3)), index(high='n'), size('n'))", "--example"
    )
    assert isinstance(args[1], Constant) and torch.equal(args[1].tensor, torch.ones(3))
    assert isinstance(args[2], Index) and args[2].high == "n"
    assert isinstance(args[3], Size) and args[3].name == "n"
    assert "index(high=0) must" not in repr(args)
    with pytest.raises(ValueError, match=r"--example 'index\(high=1.5\)' does not evaluate: "):
        evaluate("index(high=1.5)", "--example")


class FakeVerify:
    """verify() as the CLI calls it: records the call, feeds ``results`` to ``progress``, then
    raises ``error`` if given."""

    def __init__(self, results=(), error: BaseException | None = None) -> None:
        self.results, self.error, self.calls = list(results), error, []

    def __call__(self, fn, **options):
        self.calls.append(options)
        for result in self.results:
            options["progress"](result)
        if self.error is not None:
            raise self.error
        return Report(options["name"], list(self.results), 0.5)


@pytest.mark.parametrize(
    ("argv", "passed"),
    [([], "not given"), (["--timeout", "2.5"], 2.5), (["--timeout", "none"], None)],
)
def test_timeout_is_passed_to_verify_only_when_given(ops, monkeypatch, capsys, argv, passed):
    fake = FakeVerify([CheckResult("values", "passed", 2, 0.1)])
    monkeypatch.setattr(driver, "verify", fake)
    example = "(torch.ones(4, 3), constant(torch.ones(3)), size('n'))"
    assert main(["check", "cli_ops.py:Twice", "--example", example, *argv]) == 0
    (options,) = fake.calls
    assert options.get("timeout", "not given") == passed
    assert isinstance(options["example"][1], Constant) and isinstance(options["example"][2], Size)
    assert capsys.readouterr().out.splitlines()[-1] == "cli_ops.py:Twice: PASSED 1 checks in 0.5 s"


def test_an_error_after_the_checks_started_is_an_internal_error_exit_3(ops, monkeypatch, capsys):
    fake = FakeVerify([CheckResult("values", "passed", 2, 0.1)], ValueError("bug\nin verify"))
    monkeypatch.setattr(driver, "verify", fake)
    assert main(["check", "cli_ops.py:Twice"]) == 3
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0].startswith("check ")  # the table had begun
    assert "Traceback" in captured.err
    assert captured.err.splitlines()[-1] == (
        "legendre-verify check: internal error of legendre-verify (please report it with the "
        "traceback): "
        "ValueError: bug; in verify"
    )


def test_an_interrupt_ends_with_one_line_and_status_130(ops, monkeypatch, capsys):
    monkeypatch.setattr(driver, "verify", FakeVerify([], KeyboardInterrupt()))
    assert main(["check", "cli_ops.py:Twice"]) == 130
    assert capsys.readouterr().err == "legendre-verify check: interrupted\n"


def test_check_help_names_every_option_and_the_exit_statuses(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["check", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--example", "--reference", "--symbolic", "--signature", "--timeout SECONDS"):
        assert option in text
    assert "Exit status 0" in text and "1: a check failed" in text and "2: misuse" in text
    assert "constant(t), index(high=...) and size(name)" in text


def test_signature_without_example_is_misuse_with_the_example_hint(ops, capsys):
    line = misuse(capsys, ["cli_ops.py:Twice", "--signature", "(n)->(n)"])
    assert line == (
        "legendre-verify check: error: signature= needs example= (one call's positional "
        f"arguments); {EXAMPLE_HINT}"
    )


def test_a_report_file_in_a_missing_directory_is_misuse_before_anything_runs(ops, capsys):
    line = misuse(capsys, ["cli_ops.py:Twice", "--json", "no/such/dir/report.json"])
    assert line.endswith("--json 'no/such/dir/report.json': no directory 'no/such/dir'")


HANGS = """
import torch


class Hangs(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        while x.numel() < 2:  # hangs on inputs of fewer than two elements
            pass
        return 2 * x

    @staticmethod
    def backward(ctx, g):
        return 2 * g
"""


def test_a_hanging_function_is_a_failure_within_the_timeout(ops, capsys):
    (ops / "cli_hangs.py").write_text(HANGS)
    argv = ["check", "cli_hangs.py:Hangs", "--example", "(torch.ones(3),)", "--quiet"]
    started = time.monotonic()
    assert main([*argv, "--signature", "(n)->(n)", "--timeout", "1"]) == 1
    assert time.monotonic() - started < 60
    captured = capsys.readouterr()
    assert "did not return within 1 s (a hang)" in captured.err
    assert "FAILED" in captured.out.splitlines()[-1]
    # hanging on the example itself: found while verify probes it, still exit 1
    assert (
        main(["check", "cli_hangs.py:Hangs", "--example", "(torch.ones(1),)", "--timeout", "1"])
        == 1
    )
    captured = capsys.readouterr()
    assert "FAILED 1 of 1 checks (meta)" in captured.out
    assert "on the example, while verify was probing it" in captured.err
    assert "the Function hangs" in captured.err


def test_the_help_gives_the_default_number_of_examples(capsys):
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"examples per check (default: {driver.DEFAULT_MAX_EXAMPLES})" in help_text


def test_misuse_from_the_installed_command_is_exit_2_and_one_line(ops):
    (ops / "cli_broken.py").write_text("def f(x)\n    return x\n")
    done = subprocess.run(
        [sys.executable, "-m", "legendre_verify", "check", "cli_broken.py:f"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "legendre-verify check: error: target file 'cli_broken.py' does not compile: "
        "SyntaxError at cli_broken.py, line 1: expected ':'\n"
    )
