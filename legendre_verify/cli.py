"""The ``legendre-verify`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

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
    )
    print(result.result_line())
    if args.plot:
        from legendre_verify.plotting import plot_fit

        print(f"plot saved to {plot_fit(result, args.plot)}", file=sys.stderr)
    return 0


def _accuracy(args: argparse.Namespace) -> int:
    from legendre_verify import accuracy

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="legendre-verify",
        description="Differentiable Legendre polynomials and verification of autograd Functions.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    train = commands.add_parser(
        "train", help="fit y = a + b*P3(c + d*x) to sin(x), as in the PyTorch tutorial"
    )
    train.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    train.add_argument("--dtype", default="float32", choices=list(DTYPES))
    train.add_argument("--steps", type=int, default=2000, help="SGD steps (default: 2000)")
    train.add_argument("--lr", type=float, default=5e-6, help="learning rate (default: 5e-6)")
    train.add_argument("--plot", metavar="FILE.png", help="save data, fit and loss history")
    train.set_defaults(run=_train)
    acc = commands.add_parser(
        "accuracy", help="measure P_n and its derivatives against the exact symbolic truth"
    )
    acc.add_argument("--points", type=int, default=10_000, help="sample size (default: 10000)")
    acc.add_argument("--max-order", type=int, default=2, help="highest derivative (default: 2)")
    acc.add_argument("--all-degrees", action="store_true", help="every n up to --max-degree")
    acc.add_argument("--max-degree", type=int, default=100)
    acc.set_defaults(run=_accuracy)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except (TypeError, ValueError, ImportError) as error:
        print(f"legendre-verify {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
