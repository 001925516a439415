"""The ``legendre-verify`` command line."""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import torch

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


class _CheckDisplay:
    """What ``check`` shows as it runs: a row on ``out`` the moment each check finishes (the
    table is the display) and, only where ``err`` is a terminal, a live line on ``err`` for a
    check running longer than ``AFTER`` seconds: a bar of its draws out of its budget, redrawn
    in place with a carriage return (at most every ``EVERY`` seconds) and erased before the
    row. Fed by verify()'s ``progress`` and ``on_sample`` hooks; it only renders."""

    AFTER = 1.0  # seconds a check runs before its live line appears
    EVERY = 0.1  # seconds between redraws

    def __init__(self, out: TextIO, err: TextIO, *, width: int = 22, bar: int = 20) -> None:
        self.out, self.err = out, err
        self.live = bool(getattr(err, "isatty", lambda: False)())
        self.width, self.bar = width, bar
        self.shown = 0  # length of the live line on screen, 0 when none
        self.drawn_at = -math.inf
        header = f"{'check':<{width}}  {'status':<7}  {'examples':>8}  {'seconds':>7}"
        print(header, file=self.out, flush=True)

    def line(self, p: Any) -> str:
        """The live line for a :class:`CheckProgress`."""
        if p.shrinking:
            state = f"shrinking a failing sample ({p.examples} samples run)"
        else:
            done = min(p.examples, p.max_examples)
            filled = self.bar * done // max(p.max_examples, 1)
            bar = "#" * filled + "-" * (self.bar - filled)
            state = f"[{bar}] {done:>{len(str(p.max_examples))}}/{p.max_examples} draws"
        return f"{p.check:<{self.width}}  {state}  {p.seconds:.1f} s"

    def sample(self, p: Any) -> None:
        if not self.live or p.seconds < self.AFTER or p.seconds - self.drawn_at < self.EVERY:
            return
        self.drawn_at = p.seconds
        text = self.line(p)
        self.err.write("\r" + text.ljust(self.shown))
        self.err.flush()
        self.shown = len(text)

    def clear(self) -> None:
        if self.shown:
            self.err.write("\r" + " " * self.shown + "\r")
            self.err.flush()
        self.shown, self.drawn_at = 0, -math.inf

    def finished(self, result: Any) -> None:
        self.clear()
        note = f"  ({result.message})" if result.status == "skipped" else ""
        print(
            f"{result.name:<{self.width}}  {result.status:<7}  {result.examples:>8}  "
            f"{result.seconds:>7.2f}{note}",
            file=self.out,
            flush=True,
        )


def _check(args: argparse.Namespace) -> int:
    from legendre_verify.verification.driver import verify
    from legendre_verify.verification.oracles import OracleError
    from legendre_verify.verification.targets import evaluate, resolve_target, symbolic_from_text

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
    display = None if args.quiet else _CheckDisplay(sys.stdout, sys.stderr)
    try:
        try:
            report = verify(
                fn,
                **options,
                domain=tuple(args.domain),
                name=args.target,
                max_examples=args.max_examples,
                thorough=args.thorough,
                inductor=args.inductor,
                skip=args.skip,
                progress=None if display is None else display.finished,
                on_sample=None if display is None else display.sample,
                raise_on_failure=False,
            )
        finally:  # no live line left under what follows
            if display is not None:
                display.clear()
    except OracleError as error:
        print(
            f"legendre-verify check: the oracle failed (not the Function): {error}", file=sys.stderr
        )
        return 2
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2, default=str))
    if args.junit_xml:
        Path(args.junit_xml).write_text(report.to_junit_xml())
    for note in report.notes:
        print(f"note: {note}")
    if not report.passed:
        others = [r.name for r in report.failures[1:]]
        suffix = f"\nother failing checks: {', '.join(others)}" if others else ""
        print(f"\n{report.failures[0].details}{suffix}", file=sys.stderr)
        return 1
    print(
        f"{report.subject}: PASSED {sum(r.status == 'passed' for r in report.results)} checks "
        f"in {report.seconds:.1f} s"
    )
    return 0


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
        plain = "killed" if r.baseline else "missed"
        print(
            f"{r.zoo:<11}  {r.mutant.name:<34}  {by:<34}  {plain:<23}  {r.mutant.bug}", flush=True
        )

    results = kill_rates(args.zoo, max_examples=args.max_examples, progress=show)
    print()
    for zoo in dict.fromkeys(r.zoo for r in results):
        rows = [r for r in results if r.zoo == zoo]
        killed = sum(r.killed_by is not None for r in rows)
        plain = sum(r.baseline for r in rows)
        total = len(rows)
        print(
            f"kill rate ({zoo}): verify() {killed}/{total} ({100 * killed / total:.0f}%), "
            f"plain gradcheck + gradgradcheck {plain}/{total} ({100 * plain / total:.0f}%)"
        )
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
        "in scope)",
    )
    check.add_argument(
        "--example",
        metavar="EXPR",
        help="Python expression for one call's arguments, e.g. "
        "'(torch.ones(3, 4), torch.ones(5, 4), torch.ones(5))'",
    )
    check.add_argument("--signature", metavar="SIG", help="gufunc signature, e.g. '(m,n),(n)->(m)'")
    check.add_argument("--json", metavar="FILE", help="write the report as JSON")
    check.add_argument(
        "--junit-xml", metavar="FILE", help="write the report as JUnit XML (a testcase per check)"
    )
    check.add_argument(
        "--quiet", action="store_true", help="no per-check rows and no progress line"
    )
    check.add_argument("--domain", nargs=2, type=float, default=(-1.0, 1.0), metavar=("LO", "HI"))
    check.add_argument("--n", type=int, help="pass N as the last argument (and as n in EXPR)")
    check.add_argument("--max-examples", type=int, default=None, help="examples per check")
    check.add_argument("--thorough", action="store_true", help="10x the examples, random")
    check.add_argument("--inductor", action="store_true", help="add the inductor compile check")
    check.add_argument("--skip", nargs="*", default=(), metavar="CHECK", help="checks to leave out")
    check.set_defaults(run=_check)
    mutants = commands.add_parser("mutants", help="kill rate of verify() vs plain gradcheck")
    mutants.add_argument(
        "--zoo", action="append", choices=["elementwise", "general"], help="default: both"
    )
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
