"""The symbolic oracle: an elementwise function's truth from a sympy expression.

Derivatives by ``sympy.diff``; polynomials evaluated exactly in rationals and rounded once to
float64, anything else in mpmath at 53 + 200 bits, more near a rounding tie (each value
correctly rounded). Kinks and jumps (Abs, Heaviside, floor, ...) are differentiated almost
everywhere. The only module of the verifier that imports sympy and mpmath (0.3 s), so a
verify without ``symbolic=`` never loads them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import mpmath
import numpy as np
import sympy
import torch

from legendre_verify.verification.oracles import Oracle, _grid_scale, unit
from legendre_verify.verification.samples import Sample

__all__ = ["SymbolicOracle", "almost_everywhere"]

#: bits carried beyond float64's 53 for non-polynomial expressions
_GUARD_BITS = 200


class SymbolicOracle(Oracle):
    """Truth from ``fn(*symbols) -> sympy expression`` for an elementwise function of ``arity``
    tensors of one shape."""

    name = "symbolic"
    elementwise = True
    exact = True

    def __init__(
        self, fn: Callable[..., Any], arity: int, *, exact_polynomials: bool = True
    ) -> None:
        self.arity = arity
        self.exact_polynomials = exact_polynomials
        self.symbols = sympy.symbols(f"x0:{arity}", real=True)
        self.expr = sympy.sympify(fn(*self.symbols))
        self.may_have_kinks = bool(self.expr.has(*_NONSMOOTH))
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
        return _mpmath_evaluator(
            sympy.lambdify(self.symbols, almost_everywhere(expr), modules="mpmath")
        )

    # the generic interface, from partial derivatives at the sample's points
    def _at(self, s: Sample, orders: Sequence[int]) -> torch.Tensor:
        points = [x.detach().cpu().double().numpy() for x in s.inputs]
        return torch.from_numpy(np.asarray(self.derivative(orders, points), dtype=np.float64))

    def outputs(self, s: Sample) -> tuple[torch.Tensor, ...]:
        return (self._at(s, (0,) * self.arity),)

    def vjp(self, s: Sample) -> tuple[torch.Tensor | None, ...]:
        g = s.grad_outputs[0]
        g = torch.zeros(s.shape, dtype=torch.float64) if g is None else g.detach().cpu().double()
        return tuple(
            g * self._at(s, unit(i, self.arity)) if rg else None
            for i, rg in enumerate(s.requires_grad)
        )

    def jvp(self, s: Sample) -> tuple[torch.Tensor, ...]:
        total = torch.zeros(s.shape, dtype=torch.float64)
        for i, u in enumerate(s.tangents):
            total = total + u.detach().cpu().double() * self._at(s, unit(i, self.arity))
        return (total,)

    def vhp(self, s: Sample) -> tuple[torch.Tensor | None, ...]:
        g = s.grad_outputs[0]
        g = torch.zeros(s.shape, dtype=torch.float64) if g is None else g.detach().cpu().double()
        result = []
        for j, rg_j in enumerate(s.requires_grad):
            if not rg_j:
                result.append(None)
                continue
            total = torch.zeros(s.shape, dtype=torch.float64)
            for i, (u, rg_i) in enumerate(zip(s.tangents, s.requires_grad, strict=True)):
                if rg_i:
                    orders = unit(i, self.arity, unit(j, self.arity))
                    total = total + g * u.detach().cpu().double() * self._at(s, orders)
            result.append(total)
        return tuple(result)


#: sympy functions with kinks or jumps: their derivatives are taken almost everywhere, and
#: at a kink the checks accept anything between the one-sided derivatives
_NONSMOOTH = (
    sympy.Heaviside,
    sympy.DiracDelta,
    sympy.sign,
    sympy.Abs,
    sympy.Max,
    sympy.Min,
    sympy.Piecewise,
    sympy.floor,
    sympy.ceiling,
)


def almost_everywhere(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` as mpmath can evaluate it: DiracDelta (the derivative of a jump) and the
    derivatives sympy leaves unevaluated (of floor, ceiling, ...) are 0 almost everywhere;
    Heaviside, Max, Min rewritten as Piecewise."""
    expr = expr.replace(sympy.DiracDelta, lambda *args: sympy.S.Zero)
    expr = expr.replace(
        lambda e: isinstance(e, sympy.Derivative) and e.expr.func in (sympy.floor, sympy.ceiling),
        lambda e: sympy.S.Zero,
    )
    if expr.has(sympy.Heaviside, sympy.Max, sympy.Min):
        expr = expr.rewrite(sympy.Piecewise)
    return expr


SymbolicOracle.scale = _grid_scale


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


#: the most bits an mpmath evaluation may take to decide which way a value near a tie between
#: two float64 numbers rounds (beyond it, the value is taken to be the tie itself)
_MAX_BITS = 1 << 14


def _correctly_rounded(fn: Callable[..., Any], args: Sequence[float]) -> float:
    """``fn(*args)`` rounded once to float64, in mpmath: at 53 + _GUARD_BITS bits, then twice as
    many while the value lies within the working precision of a midpoint between two
    float64 numbers (where a term too small for the precision may decide the rounding:
    P3(x) = 2.5x^3 - 1.5x at x = 2.2e-185 needs ~1,200 bits), up to _MAX_BITS. The rounding
    itself compares with the midpoint exactly (mpmath's own conversion can round twice for
    subnormal results)."""
    bits = 53 + _GUARD_BITS
    while True:
        with mpmath.workprec(bits):
            value = mpmath.re(fn(*(mpmath.mpf(a) for a in args)))
            guess = float(value)
            if value == 0 or not math.isfinite(guess):
                return guess
            if mpmath.mpf(guess) <= value:
                lo, hi = guess, math.nextafter(guess, math.inf)
            else:
                lo, hi = math.nextafter(guess, -math.inf), guess
            if not math.isfinite(hi) or not math.isfinite(lo):
                return guess
            midpoint = (mpmath.mpf(lo) + mpmath.mpf(hi)) / 2
            near_tie = abs(value - midpoint) <= abs(value) * mpmath.mpf(2) ** (20 - bits)
            if not near_tie or bits >= _MAX_BITS:
                if value < midpoint:
                    return lo
                if value > midpoint:
                    return hi
                return lo if math.frexp(lo)[0] * 2**53 % 2 == 0 else hi  # a tie: to even
        bits *= 2


def _mpmath_evaluator(fn: Callable[..., Any]) -> Callable[[Sequence[np.ndarray]], np.ndarray]:
    def evaluate(points: Sequence[np.ndarray]) -> np.ndarray:
        out = np.empty(points[0].shape, dtype=np.float64)
        for index in np.ndindex(out.shape):
            out[index] = _correctly_rounded(fn, [float(p[index]) for p in points])
        return out

    return evaluate
