"""Printing a sample never fails, and what it prints rebuilds it: every tensor a check can meet
(expanded, strided, transposed, views with offsets, zero strides, 0-size, non-finite values)
round-trips through the reproduce snippet's source (issue #17)."""

from __future__ import annotations

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from legendre_verify import strategies as lst
from legendre_verify.verification.replay import strided
from legendre_verify.verification.samples import Sample, tensor_source


@st.composite
def awkward_tensors(draw: st.DrawFn) -> torch.Tensor:
    dtype = draw(lst.dtypes())
    shape = draw(lst.shapes(max_dims=3, max_side=4))
    t = draw(lst.tensors(dtype=dtype, shape=shape, layout=lst.layouts(), domain=(-10.0, 10.0)))
    how = draw(st.sampled_from(["as drawn", "non-finite", "offset view", "size-1 stride 0"]))
    if how == "non-finite" and t.numel():
        flat = t.contiguous().reshape(-1).clone()
        picks = draw(st.lists(st.integers(0, flat.numel() - 1), max_size=3))
        specials = [math.nan, math.inf, -math.inf]
        for j, i in enumerate(picks):
            flat[i] = specials[j % 3]
        t = flat.reshape(t.shape)
    elif how == "offset view" and t.dim() and t.shape[0] > 1:
        t = t[1:]  # a view that starts inside its storage
    elif how == "size-1 stride 0" and t.numel():
        t = t.reshape(-1)[:1].as_strided((1, 1), (0, 0))  # contiguous to torch, stride 0
    return t


@given(awkward_tensors())
def test_every_tensor_prints_and_its_source_rebuilds_it(t):
    source = tensor_source(t)
    rebuilt = eval(source, {"torch": torch, "strided": strided})
    assert rebuilt.dtype == t.dtype and rebuilt.shape == t.shape
    assert torch.equal(rebuilt.isnan(), t.isnan())
    assert torch.equal(rebuilt.nan_to_num(0.0), t.nan_to_num(0.0))
    expanded = any(s == 0 and n > 1 for n, s in zip(t.shape, t.stride(), strict=True))
    if t.numel() and (expanded or not t.is_contiguous()):
        assert rebuilt.stride() == t.stride()


@given(awkward_tensors(), awkward_tensors())
def test_a_sample_of_any_tensors_describes_itself(x, g):
    sample = Sample((x, 3, None), (0,), (g,), (torch.zeros_like(x),), (True,))
    text = sample.describe()
    assert f"shape={tuple(x.shape)}" in text and "argument 1: 3" in text
