"""Bad input gets a clear TypeError/ValueError naming the argument and the bad value."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from legendre_verify import (
    LegendrePolynomial,
    LegendrePolynomial3,
    legendre_p,
    legendre_p_derivative,
)

X = torch.linspace(-1, 1, 5)


@pytest.mark.parametrize(
    ("n", "error", "shown"),
    [
        (-1, ValueError, "-1"),
        (2.5, TypeError, "2.5"),
        ("3", TypeError, "'3'"),
        (True, TypeError, "True"),
        (None, TypeError, "None"),
        (3.0, TypeError, "3.0"),
        (torch.tensor(3), TypeError, "tensor(3)"),
    ],
)
@pytest.mark.parametrize(
    "call",
    [legendre_p, LegendrePolynomial.apply, legendre_p_derivative],
    ids=lambda f: f.__qualname__,
)
def test_bad_degree_is_named(call, n, error, shown):
    with pytest.raises(error, match=r"\bn\b") as info:
        call(X, n)
    assert shown in str(info.value)


def test_bad_derivative_order_is_named():
    with pytest.raises(ValueError, match=r"k must be >= 0, got k=-2"):
        legendre_p_derivative(X, 3, -2)
    with pytest.raises(TypeError, match=r"k must be an int"):
        legendre_p_derivative(X, 3, 1.5)


@pytest.mark.parametrize(
    ("bad", "shown"),
    [
        (torch.arange(3), "torch.int64"),
        (torch.tensor([True, False]), "torch.bool"),
        (torch.zeros(2, dtype=torch.complex64), "torch.complex64"),
        (torch.zeros(2, dtype=torch.uint8), "torch.uint8"),
        ([0.1, 0.2], "list"),
        (np.zeros(3), "ndarray"),
        (0.5, "float"),
    ],
)
@pytest.mark.parametrize(
    "call",
    [
        lambda x: legendre_p(x, 3),
        lambda x: LegendrePolynomial.apply(x, 3),
        LegendrePolynomial3.apply,
        lambda x: legendre_p_derivative(x, 3, 1),
    ],
    ids=["legendre_p", "LegendrePolynomial", "LegendrePolynomial3", "legendre_p_derivative"],
)
def test_bad_input_is_a_type_error_naming_dtype_or_type(call, bad, shown):
    with pytest.raises(TypeError, match="input") as info:
        call(bad)
    assert shown in str(info.value)


def test_numpy_integer_degree_is_accepted():
    torch.testing.assert_close(legendre_p(X, np.int64(4)), legendre_p(X, 4), rtol=0, atol=0)
