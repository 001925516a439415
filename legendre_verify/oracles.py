"""What "true" means: values and derivatives of a function at given points.

An oracle answers ``derivative(orders, points)``: the partial derivative of the function with
``orders[i]`` derivatives in argument ``i``, at each point (one float64 array per argument,
holding the exact values the tensors held), as a float64 array rounded from high precision.

- :class:`SymbolicOracle`: a sympy expression; derivatives by ``sympy.diff``. Univariate
  polynomials (P_n and its derivatives) are evaluated exactly in rational arithmetic and rounded
  once; anything else in mpmath at 53 + 200 bits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import mpmath
import numpy as np
import sympy

__all__ = ["SymbolicOracle", "legendre_oracle"]

#: bits carried beyond float64's 53 for non-polynomial expressions
_GUARD_BITS = 200


class SymbolicOracle:
    """Truth from ``fn(*symbols) -> sympy expression`` for a function of ``arity`` tensors."""

    def __init__(
        self, fn: Callable[..., Any], arity: int, *, exact_polynomials: bool = True
    ) -> None:
        self.arity = arity
        self.exact_polynomials = exact_polynomials
        self.symbols = sympy.symbols(f"x0:{arity}", real=True)
        self.expr = sympy.sympify(fn(*self.symbols))
        self._evaluators: dict[tuple[int, ...], Callable[[Sequence[np.ndarray]], np.ndarray]] = {}

    def expression(self, orders: Sequence[int]) -> sympy.Expr:
        """The sympy expression of the derivative with ``orders[i]`` derivatives in argument i."""
        expr = self.expr
        for symbol, order in zip(self.symbols, orders, strict=True):
            if order:
                expr = sympy.diff(expr, symbol, order)
        return expr

    def derivative(self, orders: Sequence[int], points: Sequence[np.ndarray]) -> np.ndarray:
        """The derivative ``orders`` at ``points`` (one array per argument, broadcast together)."""
        key = tuple(int(o) for o in orders)
        if key not in self._evaluators:
            self._evaluators[key] = self._compile(self.expression(key))
        arrays = np.broadcast_arrays(*(np.asarray(p, dtype=np.float64) for p in points))
        return self._evaluators[key](arrays)

    def value(self, points: Sequence[np.ndarray]) -> np.ndarray:
        """The function's value at ``points``."""
        return self.derivative((0,) * self.arity, points)

    def _compile(self, expr: sympy.Expr) -> Callable[[Sequence[np.ndarray]], np.ndarray]:
        if self.exact_polynomials and self.arity == 1 and expr.is_polynomial(self.symbols[0]):
            return _polynomial_evaluator(sympy.Poly(expr, self.symbols[0]))
        return _mpmath_evaluator(sympy.lambdify(self.symbols, expr, modules="mpmath"))


def _polynomial_evaluator(poly: sympy.Poly) -> Callable[[Sequence[np.ndarray]], np.ndarray]:
    """Exact rational evaluation, correctly rounded once to float64.

    A float64 x is num/den exactly (den a power of two); with integer numerators p_j over a
    common denominator q, p(x) = sum p_j num^j den^(N-j) / (q den^N): Python integers carry it
    exactly and ``int / int`` rounds correctly. Vectorized over points with object arrays.
    """
    coeffs = [sympy.Rational(c) for c in poly.all_coeffs()]  # highest degree first
    common = math.lcm(*(int(c.q) for c in coeffs))
    numerators = [int(c.p) * (common // int(c.q)) for c in coeffs]

    def evaluate(points: Sequence[np.ndarray]) -> np.ndarray:
        (x,) = points
        flat = x.ravel()
        if not np.all(np.isfinite(flat)):
            raise ValueError("the oracle evaluates finite points only")
        ratios = [float(v).as_integer_ratio() for v in flat]
        num = np.array([r[0] for r in ratios] + [0], dtype=object)[:-1]
        den = np.array([r[1] for r in ratios] + [0], dtype=object)[:-1]
        acc = np.full(flat.shape, numerators[0], dtype=object)
        den_power = np.ones(flat.shape, dtype=object)
        for p_j in numerators[1:]:
            den_power = den_power * den
            acc = acc * num + p_j * den_power
        out = np.array(
            [_ratio_to_float(a, common * d) for a, d in zip(acc, den_power, strict=True)]
        )
        return out.reshape(x.shape)

    return evaluate


def _ratio_to_float(numerator: int, denominator: int) -> float:
    try:
        return numerator / denominator  # correctly rounded
    except OverflowError:
        return math.copysign(math.inf, numerator)


def _mpmath_evaluator(fn: Callable[..., Any]) -> Callable[[Sequence[np.ndarray]], np.ndarray]:
    def evaluate(points: Sequence[np.ndarray]) -> np.ndarray:
        out = np.empty(points[0].shape, dtype=np.float64)
        with mpmath.workprec(53 + _GUARD_BITS):
            for index in np.ndindex(out.shape):
                args = [mpmath.mpf(float(p[index])) for p in points]
                out[index] = float(mpmath.re(fn(*args)))
        return out

    return evaluate


def legendre_oracle(n: int) -> SymbolicOracle:
    """The symbolic truth for P_n: ``sympy.legendre(n, x)``."""
    return SymbolicOracle(lambda x: sympy.legendre(n, x), 1)
