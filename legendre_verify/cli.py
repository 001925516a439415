"""The ``legendre-verify`` command line."""

from __future__ import annotations

import argparse
import faulthandler
import functools
import io
import json
import math
import os
import shutil
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

import torch

from legendre_verify.verification.mutants import ZOOS

__all__ = ["main"]

DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}


def _train(args: argparse.Namespace) -> int:
    from legendre_verify.training import fit

    result = fit(
        steps=args.steps,
        lr=args.lr,
        dtype=DTYPES[args.dtype],
        device=args.device,
        log=lambda t, loss: print(t, loss, flush=True),
        method="fused" if args.fused else args.method,
    )
    print(result.result_line())
    if result.reason:
        print(f"method {result.method} (auto): {result.reason}", file=sys.stderr)
    compiled = (
        f"; first call {result.first_call_seconds:.1f} s" if result.first_call_seconds else ""
    )
    print(
        f"{result.steps_per_second:,.0f} steps/s ({result.method}{compiled})",
        file=sys.stderr,
    )
    if args.plot:
        from legendre_verify.plotting import plot_fit

        print(f"plot saved to {plot_fit(result, args.plot)}", file=sys.stderr)
    return 0


def _accuracy(args: argparse.Namespace) -> int:
    from legendre_verify.legendre import accuracy

    rows = accuracy.measure(
        degrees=range(args.max_degree + 1) if args.all_degrees else accuracy.DEFAULT_DEGREES,
        orders=range(args.max_order + 1),
        points=accuracy.sample_points(args.points),
        progress=lambda message: print(message, file=sys.stderr, flush=True),
    )
    print(accuracy.format_table(rows))
    worst = accuracy.worst(rows)
    print(
        f"\nworst: n={worst.n} k={worst.k} {worst.dtype} at x={worst.worst_x!r}: "
        f"{worst.worst_ratio:.2f} of the allowed error ({'pass' if worst.passed else 'FAIL'})"
    )
    return 0 if worst.passed else 1


def _columns(stream: Any) -> int:
    """The width of the terminal ``stream`` writes to: ``COLUMNS`` if set (as
    :func:`shutil.get_terminal_size` honours it), else that terminal's own size, else
    :func:`shutil.get_terminal_size`'s answer (80 where nothing knows)."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        columns = 0
    return columns if columns > 0 else shutil.get_terminal_size().columns


def _shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, cut at a word boundary with an ellipsis
    (never mid-word: a first word longer than ``limit`` is kept whole)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: max(limit - 3, 0) + 1]  # one more: is the cut at a space?
    cut = head[:-1] if head.endswith(" ") else head.rsplit(" ", 1)[0] if " " in head else ""
    if not cut:
        cut = text.split(" ", 1)[0]
    return cut.rstrip(" ,;:-(") + "..."


class _CheckDisplay:
    """What ``check`` shows as it runs: the table's header when the first check starts (so
    nothing of the table is printed before the call is validated), a row on ``out`` the moment
    each check finishes and, only where ``err`` is a terminal, a live line on ``err`` for a check
    running longer than ``AFTER`` seconds: a bar of its draws out of its budget, redrawn in place
    with a carriage return (at most every ``EVERY`` seconds), never wider than the terminal, and
    erased before the row. Fed by verify()'s ``progress`` and ``on_sample`` hooks; it only
    renders."""

    AFTER = 1.0  # seconds a check runs before its live line appears
    EVERY = 0.1  # seconds between redraws
    MIN_REASON = 30  # a skip reason is never shortened below this many characters

    def __init__(self, out: TextIO, err: TextIO, *, width: int = 22, bar: int = 20) -> None:
        self.out, self.err = out, err
        self.live = bool(getattr(err, "isatty", lambda: False)())
        self.width, self.bar = width, bar
        self.shown = 0  # length of the live line on screen, 0 when none
        self.drawn_at = -math.inf
        self.started = False

    def start(self) -> None:
        """Print the header (once, when the first check has started)."""
        if not self.started:
            self.started = True
            header = f"{'check':<{self.width}}  {'status':<7}  {'examples':>8}  {'seconds':>7}"
            print(header, file=self.out, flush=True)

    def line(self, p: Any, limit: int | None = None) -> str:
        """The live line for a :class:`CheckProgress`, in at most ``limit`` characters: where
        it is too long, the check name's padding goes first, then the bar narrows (down to 5,
        else none), then the line is cut."""
        text = self._line(p, self.width, self.bar)
        if limit is None or len(text) <= limit:
            return text
        text = self._line(p, 0, self.bar)
        bar = self.bar - max(len(text) - limit, 0)
        text = self._line(p, 0, bar if bar >= 5 else 0)
        return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."[: max(limit, 0)]

    def _line(self, p: Any, width: int, bar: int) -> str:
        if p.shrinking:
            state = f"shrinking a failing sample ({p.examples} samples run)"
        else:
            done = min(p.examples, p.max_examples)
            count = f"{done:>{len(str(p.max_examples))}}/{p.max_examples} draws"
            filled = bar * done // max(p.max_examples, 1)
            state = f"[{'#' * filled}{'-' * (bar - filled)}] {count}" if bar else count
        return f"{p.check:<{width}}  {state}  {p.seconds:.1f} s"

    def sample(self, p: Any) -> None:
        self.start()
        if not self.live or p.seconds < self.AFTER or p.seconds - self.drawn_at < self.EVERY:
            return
        self.drawn_at = p.seconds
        limit = _columns(self.err) - 1  # the last column would wrap on some terminals
        text = self.line(p, limit)
        self.err.write("\r" + text.ljust(min(self.shown, limit)))
        self.err.flush()
        self.shown = len(text)

    def clear(self) -> None:
        if self.shown:
            self.err.write("\r" + " " * self.shown + "\r")
            self.err.flush()
        self.shown, self.drawn_at = 0, -math.inf

    def finished(self, result: Any) -> None:
        self.start()
        self.clear()
        row = (
            f"{result.name:<{self.width}}  {result.status:<7}  {result.examples:>8}  "
            f"{result.seconds:>7.2f}"
        )
        if result.status == "skipped" and result.message:
            reason = " ".join(result.message.split())
            if getattr(self.out, "isatty", lambda: False)():  # fit a terminal, in whole words
                room = _columns(self.out) - 1 - len(row) - len("  ()")
                reason = _shorten(reason, max(room, self.MIN_REASON))
            row += f"  ({reason})"
        print(row, file=self.out, flush=True)


class _Backstop:
    """The command never waits forever: verify()'s time limits interrupt Python code, but not a
    Function stuck inside a C extension. If nothing happens (no sample, no check finished) for
    the time limit plus a minute, Python's faulthandler prints every thread's traceback and
    the process exits with status 1."""

    GRACE = 60.0

    def __init__(self, timeout: float | None) -> None:
        self.seconds = None if timeout is None else timeout + self.GRACE
        self.rearm()

    def rearm(self) -> None:
        if self.seconds is None:
            return
        try:  # the process's own stderr: sys.stderr may be replaced by one without a file
            faulthandler.dump_traceback_later(self.seconds, exit=True, file=sys.__stderr__)
        except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
            self.seconds = None  # no file descriptor to write to: no backstop

    def disarm(self) -> None:
        if self.seconds is not None:
            faulthandler.cancel_dump_traceback_later()


class _Misuse(Exception):
    """A mistake in the ``check`` command's arguments: exit 2 with this one-line message."""


def _one_line(text: str) -> str:
    """A (possibly multi-line) message as one line: lines joined by '; ' (by ' ' after a colon)."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    joined = ""
    for line in lines:
        joined += ("" if not joined else " " if joined.endswith(":") else "; ") + line
    return joined


EXAMPLE_HINT = (
    "hint: pass one call's arguments with --example '(...)', e.g. --example "
    "'(torch.ones(3, 4), torch.ones(5, 4))', and --signature '(m,n),(k,n)->(m,k)' to let "
    "their shapes vary"
)


_NOT_GIVEN: Any = object()  # --timeout's default: verify() is called without timeout=


def _timeout(text: str) -> float | None:
    """``--timeout``: seconds > 0, or ``none`` for no limit."""
    if text.strip().lower() == "none":
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"expected seconds > 0 or 'none', got {text!r}")
    return seconds


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _check_options(args: argparse.Namespace) -> tuple[Any, dict[str, Any], str | None]:
    """The target and verify()'s options from the command line (a :class:`_Misuse` for any
    mistake), and the target's file (for locating errors raised in it)."""
    from legendre_verify.verification.targets import evaluate, resolve_target, symbolic_from_text

    try:
        fn, module = resolve_target(args.target)
        options: dict[str, Any] = {}
        if args.n is not None:
            base, degree = fn, args.n
            fn = lambda *xs: base(*xs, degree)  # noqa: E731
            fn.__qualname__ = f"{args.target}(..., {degree})"
        if args.symbolic is not None:
            options["symbolic"], options["arity"] = symbolic_from_text(args.symbolic, args.n)
        if args.reference is not None:
            options["reference"] = evaluate(args.reference, "--reference", module)
        if args.example is not None:
            example = evaluate(args.example, "--example", module)
            options["example"] = example if isinstance(example, tuple) else (example,)
            options.pop("arity", None)
        if args.signature is not None:
            options["signature"] = args.signature
        if args.timeout is not _NOT_GIVEN:  # verify()'s default otherwise
            options["timeout"] = args.timeout
    except (TypeError, ValueError) as error:
        raise _Misuse(_one_line(str(error))) from error
    return fn, options, getattr(module, "__file__", None)


def _misuse_message(error: BaseException, args: argparse.Namespace, file: str | None) -> str:
    """One line for a TypeError/ValueError verify() raised before any check ran: its message,
    where in the target's file it was raised (if there), and the --example hint where verify
    asks for ``example=``."""
    from legendre_verify.verification.targets import where

    message = _one_line(str(error))
    cause = error.__cause__ or error.__context__
    place = None if file is None or cause is None else where(cause.__traceback__, file, only=True)
    if place is not None:
        message += f" (at {place})"
    if args.example is None and ("example=" in message or "elementwise" in message):
        message += f"; {EXAMPLE_HINT}"
    return message


def _check(args: argparse.Namespace) -> int:
    prog = "legendre-verify check"
    try:
        fn, options, file = _check_options(args)
        for option, value in (("--json", args.json), ("--junit-xml", args.junit_xml)):
            if value is not None and not Path(value).parent.is_dir():
                raise _Misuse(f"{option} {value!r}: no directory {str(Path(value).parent)!r}")
    except _Misuse as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        return _internal_error(prog, error)
    from legendre_verify.verification.driver import verify
    from legendre_verify.verification.limits import DEFAULT_TIMEOUT
    from legendre_verify.verification.oracles import OracleError

    display = None if args.quiet else _CheckDisplay(sys.stdout, sys.stderr)
    backstop = _Backstop(options.get("timeout", DEFAULT_TIMEOUT))
    started = False  # has a check run? (what verify() raises before that is misuse)

    def progress(result: Any) -> None:
        nonlocal started
        started = True
        backstop.rearm()
        if display is not None:
            display.finished(result)

    def on_sample(p: Any) -> None:
        nonlocal started
        started = True
        backstop.rearm()
        if display is not None:
            display.sample(p)

    try:
        try:
            report = verify(
                fn,
                **options,
                domain=None if args.domain is None else tuple(args.domain),
                name=args.target,
                max_examples=args.max_examples,
                thorough=args.thorough,
                inductor=args.inductor,
                skip=args.skip,
                progress=progress,
                on_sample=on_sample,
                raise_on_failure=False,
            )
        finally:  # no live line left under what follows
            backstop.disarm()
            if display is not None:
                display.clear()
    except OracleError as error:
        print(
            f"{prog}: error: the oracle failed (not the Function): {_one_line(str(error))}",
            file=sys.stderr,
        )
        return 2
    except (TypeError, ValueError) as error:
        if started:  # not the call's description: the verifier's own failure
            return _internal_error(prog, error)
        print(f"{prog}: error: {_misuse_message(error, args, file)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        return _internal_error(prog, error)
    for option, value, text in (
        ("--json", args.json, lambda: json.dumps(report.to_dict(), indent=2, default=str)),
        ("--junit-xml", args.junit_xml, report.to_junit_xml),
    ):
        if value is not None:
            try:
                Path(value).write_text(text())
            except OSError as error:
                print(f"{prog}: error: {option} {value!r}: cannot write: {error}", file=sys.stderr)
                return 2
    for note in report.notes:
        print(f"note: {note}")
    ran = sum(r.status in ("passed", "failed", "blocked") for r in report.results)
    if not report.passed:
        failed = [r.name for r in report.failures + report.blocked]
        text = report.failure_text().split("\n\n")[0]  # the table is on stdout already
        print(f"\n{text}", file=sys.stderr, flush=True)
        print(
            f"{report.subject}: FAILED {len(failed)} of {ran} checks ({', '.join(failed)}) "
            f"in {report.seconds:.1f} s"
        )
        return 1
    print(f"{report.subject}: PASSED {ran} checks in {report.seconds:.1f} s")
    return 0


def _internal_error(prog: str, error: BaseException) -> int:
    """An exception that is neither a failure of the Function nor a mistake in the call: a bug
    of legendre-verify. The traceback, one line saying so, and exit status 3."""
    traceback.print_exception(error, file=sys.stderr)
    print(
        f"{prog}: internal error of legendre-verify (please report it with the traceback): "
        f"{type(error).__name__}: {_one_line(str(error))}",
        file=sys.stderr,
    )
    return 3


def _legendre_of(x: torch.Tensor, n: int) -> torch.Tensor:
    from legendre_verify.legendre import legendre_p

    return legendre_p(x, n)


def _default(args: argparse.Namespace) -> int:
    """Verify the project's own P_0..P_10 and P3 and print one row per Function."""
    import sympy

    from legendre_verify.legendre import LegendrePolynomial3
    from legendre_verify.verification.driver import verify

    subjects = [("LegendrePolynomial3", LegendrePolynomial3.apply, 3)]
    subjects += [
        (f"legendre_p(x, {n})", functools.partial(_legendre_of, n=n), n) for n in range(11)
    ]
    width = max(len(name) for name, _, _ in subjects)
    print(
        f"{'Function':<{width}}  {'passed':>6}  {'failed':>6}  {'skipped':>7}  {'examples':>8}  {'seconds':>7}",
        flush=True,
    )
    failed_any = False
    for name, fn, n in subjects:
        report = verify(
            fn,
            symbolic=lambda x, n=n: sympy.legendre(n, x),
            name=name,
            raise_on_failure=False,
            max_examples=args.max_examples,
        )
        counts = {
            s: sum(r.status == s for r in report.results) for s in ("passed", "failed", "skipped")
        }
        print(
            f"{name:<{width}}  {counts['passed']:>6}  {counts['failed']:>6}  {counts['skipped']:>7}  "
            f"{sum(r.examples for r in report.results):>8}  {report.seconds:>7.2f}",
            flush=True,
        )
        for failure in report.failures:
            failed_any = True
            print(f"  FAILED {failure.name}: {failure.message}", flush=True)
    skipped = sorted({f"{r.name} ({r.message})" for r in report.results if r.status == "skipped"})
    if skipped:
        print(f"skipped on this machine: {', '.join(skipped)}")
    print("all verified" if not failed_any else "FAILURES above")
    return 1 if failed_any else 0


def _mutants(args: argparse.Namespace) -> int:
    from legendre_verify.verification.mutants import kill_rates

    print(
        f"{'zoo':<11}  {'mutant':<34}  {'verify()':<34}  {'gradcheck+gradgradcheck':<23}  bug class"
    )

    def show(r: Any) -> None:
        by = f"killed by {r.killed_by}" if r.killed_by else "SURVIVED"
        plain = {True: "killed", False: "missed", None: "hangs"}[r.baseline]
        print(
            f"{r.zoo:<11}  {r.mutant.name:<34}  {by:<34}  {plain:<23}  {r.mutant.bug}", flush=True
        )

    results = kill_rates(args.zoo, max_examples=args.max_examples, progress=show)
    print()
    for zoo in dict.fromkeys(r.zoo for r in results):
        rows = [r for r in results if r.zoo == zoo]
        killed = sum(r.killed_by is not None for r in rows)
        plain = sum(r.baseline is True for r in rows)
        total = len(rows)
        print(
            f"kill rate ({zoo}): verify() {killed}/{total} ({100 * killed / total:.0f}%), "
            f"plain gradcheck + gradgradcheck {plain}/{total} ({100 * plain / total:.0f}%); "
            f"verify() {sum(r.seconds for r in rows):.1f} s"
        )
    print(f"verify() on all {len(results)} mutants: {sum(r.seconds for r in results):.1f} s")
    return 0 if all(r.killed_by for r in results) else 1


def _bench(args: argparse.Namespace) -> int:
    import platform

    from legendre_verify import bench

    if args.cold:
        for mode in ("eager", "tiered", "compiled"):
            size = args.size or 1 << 20
            print(bench.cold_start(mode, args.degrees[0], size, calls=args.calls).summary())
        return 0
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() and not args.cpu_only else [])
    rows = bench.run(
        devices=devices,
        size=args.size,
        dtype=DTYPES[args.dtype],
        min_run_time=args.min_run_time,
        rounds=args.rounds,
        degrees=args.degrees,
        progress=lambda message: print(message, file=sys.stderr, flush=True),
    )
    from legendre_verify.legendre.dispatch import compile_status

    print(compile_status(), file=sys.stderr)
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    if "cuda" in devices:
        machine += f", {torch.cuda.get_device_name()}"
    print(bench.format_table(rows, f"{args.dtype}, torch {torch.__version__}, {machine}"))
    return 0


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="legendre-verify",
        description="Differentiable Legendre polynomials and verification of autograd Functions.",
    )
    parser.add_argument("--max-examples", type=int, default=None, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    train = commands.add_parser(
        "train", help="fit y = a + b*P3(c + d*x) to sin(x), as in the PyTorch tutorial"
    )
    train.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    train.add_argument("--dtype", default="float32", choices=list(DTYPES))
    train.add_argument("--steps", type=int, default=2000, help="SGD steps (default: 2000)")
    train.add_argument("--lr", type=float, default=5e-6, help="learning rate (default: 5e-6)")
    train.add_argument("--plot", metavar="FILE.png", help="save data, fit and loss history")
    train.add_argument(
        "--method",
        default="auto",
        choices=["auto", "eager", "compiled", "fused"],
        help="auto (default): eager or compiled, whichever is expected to finish first (stderr "
        "says which and why); eager: the tutorial's loop; compiled: the same autograd step through "
        "torch.compile, 10 steps a call (the first call compiles, seconds; cached); fused: analytic "
        "gradients from moments",
    )
    train.add_argument("--fused", action="store_true", help="same as --method fused")
    train.set_defaults(run=_train)
    acc = commands.add_parser(
        "accuracy", help="measure P_n and its derivatives against the exact symbolic truth"
    )
    acc.add_argument("--points", type=int, default=10_000, help="sample size (default: 10000)")
    acc.add_argument("--max-order", type=int, default=2, help="highest derivative (default: 2)")
    acc.add_argument("--all-degrees", action="store_true", help="every n up to --max-degree")
    acc.add_argument("--max-degree", type=int, default=100)
    acc.set_defaults(run=_accuracy)
    check = commands.add_parser(
        "check",
        help="verify any autograd Function (or callable, or custom op); exit 0 passed, 1 failed, "
        "2 misuse",
        description="Verify an autograd Function (or callable, or custom op) with verify(). Exit "
        "status 0: every check passed; 1: a check failed (the failure, its minimal sample and a "
        "reproduce snippet on stderr, a FAILED line on stdout); 2: misuse (one line on stderr "
        "naming what is wrong: the target, an expression, an option, or the oracle failing); "
        "3: an internal error of legendre-verify (with its traceback).",
    )
    check.add_argument(
        "target",
        metavar="TARGET",
        help="MODULE:NAME or path/to/file.py:NAME: a Function class, a callable or a custom op",
    )
    check.add_argument(
        "--symbolic", metavar="EXPR", help="sympy expression of the truth, e.g. 'exp(x)'"
    )
    check.add_argument(
        "--reference",
        metavar="EXPR",
        help="Python expression for plain-torch truth with fn's signature, e.g. "
        "'F.linear' or 'lambda x: torch.sort(x)' (torch, F, st, math and the target's module "
        "in scope); a Function that is not elementwise needs --example too",
    )
    check.add_argument(
        "--example",
        metavar="EXPR",
        help="Python expression for one call's arguments, e.g. "
        "'(torch.ones(3, 4), torch.ones(5, 4), torch.ones(5))'; constant(t), index(high=...) "
        "and size(name) mark constant tensors, drawn indices and sizes (also in scope: torch, "
        "F, st, math and the target's module)",
    )
    check.add_argument("--signature", metavar="SIG", help="gufunc signature, e.g. '(m,n),(n)->(m)'")
    check.add_argument("--json", metavar="FILE", help="write the report as JSON")
    check.add_argument(
        "--junit-xml", metavar="FILE", help="write the report as JUnit XML (a testcase per check)"
    )
    check.add_argument(
        "--quiet", action="store_true", help="no per-check rows and no progress line"
    )
    check.add_argument(
        "--domain",
        nargs=2,
        type=float,
        default=None,
        metavar=("LO", "HI"),
        help="the interval inputs are drawn from (default: -1 1, and for a Function described "
        "by --example also magnitudes where exp overflows, in the edges check)",
    )
    check.add_argument("--n", type=int, help="pass N as the last argument (and as n in EXPR)")
    check.add_argument(
        "--max-examples",
        type=_positive_int,
        default=None,
        metavar="N",
        help="examples per check (default: 20)",
    )
    check.add_argument("--thorough", action="store_true", help="10x the examples, random")
    check.add_argument("--inductor", action="store_true", help="add the inductor compile check")
    check.add_argument("--skip", nargs="*", default=(), metavar="CHECK", help="checks to leave out")
    check.add_argument(
        "--timeout",
        type=_timeout,
        default=_NOT_GIVEN,
        metavar="SECONDS",
        help="limit on each call of the Function, its backward and the oracle: seconds, or "
        "'none' for no limit (default: verify()'s)",
    )
    check.set_defaults(run=_check)
    mutants = commands.add_parser("mutants", help="kill rate of verify() vs plain gradcheck")
    mutants.add_argument("--zoo", action="append", choices=list(ZOOS), help="default: every zoo")
    mutants.add_argument("--max-examples", type=int, default=None, help="examples per check")
    mutants.set_defaults(run=_mutants)
    bench = commands.add_parser("bench", help="time each implementation: ratios to clone()")
    bench.add_argument("--size", type=int, default=None, help="elements (CPU 10M, CUDA 100M)")
    bench.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    bench.add_argument("--min-run-time", type=float, default=0.3, help="seconds per case")
    bench.add_argument("--rounds", type=int, default=3, help="round-robin rounds (median)")
    bench.add_argument("--cpu-only", action="store_true")
    bench.add_argument(
        "--degrees",
        type=lambda text: [int(d) for d in text.split(",")],
        default=[3, 10, 32],
        help="comma-separated degrees n (default: 3,10,32)",
    )
    bench.add_argument(
        "--cold",
        action="store_true",
        help="instead: a fresh process per LEGENDRE_VERIFY_COMPILE mode with empty caches calls "
        "legendre_p(x, n) --calls times (n: the first of --degrees, x: --size or 1M float32)",
    )
    bench.add_argument("--calls", type=int, default=1, help="calls per --cold process")
    bench.set_defaults(run=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args.command, args.run = "verify", _default
    try:
        return args.run(args)
    except (TypeError, ValueError, ImportError) as error:
        print(f"legendre-verify {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
