"""The fast paths (torch.compile kernels for large tensors, blocked eager recurrences) give the
same numbers as the plain eager path, pass verify(), and fall back when the compiler fails."""

from __future__ import annotations

import pytest
import sympy
import torch
from conftest import broken_compile
from truth import assert_matches_truth

from legendre_verify import verify
from legendre_verify.legendre import LegendrePolynomial3, kernels, legendre_p

N = kernels.COMPILE_MIN_NUMEL + 1001  # large enough for the compiled path, odd-sized tail


@pytest.fixture
def eager_only(monkeypatch):
    monkeypatch.setitem(kernels._COMPILE, "enabled", False)


def _eager(fn, *args):
    state = dict(kernels._COMPILE)
    kernels._COMPILE["enabled"] = False
    try:
        return fn(*args)
    finally:
        kernels._COMPILE.update(state)


def _input(dtype):
    x = torch.linspace(-1, 1, N, dtype=torch.float64).to(dtype)
    return x.flip(0)  # ends and 0 included, values not in storage order of a fresh linspace


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize(("n", "k"), [(3, 0), (3, 1), (10, 0), (10, 1), (20, 0), (20, 2), (130, 1)])
def test_large_tensor_paths_match_truth_and_eager(dtype, n, k):
    x = _input(dtype)
    g = torch.linspace(-2, 2, N, dtype=dtype)
    fast = kernels.legendre_derivative(x, n, k)
    fast_times = kernels.times_derivative(g, x, n, k)
    sub = slice(0, None, 37)  # ~1,800 points against the exact truth
    assert_matches_truth(fast[sub], x[sub], n, k)
    eager = _eager(kernels.legendre_derivative, x, n, k)
    eager_times = _eager(kernels.times_derivative, g, x, n, k)
    # the same recurrence, fused differently: within the bound each already meets
    from legendre_verify.legendre.bounds import legendre_abs_tolerance

    tol = legendre_abs_tolerance(n, k, dtype)
    torch.testing.assert_close(fast, eager, rtol=0, atol=2 * tol)
    torch.testing.assert_close(fast_times, eager_times, rtol=0, atol=4 * tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_large_p3_forward_backward_match_eager(dtype):
    x = _input(dtype).requires_grad_(True)
    y = LegendrePolynomial3.apply(x)
    (gx,) = torch.autograd.grad(y, x, torch.ones_like(y))
    assert_matches_truth(y[::37], x[::37], 3)
    assert_matches_truth(gx[::37], x[::37], 3, 1)
    (y2,) = [_eager(LegendrePolynomial3.apply, x.detach())]
    torch.testing.assert_close(y.detach(), y2, rtol=0, atol=8 * torch.finfo(dtype).eps)


def test_compiler_failure_falls_back_to_eager(monkeypatch):
    monkeypatch.setattr(kernels.torch, "compile", broken_compile)
    monkeypatch.setattr(kernels, "_COMPILED", {})
    monkeypatch.setitem(kernels._COMPILE, "enabled", True)
    monkeypatch.setitem(kernels._COMPILE, "error", None)
    x = _input(torch.float64)
    with pytest.warns(RuntimeWarning, match="torch.compile failed"):
        out = legendre_p(x, 10)
    assert "off: torch.compile failed" in kernels.compile_status()
    assert_matches_truth(out[::37], x[::37], 10)
    assert torch.equal(legendre_p(x, 10), out)  # stays on the eager path, without a new warning


def test_disabled_by_environment(eager_only):
    assert kernels.compile_status().startswith("off")
    x = _input(torch.float32)
    assert_matches_truth(legendre_p(x, 7)[::37], x[::37], 7)


@pytest.mark.parametrize(
    ("n", "fn"), [(3, LegendrePolynomial3.apply), (7, lambda x: legendre_p(x, 7))], ids=["P3", "P7"]
)
def test_verify_passes_with_the_compiled_kernels_on_every_sample(monkeypatch, n, fn):
    monkeypatch.setattr(kernels, "COMPILE_MIN_NUMEL", 1)  # route every sample through them
    report = verify(
        fn,
        symbolic=lambda x: sympy.legendre(n, x),
        max_examples=8,
        skip=["compile", "gradgradcheck"],  # gradcheck stays: its batched-gradient check runs
    )  # the backward under the legacy vmap, which once reached the compiled kernels
    assert report.passed


@pytest.mark.parametrize(
    "fn", [LegendrePolynomial3.apply, lambda x: legendre_p(x, 10)], ids=["P3", "P10"]
)
def test_batched_gradients_of_a_large_tensor(fn):
    """autograd.grad(..., is_grads_batched=True) runs the backward under the legacy vmap,
    whose batched grad_output must not reach the compiled or in-place kernels."""
    x = _input(torch.float64).requires_grad_(True)
    y = fn(x)
    grads = torch.stack([torch.ones_like(x), torch.linspace(-1, 1, N, dtype=torch.float64)])
    (batched,) = torch.autograd.grad(y, x, grads, retain_graph=True, is_grads_batched=True)
    for i in range(2):
        (one,) = torch.autograd.grad(y, x, grads[i], retain_graph=True)
        torch.testing.assert_close(batched[i], one)
