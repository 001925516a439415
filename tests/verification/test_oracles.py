"""The oracle itself: exact rational evaluation agrees with mpmath and with sympy."""

from __future__ import annotations

import numpy as np
import sympy
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from legendre_verify.legendre.accuracy import legendre_oracle
from legendre_verify.verification.symbolic import SymbolicOracle

points = hnp.arrays(np.float64, st.integers(1, 8), elements=st.floats(-4, 4))


@given(points, st.integers(0, 40), st.integers(0, 3))
def test_exact_polynomial_path_agrees_bitwise_with_high_precision_mpmath(x, n, k):
    exact = legendre_oracle(n).derivative((k,), [x])
    mp = SymbolicOracle(lambda t: sympy.legendre(n, t), 1, exact_polynomials=False).derivative(
        (k,), [x]
    )
    np.testing.assert_array_equal(exact, mp)


@given(points, st.integers(0, 12))
def test_oracle_is_sympy_evaluated_exactly(x, n):
    t = sympy.Symbol("t")
    expr = sympy.legendre(n, t)
    # the exact rational value, rounded once by Python's int / int (sympy's float() rounds
    # twice for subnormal results: -1.5 * 5e-324 is not -1e-323)
    exact = [expr.subs(t, sympy.Rational(*float(v).as_integer_ratio())) for v in x]
    expected = [int(r.p) / int(r.q) for r in exact]
    np.testing.assert_array_equal(legendre_oracle(n).value([x]), expected)


def test_multivariate_non_polynomial_oracle():
    oracle = SymbolicOracle(lambda a, b: sympy.exp(a) * sympy.sin(b), 2)
    a, b = np.array([0.0, 1.0]), np.array([0.5, -2.0])
    np.testing.assert_array_equal(oracle.derivative((1, 2), [a, b]), -np.exp(a) * np.sin(b))
