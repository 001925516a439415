"""The truth the tests compare against: the exact symbolic P_n^{(k)} and the error each point
may have (all tolerances come from legendre_verify.legendre.bounds)."""

from __future__ import annotations

import functools

import numpy as np
import torch

from legendre_verify.legendre import bounds
from legendre_verify.legendre.accuracy import legendre_oracle
from legendre_verify.verification.symbolic import SymbolicOracle


@functools.cache
def oracle(n: int) -> SymbolicOracle:
    return legendre_oracle(n)


def truth(x: torch.Tensor, n: int, k: int = 0) -> np.ndarray:
    """P_n^{(k)} at the exact values ``x`` holds, correctly rounded to float64."""
    return oracle(n).derivative((k,), [x.detach().cpu().double().numpy()])


def allowed(x: torch.Tensor, n: int, k: int, dtype: torch.dtype | None = None) -> np.ndarray:
    """Per-point allowed error; outside [-1, 1] the scale is max |P_n^{(k)}| on [-|x|, |x|]."""
    dtype = dtype or x.dtype
    xs = x.detach().cpu().double().numpy()
    exact = truth(x, n, k)
    out = np.empty(xs.shape)
    for index, xi in np.ndenumerate(xs):
        scale = None
        if abs(xi) > 1:
            outer = oracle(n).derivative((k,), [np.array([abs(xi)])])[0]
            scale = max(abs(outer), bounds.legendre_bound_at_one(n, k))
        out[index] = bounds.legendre_allowed_error(float(exact[index]), n, k, dtype, scale)
    return out


def assert_matches_truth(got: torch.Tensor, x: torch.Tensor, n: int, k: int = 0) -> None:
    """``got`` is P_n^{(k)}(x) to within the allowed error of ``got``'s dtype, point by point."""
    expected = truth(x, n, k)
    values = got.detach().cpu().double().numpy()
    representable = np.abs(expected) <= float(torch.finfo(got.dtype).max)
    error = np.where(representable, np.abs(values - expected), 0.0)
    limit = allowed(x, n, k, got.dtype)
    bad = error > limit
    if bad.any():
        i = np.unravel_index(
            np.argmax(np.where(bad, error / np.maximum(limit, 1e-300), 0)), bad.shape
        )
        xs = x.detach().cpu().double().numpy()
        raise AssertionError(
            f"P_{n}^({k}) in {got.dtype}: at x={xs[i]!r} got {values[i]!r}, "
            f"expected {expected[i]!r} (error {error[i]:.3g} > allowed {limit[i]:.3g}); "
            f"{int(bad.sum())} of {bad.size} points off"
        )
