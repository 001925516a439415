"""The mutant zoos: deliberately wrong Functions, one per bug class, that ``verify`` must
reject. ``elementwise`` holds wrong P3s; ``general`` wrong linear, normalisation, sort,
gradient-reversal, scatter and multi-output Functions. :func:`kill_rates` runs ``verify`` and
the baseline (plain ``gradcheck`` + ``gradgradcheck`` on the example) on each."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from legendre_verify.verification.mutants.base import Mutant

__all__ = ["ZOOS", "Mutant", "MutantResult", "kill_rates", "plain_gradcheck_kills", "zoos"]

#: the zoos' names (each imported on first use by :func:`zoos`)
ZOOS = ("elementwise", "general", "public")


def zoos() -> dict[str, list[Mutant]]:
    """Every zoo by name (imported on first use)."""
    from legendre_verify.verification.mutants.elementwise import ELEMENTWISE_MUTANTS
    from legendre_verify.verification.mutants.general import GENERAL_MUTANTS
    from legendre_verify.verification.mutants.public import PUBLIC_MUTANTS

    return {
        "elementwise": ELEMENTWISE_MUTANTS,
        "general": GENERAL_MUTANTS,
        "public": PUBLIC_MUTANTS,
    }


def _example(mutant: Mutant, seed: int) -> tuple[list[Any], list[int]]:
    """The baseline's input and which of its arguments are differentiable: the mutant's example
    (constants, indices and sizes made concrete), or 8 uniform values per elementwise input."""
    if "example" in mutant.options:
        from legendre_verify.verification.signature import describe_call, example_args

        options = mutant.options
        spec = describe_call(
            tuple(options["example"]),
            dict(options.get("kwargs") or {}),
            options.get("signature"),
            bool(options.get("batch", False)),
        )
        return example_args(spec)[0], list(spec.diff)
    generator = torch.Generator().manual_seed(seed)
    cls = mutant.fn.__self__
    arity = cls.forward.__code__.co_argcount - (
        0 if cls.setup_context is not torch.autograd.Function.setup_context else 1
    )
    args = [torch.rand(8, dtype=torch.float64, generator=generator) * 2 - 1 for _ in range(arity)]
    return args, list(range(arity))


def plain_gradcheck_kills(mutant: Mutant, seed: int = 0) -> bool | None:
    """Does plain gradcheck + gradgradcheck (default settings, float64) on one input reject the
    mutant? The input: its example, or 8 values uniform on [-1, 1] per elementwise input. (The
    baseline verify must beat.) None where it never returns (a hang: nothing is reported)."""
    from legendre_verify.verification.limits import Hang, time_limit

    args, floats = _example(mutant, seed)
    leaves = tuple(args[i].detach().double().requires_grad_(True) for i in floats)

    def f(*xs: torch.Tensor) -> Any:
        merged = list(args)
        for i, x in zip(floats, xs, strict=True):
            merged[i] = x
        out = mutant.fn(*merged, **mutant.options.get("kwargs", {}) or {})
        outs = out if isinstance(out, tuple) else (out,)
        return tuple(o for o in outs if o.is_floating_point())

    try:
        with time_limit(mutant.options.get("timeout", 60.0), "gradcheck"):
            checked = torch.autograd.gradcheck(f, leaves) and torch.autograd.gradgradcheck(
                f, leaves
            )
        return not checked
    except Hang:
        return None
    except Exception:  # GradcheckError, or the mutant crashed: either way it was caught
        return True


@dataclass
class MutantResult:
    """One mutant's outcome: the first check of ``verify`` that killed it (None: survived),
    and whether the baseline caught it."""

    zoo: str
    mutant: Mutant
    killed_by: str | None
    #: plain gradcheck + gradgradcheck rejected it (None: it hung there)
    baseline: bool | None
    #: seconds verify() took on it
    seconds: float = 0.0


def kill_rates(
    names: Iterable[str] | None = None,
    max_examples: int | None = None,
    progress: Callable[[MutantResult], None] | None = None,
) -> list[MutantResult]:
    """Run ``verify`` (fail-fast) and the baseline on every mutant of the named zoos."""
    from legendre_verify.verification.driver import verify

    all_zoos = zoos()
    chosen = list(all_zoos) if names is None else list(names)
    unknown = sorted(set(chosen) - set(all_zoos))
    if unknown:
        raise ValueError(f"unknown zoo(s) {unknown}; known: {list(all_zoos)}")
    results = []
    for zoo in chosen:
        for mutant in all_zoos[zoo]:
            started = time.perf_counter()
            report = verify(
                mutant.fn,
                **mutant.verify_kwargs(),
                raise_on_failure=False,
                fail_fast=True,
                max_examples=max_examples,
            )
            result = MutantResult(
                zoo,
                mutant,
                report.failures[0].name if report.failures else None,
                plain_gradcheck_kills(mutant),
                time.perf_counter() - started,
            )
            results.append(result)
            if progress is not None:
                progress(result)
    return results
