"""What "true" means: values and derivatives of a function at given points.

An oracle answers ``derivative(orders, points)``: the partial derivative of the function with
``orders[i]`` derivatives in argument ``i``, at each point (one float64 array per argument,
holding the exact values the tensors held), as a float64 array rounded from high precision.

- :class:`SymbolicOracle`: a sympy expression; derivatives by ``sympy.diff``. Univariate
  polynomials (P_n and its derivatives) are evaluated exactly in rational arithmetic and rounded
  once; anything else in mpmath at 53 + 200 bits.
- :class:`ReferenceOracle`: a function of differentiable torch operations, run in float64 on
  the CPU; its derivatives come from autograd (nested for higher orders). This also serves
  deliberately non-mathematical gradients such as straight-through estimators.

Both treat the function as elementwise over broadcast inputs, as the checks do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import mpmath
import numpy as np
import sympy

__all__ = ["Oracle", "ReferenceOracle", "SymbolicOracle", "legendre_oracle"]

#: bits carried beyond float64's 53 for non-polynomial expressions
_GUARD_BITS = 200


class Oracle:
    """The interface the checks use: ``derivative(orders, points)`` and ``scale(orders, ...)``."""

    arity: int
    name: str = "oracle"

    def derivative(self, orders: Sequence[int], points: Sequence[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def value(self, points: Sequence[np.ndarray]) -> np.ndarray:
        """The function's value at ``points``."""
        return self.derivative((0,) * self.arity, points)

    def scale(self, orders: Sequence[int], domain: tuple[float, float]) -> float:
        """How large the derivative ``orders`` and its sensitivity get over the domain:
        max over a grid (ends, 0 and points between) of |D f| + sum_j |x_j| |d_j D f|.

        Rounding errors of a stable evaluation are at most a few eps times this (the result's
        own rounding plus the condition number), so it is the yardstick of every tolerance.
        """
        key = (tuple(orders), domain)
        cache = self.__dict__.setdefault("_scales", {})
        if key not in cache:
            points = _grid(domain, self.arity)
            total = np.abs(self.derivative(orders, points))
            for j in range(self.arity):
                bumped = [o + (i == j) for i, o in enumerate(orders)]
                total = total + np.abs(points[j]) * np.abs(self.derivative(bumped, points))
            finite = total[np.isfinite(total)]
            cache[key] = float(finite.max()) if finite.size else math.inf
        return cache[key]


def _grid(domain: tuple[float, float], arity: int) -> list[np.ndarray]:
    lo, hi = domain
    per_axis = {1: 257, 2: 33}.get(arity, 9)
    axis = np.unique(np.concatenate([np.linspace(lo, hi, per_axis), [0.0] if lo < 0 < hi else []]))
    return [a.ravel() for a in np.meshgrid(*([axis] * arity), indexing="ij")]


class SymbolicOracle(Oracle):
    """Truth from ``fn(*symbols) -> sympy expression`` for a function of ``arity`` tensors."""

    name = "symbolic"

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


class ReferenceOracle(Oracle):
    """Truth from ``reference(*tensors)``, plain differentiable torch, run in float64 on CPU."""

    name = "reference"

    def __init__(self, reference: Callable[..., Any], arity: int) -> None:
        self.reference = reference
        self.arity = arity

    def derivative(self, orders: Sequence[int], points: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        arrays = np.broadcast_arrays(*(np.asarray(p, dtype=np.float64) for p in points))
        with torch.enable_grad():
            inputs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
            out = self.reference(*inputs)
            if not isinstance(out, torch.Tensor):
                raise TypeError(f"reference must return a tensor, got {type(out).__name__}")
            out = out.expand(arrays[0].shape) if out.shape != arrays[0].shape else out
            for i, order in enumerate(orders):
                for _ in range(order):
                    if not out.requires_grad:
                        return np.zeros(arrays[0].shape)
                    (grad,) = torch.autograd.grad(
                        out.sum(), inputs[i], create_graph=True, allow_unused=True
                    )
                    out = torch.zeros_like(inputs[i]) if grad is None else grad
        return out.detach().numpy().astype(np.float64)


def legendre_oracle(n: int) -> SymbolicOracle:
    """The symbolic truth for P_n: ``sympy.legendre(n, x)``."""
    return SymbolicOracle(lambda x: sympy.legendre(n, x), 1)
