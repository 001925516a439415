"""The four Functions whose default ``verify()`` the suite follows (issue #20): P3 with its
sympy truth, the general zoo's LinearFunction and SortFunction with their ``GENERAL_CORRECT``
options, and an attention Function (q, k, v, scale, causal) with its reference.

Plain module, no relative imports: ``Verify`` imports it, and ``VerifyCold``'s fresh processes
load it by path (``python verify_subjects.py NAME`` runs one default verify).

The attention Function is the public zoo's ``Attention`` with its ``PUBLIC_CORRECT`` options
where the installed commit has ``legendre_verify.verification.mutants.public``; before that,
the same Function and options written out here (a copy of that module's, so a history reads the
same work on both sides of the commit that adds it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F

NAMES = ["P3", "LinearFunction", "Attention", "SortFunction"]


def _grid(*shape: int, low: float = -0.9, high: float = 0.8) -> torch.Tensor:
    """Distinct, deterministic, unsorted values in [low, high] (as the zoos' ``_grid``)."""
    n = torch.Size(shape).numel()
    values = torch.linspace(low, high, n)
    perm = (torch.arange(n) * 7) % n if n % 7 else torch.arange(n)
    return values[perm].reshape(shape).contiguous()


def _attention_probs(q: torch.Tensor, k: torch.Tensor, scale: float, causal: bool):
    scores = (q @ k.transpose(-2, -1)) * scale
    if causal:
        keep = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    return torch.softmax(scores, dim=-1)


class Attention(torch.autograd.Function):
    """softmax(scale q k^T, causal mask) v for q, k (b, s, d), v (b, s, e); the probabilities
    recomputed from q and k in backward (FlashAttention's reference recomputation)."""

    @staticmethod
    def forward(ctx, q, k, v, scale: float, causal: bool):
        ctx.save_for_backward(q, k, v)
        ctx.scale, ctx.causal = scale, causal
        return _attention_probs(q, k, scale, causal) @ v

    @staticmethod
    def backward(ctx, g):
        q, k, v = ctx.saved_tensors
        p = _attention_probs(q, k, ctx.scale, ctx.causal)
        dp = g @ v.transpose(-2, -1)
        ds = p * (dp - (dp * p).sum(-1, keepdim=True))
        dq, dk = ds @ k * ctx.scale, ds.transpose(-2, -1) @ q * ctx.scale
        return dq, dk, p.transpose(-2, -1) @ g, None, None


ATTENTION_OPTIONS: dict[str, Any] = {
    "example": (
        _grid(2, 4, 3),
        _grid(2, 4, 3, low=-0.6, high=0.9),
        _grid(2, 4, 5, low=-0.8, high=0.7),
        0.5,
        True,
    ),
    "signature": "(b,s,d),(b,s,d),(b,s,e)->(b,s,e)",
    "reference": lambda q, k, v, scale, causal: F.scaled_dot_product_attention(
        q, k, v, is_causal=causal, scale=scale
    ),
}


def _correct(zoo: list, name: str) -> tuple[Callable[..., Any], Mapping[str, Any]]:
    (mutant,) = [m for m in zoo if m.name == name]
    return mutant.fn, dict(mutant.options)


def subject(name: str) -> tuple[Callable[..., Any], dict[str, Any], str]:
    """(fn, verify() keywords, where they come from) for one of :data:`NAMES`; ImportError or
    ValueError where the installed commit lacks it."""
    if name == "P3":
        import sympy

        from legendre_verify import LegendrePolynomial3

        return LegendrePolynomial3.apply, {"symbolic": lambda x: sympy.legendre(3, x)}, "library"
    if name in ("LinearFunction", "SortFunction"):
        from legendre_verify.verification.mutants.general import GENERAL_CORRECT

        fn, options = _correct(GENERAL_CORRECT, name)
        return fn, dict(options), "mutants.general.GENERAL_CORRECT"
    if name == "Attention":
        try:
            from legendre_verify.verification.mutants.public import PUBLIC_CORRECT
        except ImportError:
            return Attention.apply, dict(ATTENTION_OPTIONS), "benchmarks/verify_subjects.py"
        fn, options = _correct(PUBLIC_CORRECT, "Attention")
        return fn, dict(options), "mutants.public.PUBLIC_CORRECT"
    raise ValueError(f"unknown verify subject {name!r}; known: {NAMES}")


def fresh_env() -> dict[str, str]:
    """The environment for a fresh ``python verify_subjects.py NAME``: this one without
    ``PYTHONDONTWRITEBYTECODE``, so the untimed first run writes the bytecode a user's second
    run finds (with it set, as on the development machine, every run compiled the verifier's
    modules anew: 0.1-0.3 s of a fresh P3 there)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(name: str) -> None:
    """One default, passing ``verify()`` of ``name`` (raises if it does not pass)."""
    from legendre_verify import verify

    fn, options, _ = subject(name)
    verify(fn, **options)


if __name__ == "__main__":
    run(sys.argv[1])
