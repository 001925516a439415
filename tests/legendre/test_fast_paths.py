"""The compiled kernels and their dispatcher: the C kernel (any degree, CPU) and the inductor
kernels (CUDA's path, run here on the CPU) give the numbers of the eager path within its bound;
tiered execution compiles only hot kernels, in the background, checks them once, and falls
back to eager with one warning when a build or a check fails."""

from __future__ import annotations

import os
import select
import signal
import warnings

import pytest
import sympy
import torch
from conftest import CUDA_REASON
from truth import assert_matches_truth

from legendre_verify import verify
from legendre_verify.legendre import (
    LegendrePolynomial3,
    dispatch,
    kernels,
    legendre_p,
    native,
)
from legendre_verify.legendre.bounds import legendre_abs_tolerance

N = dispatch.COMPILE_MIN_NUMEL + 1001  # large enough for every compiled path, odd-sized tail


@pytest.fixture
def compiled(monkeypatch):
    """A fresh dispatcher that compiles on the first call (the C kernel on the CPU)."""
    fresh = dispatch.Dispatcher("compiled")
    monkeypatch.setattr(dispatch, "DISPATCHER", fresh)
    return fresh


@pytest.fixture
def cold_cache(monkeypatch, tmp_path):
    """An empty on-disk cache: the C kernel must be built, not loaded."""
    monkeypatch.setenv("LEGENDRE_VERIFY_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _input(dtype, size=N):
    x = torch.linspace(-1, 1, size, dtype=torch.float64).to(dtype)
    return x.flip(0)  # ends and 0 included, values not in storage order of a fresh linspace


CASES = [(3, 0), (3, 1), (10, 0), (10, 1), (20, 0), (20, 2), (130, 1), (1000, 0), (1000, 3)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize(("n", "k"), CASES)
def test_the_c_kernel_matches_truth_and_eager_at_any_degree(compiled, dtype, n, k):
    x = _input(dtype)
    g = torch.linspace(-2, 2, N, dtype=dtype)
    fast = dispatch.legendre_derivative(x, n, k)
    fast_times = dispatch.times_derivative(g, x, n, k)
    assert compiled.status().kernels[0].state == "compiled"  # checked against eager, in use
    assert compiled.status().kernels[0].compiled_calls == 2
    if n <= 200:  # sympy's exact P_1000 takes minutes to build: there, eager is the reference
        sub = slice(0, None, 37)  # ~1,800 points against the exact truth
        assert_matches_truth(fast[sub], x[sub], n, k)
    eager = kernels.legendre_derivative(x, n, k)
    eager_times = kernels.times_derivative(g, x, n, k)
    # the same recurrence, fused differently: within the bound each already meets
    tol = legendre_abs_tolerance(n, k, dtype)
    torch.testing.assert_close(fast, eager, rtol=0, atol=2 * tol)
    torch.testing.assert_close(fast_times, eager_times, rtol=0, atol=4 * tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_the_c_kernel_takes_any_layout_and_nonfinite_values(compiled, dtype):
    special = torch.tensor([float("inf"), -float("inf"), float("nan"), 1.0, -1.0], dtype=dtype)
    x = torch.cat([special, _input(dtype, 5 * N)]).reshape(-1, 5)[:, 1:]  # a strided view
    assert not x.is_contiguous()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the compiled kernel is checked and used
        for n in (7, 40):
            fast = dispatch.legendre_derivative(x, n, 0)
            eager = kernels.legendre_derivative(x, n, 0)
            assert fast.shape == x.shape and fast.dtype == dtype
            tol = 2 * legendre_abs_tolerance(n, 0, dtype)
            torch.testing.assert_close(fast, eager, rtol=0, atol=tol, equal_nan=True)
    assert compiled.status().kernels[0].compiled_calls == 2


def test_large_p3_forward_backward_match_eager(compiled):
    x = _input(torch.float32).requires_grad_(True)
    y = LegendrePolynomial3.apply(x)
    (gx,) = torch.autograd.grad(y, x, torch.ones_like(y))
    assert_matches_truth(y[::37], x[::37], 3)
    assert_matches_truth(gx[::37], x[::37], 3, 1)
    assert compiled.status().kernels[0].compiled_calls == 2
    eps = torch.finfo(torch.float32).eps
    torch.testing.assert_close(y.detach(), kernels.p3(x.detach()), rtol=0, atol=16 * eps)


def test_tiered_compiles_only_hot_kernels_in_the_background(monkeypatch, cold_cache):
    tiered = dispatch.Dispatcher("tiered")
    monkeypatch.setattr(dispatch, "DISPATCHER", tiered)
    monkeypatch.setattr(dispatch, "HOT_SECONDS", 0.0)  # any real work counts as hot here
    x = _input(torch.float64)
    first = legendre_p(x, 12)
    (kernel,) = tiered.status().kernels
    assert (kernel.state, kernel.eager_calls) == ("eager", 1)  # one call never compiles
    assert not cold_cache.exists() or not list(cold_cache.glob("*.so"))
    second = legendre_p(x, 12)  # hot: the build starts, this call stays eager
    assert kernel.eager_calls == 2 and kernel.state in ("pending", "ready")
    assert tiered.wait(timeout=120)
    assert kernel.state == "ready" and not kernel.artifact.loaded_from_disk
    assert list(cold_cache.glob("*.so"))  # built into the cache for later processes
    third = legendre_p(x, 12)  # checked against eager, then compiled from here on
    assert (kernel.state, kernel.compiled_calls, kernel.eager_calls) == ("compiled", 1, 2)
    assert torch.equal(first, second)
    torch.testing.assert_close(
        third, first, rtol=0, atol=2 * legendre_abs_tolerance(12, 0, torch.float64)
    )
    assert "compiled" in str(dispatch.compile_status())

    # a new process (a new dispatcher) loads the built kernel on its first call
    later = dispatch.Dispatcher("tiered")
    monkeypatch.setattr(dispatch, "DISPATCHER", later)
    legendre_p(x, 5)
    (loaded,) = later.status().kernels
    assert loaded.state == "compiled" and loaded.artifact.loaded_from_disk
    assert loaded.eager_calls == 0 and loaded.compiled_calls == 1


def test_a_failed_build_warns_once_and_stays_eager(monkeypatch, cold_cache, compiled):
    monkeypatch.setenv("CC", str(cold_cache / "no-such-compiler"))
    x = _input(torch.float64)
    with pytest.warns(RuntimeWarning, match="build failed"):
        out = legendre_p(x, 10)
    assert_matches_truth(out[::37], x[::37], 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        assert torch.equal(legendre_p(x, 10), out)
    (kernel,) = compiled.status().kernels
    assert kernel.state == "failed" and "no-such-compiler" in str(dispatch.compile_status())


def test_a_compiled_kernel_that_disagrees_with_the_truth_is_not_used(monkeypatch, compiled):
    monkeypatch.setattr(native.NativeKernel, "evaluate", lambda self, x, n, k, g=None: x * 0 + 1)
    x = _input(torch.float64)
    with pytest.warns(RuntimeWarning, match="disagrees with the float64 truth"):
        out = legendre_p(x, 10)
    assert_matches_truth(out[::37], x[::37], 10)  # the eager answer came back
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(legendre_p(x, 10), out)
    assert compiled.status().kernels[0].state == "failed"


def test_eager_mode_never_compiles(monkeypatch):
    eager = dispatch.Dispatcher("eager")
    monkeypatch.setattr(dispatch, "DISPATCHER", eager)
    x = _input(torch.float32)
    for _ in range(3):
        assert_matches_truth(legendre_p(x, 7)[::37], x[::37], 7)
    assert eager.status().kernels == ()
    assert str(eager.status()).startswith("mode: eager")


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("", "tiered"),
        ("eager-first", "tiered"),
        ("0", "eager"),
        ("OFF", "eager"),
        ("1", "compiled"),
    ],
)
def test_modes_from_the_environment(value, mode):
    assert dispatch.mode_from_environment(value) == mode


def test_a_bad_mode_is_named():
    with pytest.raises(ValueError, match=r"LEGENDRE_VERIFY_COMPILE must be one of .*got 'fast'"):
        dispatch.mode_from_environment("fast")


def test_the_inductor_kernels_compile_in_a_worker_thread_and_agree(monkeypatch):
    """CUDA's path (one inductor kernel per degree), run on the CPU backend of inductor."""
    tiered = dispatch.Dispatcher("tiered")
    tiered.cpu_backend = "inductor"
    monkeypatch.setattr(dispatch, "DISPATCHER", tiered)
    monkeypatch.setattr(dispatch, "HOT_SECONDS", 0.0)
    x = _input(torch.float32)
    expected = kernels.legendre_derivative(x, 6)
    for _ in range(2):
        legendre_p(x, 6)
    assert tiered.wait(timeout=300)
    out = legendre_p(x, 6)
    (kernel,) = tiered.status().kernels
    assert kernel.state == "compiled", str(tiered.status())
    assert kernel.artifact.seconds > 0
    tol = legendre_abs_tolerance(6, 0, torch.float32)
    torch.testing.assert_close(out, expected, rtol=0, atol=2 * tol)


@pytest.mark.parametrize(
    ("n", "fn"),
    [
        (3, LegendrePolynomial3.apply),
        (7, lambda x: legendre_p(x, 7)),
        (40, lambda x: legendre_p(x, 40)),
    ],
    ids=["P3", "P7", "P40"],
)
def test_verify_passes_with_the_compiled_kernels_on_every_sample(monkeypatch, compiled, n, fn):
    monkeypatch.setattr(dispatch, "NATIVE_MIN_NUMEL", 1)  # route every sample through them
    monkeypatch.setattr(dispatch, "P3_NATIVE_MIN_NUMEL", 1)
    report = verify(
        fn,
        symbolic=lambda x: sympy.legendre(n, x),
        max_examples=8,
        skip=["compile", "gradgradcheck"],  # gradcheck stays: its batched-gradient check runs
    )  # the backward under the legacy vmap, which once reached the compiled kernels
    assert report.passed, report
    assert compiled.status().kernels[0].compiled_calls > 0


@pytest.mark.parametrize(
    "fn", [LegendrePolynomial3.apply, lambda x: legendre_p(x, 10)], ids=["P3", "P10"]
)
def test_batched_gradients_of_a_large_tensor(compiled, fn):
    """autograd.grad(..., is_grads_batched=True) runs the backward under the legacy vmap,
    whose batched grad_output must not reach the compiled or in-place kernels."""
    x = _input(torch.float64).requires_grad_(True)
    y = fn(x)
    grads = torch.stack([torch.ones_like(x), torch.linspace(-1, 1, N, dtype=torch.float64)])
    (batched,) = torch.autograd.grad(y, x, grads, retain_graph=True, is_grads_batched=True)
    for i in range(2):
        (one,) = torch.autograd.grad(y, x, grads[i], retain_graph=True)
        torch.testing.assert_close(batched[i], one)


@pytest.mark.skipif(not torch.cuda.is_available(), reason=CUDA_REASON)
def test_cuda_kernels_compile_check_and_agree(compiled):
    x = _input(torch.float32).cuda()
    for n, k in ((3, 0), (10, 1), (100, 0), (300, 1)):  # 300: past the unrolled kernels, eager
        fast = dispatch.legendre_derivative(x, n, k)
        eager = kernels.legendre_derivative(x, n, k)
        tol = legendre_abs_tolerance(n, k, torch.float32)
        torch.testing.assert_close(fast, eager, rtol=0, atol=2 * tol)
    xr = x.clone().requires_grad_(True)
    (gx,) = torch.autograd.grad(LegendrePolynomial3.apply(xr).sum(), xr)
    assert_matches_truth(gx[::37].cpu(), x[::37].cpu(), 3, 1)
    states = {k.name: k.state for k in compiled.status().kernels}
    assert states and set(states.values()) == {"compiled"}, states


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is not available on this platform")
def test_a_forked_child_can_use_the_c_kernel(compiled):
    """A DataLoader-style fork after the parent ran the C kernel's threads: the child's call
    must finish (an OpenMP build of the kernel hung here). The child touches no torch op that
    torch itself would run on its own thread pool (that can hang in a fork, without us)."""
    x = _input(torch.float64)
    expected = legendre_p(x, 10).numpy().tobytes()  # the parent uses the kernel first
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            same = legendre_p(x, 10).numpy().tobytes() == expected
            os.write(write, b"1" if same else b"0")
        finally:
            os._exit(0)
    os.close(write)
    ready = []
    try:
        ready, _, _ = select.select([read], [], [], 120)
        assert ready, "the forked child's legendre_p call did not finish in 120 s"
        assert os.read(read, 1) == b"1"
    finally:
        if not ready:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read)
