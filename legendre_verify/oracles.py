"""What "true" means: values and derivatives of a function at given points.

An oracle answers ``derivative(orders, points)``: the partial derivative of the function with
``orders[i]`` derivatives in argument ``i``, at each point (one float64 array per argument,
holding the exact values the tensors held), as a float64 array rounded from high precision.

- :class:`SymbolicOracle`: a sympy expression; derivatives by ``sympy.diff``, evaluated in
  mpmath at a working precision large enough that cancellation cannot reach the float64 result
  (exact rational coefficients and Horner's rule for univariate polynomials).
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

    def __init__(self, fn: Callable[..., Any], arity: int) -> None:
        self.arity = arity
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
        if self.arity == 1 and expr.is_polynomial(self.symbols[0]):
            return _polynomial_evaluator(sympy.Poly(expr, self.symbols[0]))
        return _mpmath_evaluator(sympy.lambdify(self.symbols, expr, modules="mpmath"))


def _polynomial_evaluator(poly: sympy.Poly) -> Callable[[Sequence[np.ndarray]], np.ndarray]:
    coeffs = [sympy.Rational(c) for c in poly.all_coeffs()]
    log2_sum = math.log2(max(sum(abs(c) for c in coeffs), 1))

    def evaluate(points: Sequence[np.ndarray]) -> np.ndarray:
        (x,) = points
        out = np.empty(x.shape, dtype=np.float64)
        for index, xi in np.ndenumerate(x):
            # Cancellation loses at most log2(sum |c_j| |x|^j) bits: carry them all, plus guard bits.
            growth = log2_sum + (len(coeffs) - 1) * math.log2(max(abs(xi), 1.0))
            with mpmath.workprec(64 + int(growth) + 64):
                mp_coeffs = [mpmath.mpf(c.p) / c.q for c in coeffs]
                out[index] = float(mpmath.polyval(mp_coeffs, mpmath.mpf(float(xi))))
        return out

    return evaluate


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
