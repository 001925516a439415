"""Properties of LegendrePolynomial3, LegendrePolynomial and legendre_p."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import CUDA_REASON
from hypothesis import given
from hypothesis import strategies as st
from torch.func import grad, jacfwd, jacrev, vmap
from truth import assert_matches_truth, truth

from legendre_verify import strategies as lst
from legendre_verify.legendre import (
    LegendrePolynomial,
    LegendrePolynomial3,
    legendre_p,
    legendre_p_derivative,
)

P3 = LegendrePolynomial3.apply
degrees = st.integers(0, 60)
float64_tensors = lst.tensors(dtype=torch.float64)


def elementwise_derivative(f, x: torch.Tensor, order: int) -> torch.Tensor:
    """d^order f / dx^order elementwise, by repeated reverse-mode autograd.

    As everywhere in torch, a derivative that is a constant has no graph: the next is zero.
    """
    x = x.detach().requires_grad_(True)
    out = f(x)
    for _ in range(order):
        if not out.requires_grad:
            return torch.zeros_like(x)
        (out,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return out


@given(lst.tensors(dtype=lst.dtypes()))
def test_p3_forward_and_backward_match_symbolic(x):
    assert_matches_truth(P3(x), x, 3)
    assert_matches_truth(elementwise_derivative(P3, x, 1), x, 3, 1)


@given(lst.tensors(dtype=lst.dtypes(), layout=lst.layouts()), degrees, st.integers(0, 3))
def test_values_and_derivatives_match_symbolic_in_every_dtype(x, n, k):
    assert_matches_truth(legendre_p_derivative(x, n, k), x, n, k)
    if k == 0:
        assert_matches_truth(legendre_p(x, n), x, n)


@given(lst.tensors(dtype=torch.float64, domain=(-3.0, 3.0)), st.integers(0, 30), st.integers(0, 2))
def test_outside_unit_interval_it_is_still_the_polynomial(x, n, k):
    assert_matches_truth(legendre_p_derivative(x, n, k), x, n, k)


@given(float64_tensors, st.integers(0, 40))
def test_autograd_gives_true_first_second_and_third_derivatives(x, n):
    for order in (1, 2, 3):
        assert_matches_truth(
            elementwise_derivative(lambda t: legendre_p(t, n), x, order), x, n, order
        )
    for order in (1, 2, 3):
        assert_matches_truth(elementwise_derivative(P3, x, order), x, 3, order)


@given(
    lst.tensors(
        dtype=torch.float64, shape=lst.shapes(min_dims=1, max_dims=2, min_side=1, max_side=3)
    ),
    st.integers(0, 12),
)
def test_gradcheck_and_gradgradcheck(x, n):
    x = x.detach().requires_grad_(True)
    for f in (lambda t: legendre_p(t, n), P3):
        assert torch.autograd.gradcheck(
            f, (x,), check_forward_ad=True, check_batched_grad=True, check_batched_forward_grad=True
        )
        assert torch.autograd.gradgradcheck(
            f, (x,), check_fwd_over_rev=True, check_rev_over_rev=True, check_batched_grad=True
        )


# torch's vmap fails on a batch of size 0 whatever the function (even t * 1.0): sides >= 1
@given(
    lst.tensors(dtype=torch.float64, shape=lst.shapes(min_dims=1, max_dims=1, min_side=1)),
    st.integers(0, 20),
)
def test_torch_func_transforms_agree_with_symbolic(x, n):
    def f(t):
        return legendre_p(t, n)

    assert_matches_truth(vmap(grad(f))(x), x, n, 1)
    assert_matches_truth(vmap(grad(grad(f)))(x), x, n, 2)
    if x.numel():  # torch's vmap(jacfwd(...)) fails on a batch of size 0, even for t**3
        assert_matches_truth(vmap(jacfwd(jacrev(f)))(x), x, n, 2)
        assert_matches_truth(jacfwd(f)(x).diagonal(), x, n, 1)
        assert_matches_truth(jacrev(f)(x).diagonal(), x, n, 1)
    tangent = torch.ones_like(x)
    value, derivative = torch.func.jvp(f, (x,), (tangent,))
    assert_matches_truth(value, x, n)
    assert_matches_truth(derivative, x, n, 1)
    with torch.autograd.forward_ad.dual_level():
        dual = torch.autograd.forward_ad.make_dual(x, tangent)
        assert_matches_truth(torch.autograd.forward_ad.unpack_dual(P3(dual)).tangent, x, 3, 1)


@given(lst.tensors(dtype=lst.dtypes(), layout=lst.layouts()), degrees, st.data())
def test_layouts_of_input_and_grad_output_agree_with_contiguous(x, n, data):
    g = data.draw(lst.grad_outputs(x, layout=lst.layouts()), label="grad_output")
    for f in (lambda t: legendre_p(t, n), P3):
        xs = x.detach().requires_grad_(True)
        xc = x.detach().contiguous().requires_grad_(True)
        out, out_c = f(xs), f(xc)
        assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
        torch.testing.assert_close(out, out_c, rtol=0, atol=0)
        (gs,) = torch.autograd.grad(out, xs, g)
        (gc,) = torch.autograd.grad(out_c, xc, g.contiguous())
        torch.testing.assert_close(gs, gc, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", lst.FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(), (0,), (1,), (3, 1, 2), (0, 4)], ids=str)
def test_output_dtype_device_and_shape_follow_input(device, dtype, shape):
    x = torch.rand(shape, dtype=dtype, device=device)
    for out in (
        legendre_p(x, 7),
        LegendrePolynomial.apply(x, 0),
        P3(x),
        legendre_p_derivative(x, 4, 9),
    ):
        assert (out.dtype, out.device, out.shape) == (x.dtype, x.device, x.shape)


@given(lst.tensors(dtype=lst.dtypes(), layout=lst.layouts()), degrees)
def test_input_is_not_modified(x, n):
    before = x.clone()
    xr = x.detach().requires_grad_(True)
    out = legendre_p(xr, n)
    torch.autograd.grad(out.sum(), xr, create_graph=True)
    P3(x)
    assert torch.equal(x, before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason=CUDA_REASON)
def test_cuda_matches_truth_like_cpu():
    device = "cuda"
    x = torch.linspace(-1, 1, 10_001, dtype=torch.float64)
    for n in (0, 3, 10, 32, 100):
        for dtype in lst.FLOAT_DTYPES:
            xd = x.to(dtype)
            assert_matches_truth(legendre_p(xd.to(device), n).cpu(), xd, n)
            assert_matches_truth(legendre_p_derivative(xd.to(device), n, 2).cpu(), xd, n, 2)


def test_degree_2000_works_and_stays_in_unit_interval():
    x = torch.linspace(-1, 1, 20_001, dtype=torch.float64)
    for dtype in (torch.float64, torch.float32):
        y = legendre_p(x.to(dtype), 2000)
        assert torch.isfinite(y).all()
        assert y.abs().max() <= 1.0
    # the endpoints are exact, as P_n(1) = 1 and P_n(-1) = (-1)^n
    ends = legendre_p(torch.tensor([-1.0, 1.0], dtype=torch.float64), 2000)
    assert ends.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_torch_compile_gives_the_same_numbers(backend):
    torch._dynamo.reset()
    x = torch.linspace(-1, 1, 257, dtype=torch.float64)

    def value_and_grads(t, n):
        t = t.detach().requires_grad_(True)
        y = legendre_p(t, n) + P3(t)
        (g,) = torch.autograd.grad(y.sum(), t, create_graph=True)
        (gg,) = torch.autograd.grad(g.sum(), t)
        return y.detach(), g.detach(), gg

    compiled = torch.compile(value_and_grads, backend=backend)
    for n in (7,):
        for eager, comp in zip(value_and_grads(x, n), compiled(x, n), strict=True):
            # Inductor may fuse and reorder the same float64 operations: a few roundings of
            # the values' scale (the derivatives' scale is n^4 / 8 at most here).
            torch.testing.assert_close(
                comp, eager, rtol=0, atol=64 * torch.finfo(torch.float64).eps * n**4
            )
    expected = truth(x, 7, 1) + truth(x, 3, 1)
    np.testing.assert_allclose(compiled(x, 7)[1].numpy(), expected, rtol=0, atol=1e-12)
