"""What "true" means: the outputs and derivatives of the function a Function should compute.

Every oracle answers, for a :class:`~legendre_verify.verification.samples.Sample` already in
float64 on the CPU:

- ``outputs(s)``: every output of the call;
- ``vjp(s)``: the gradient of each differentiable input for the sample's ``grad_outputs``;
- ``jvp(s)``: each differentiable output's directional derivative along ``tangents``;
- ``vhp(s)``: the gradient of ``sum_i <vjp_i, tangent_i>`` (double backward).

The oracles:

- :class:`~legendre_verify.verification.symbolic.SymbolicOracle` (its own module, which alone
  imports sympy and mpmath: 0.3 s a process that gives no ``symbolic=`` does not pay):
  elementwise functions as sympy expressions; derivatives by ``sympy.diff``; polynomials
  evaluated exactly, anything else in mpmath at 53 + 200 bits.
- :class:`ReferenceOracle`: plain differentiable torch with the Function's call signature and
  output structure, run in float64; derivatives of every order by autograd.
- :class:`DerivedOracle`: the Function's own ``forward`` run outside the Function under autograd
  (exact truth for free when ``forward`` is written in differentiable torch).
- :class:`SelfOracle`: the Function itself in float64: no truth, only a yardstick for checks of
  self-consistency (other dtypes, layouts, devices).

An oracle's own failure is an :class:`OracleError`, never a failure of the Function; a
derivative order the oracle cannot give is a :class:`MissingDerivative` (the check is skipped
with that reason).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from legendre_verify.verification.limits import time_limit
from legendre_verify.verification.samples import Sample

__all__ = [
    "DerivedOracle",
    "MissingDerivative",
    "Oracle",
    "OracleError",
    "ReferenceOracle",
    "SelfOracle",
    "StandInContext",
]

#: what torch says when an operation has no derivative of the order asked for
_MISSING_MARKERS = (
    "is not implemented",
    "not implemented for",
    "does not require grad and does not have a grad_fn",
    "marked with @once_differentiable",
)


class OracleError(Exception):
    """The oracle (not the Function under test) failed: it raised, returned something that is
    not a tensor/number, or lacks what was asked of it."""


class MissingDerivative(OracleError):
    """The oracle cannot give a derivative of this order (e.g. a reference op without double
    backward): the checks that need it are skipped with this reason."""


class Oracle:
    """The interface the checks use (see the module docstring)."""

    name: str = "oracle"
    #: failures of this oracle are the Function's (the Function itself or its own forward)
    blames_function: bool = False
    #: an elementwise oracle has ``derivative(orders, points)``: tolerances from a grid
    elementwise: bool = False
    #: the oracle knows the truth (not just the Function's own float64 result)
    truthful: bool = True
    #: the oracle's answers are exact (correctly rounded): no rounding error of its own
    exact: bool = False
    #: seconds one answer may take (None: no limit)
    timeout: float | None = None
    #: the oracle is code of the user's other than the Function (a reference): its float32 run
    #: measures the computation's rounding (the precision ladder of the tolerance model)
    independent: bool = False

    def outputs(self, s: Sample) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def vjp(self, s: Sample) -> tuple[torch.Tensor | None, ...]:
        raise NotImplementedError

    def jvp(self, s: Sample) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def vhp(self, s: Sample) -> tuple[torch.Tensor | None, ...]:
        raise NotImplementedError

    #: the function may have kinks (points where a derivative jumps): bracket derivatives
    may_have_kinks: bool = True
    #: relative error of the oracle's derivatives, where it is measurably imprecise (a
    #: reference whose autograd derivative is computed in lower precision): widens the
    #: comparison of derivatives by that much of their size
    derivative_error: float = 0.0

    def expect(
        self, kind: str, s: Sample
    ) -> tuple[tuple[torch.Tensor | None, ...], tuple[torch.Tensor | None, ...]]:
        """The expected ``kind`` quantities and, per element, how far a correct answer may be
        from them beyond rounding: at a kink (a derivative that jumps between the
        neighbouring floats of the inputs) any value between the one-sided derivatives is a
        valid subgradient, so the expectation is the middle of that interval and the slack
        its half-width (both conventions torch uses, and any between, pass). Elsewhere the
        slack is 0 (the neighbours differ by rounding of rounding)."""
        centre = self.ask(kind, s)
        if kind == "outputs":
            return centre, (None,) * len(centre)
        if not self.may_have_kinks:
            return centre, tuple(self._imprecision(c) for c in centre)
        sides = [self.ask(kind, nudged(s, direction)) for direction in (math.inf, -math.inf)]
        middles, slacks = [], []
        for k, c in enumerate(centre):
            if c is None:
                middles.append(None)
                slacks.append(None)
                continue
            values = [c]
            for side in sides:
                v = side[k]
                if v is not None and v.shape == c.shape:
                    values.append(torch.where(torch.isfinite(v), v, c))
            stacked = torch.stack(values)
            lo, hi = stacked.min(0).values, stacked.max(0).values
            finite = torch.isfinite(c)
            middles.append(torch.where(finite, (lo + hi) / 2, c))
            # the half-width, plus a few ulps for the rounding of (hi - lo) / 2 itself
            half = (hi - lo) / 2 * (1 + 2.0**-40)
            slack = torch.where(finite, half, torch.zeros_like(c))
            extra = self._imprecision(c)
            slacks.append(slack if extra is None else slack + extra)
        return tuple(middles), tuple(slacks)

    def _imprecision(self, c: torch.Tensor | None) -> torch.Tensor | None:
        if c is None or not self.derivative_error:
            return None
        return self.derivative_error * c.abs().nan_to_num(0.0, 0.0, 0.0)

    def ask(self, kind: str, s: Sample) -> tuple[torch.Tensor | None, ...]:
        """``outputs``/``vjp``/``jvp``/``vhp`` of ``s``; the oracle's own exceptions become an
        :class:`OracleError` naming the oracle, the question and the point."""
        who = (
            "the Function's own forward (the derived oracle)"
            if self.blames_function
            else f"the {self.name} oracle"
        )
        try:
            with warnings.catch_warnings(), time_limit(self.timeout, who):
                warnings.simplefilter("ignore")
                return getattr(self, kind)(s)
        except OracleError:
            raise
        except Exception as error:
            if self.blames_function:
                raise
            text = str(error)
            if kind != "outputs" and any(m in text for m in _MISSING_MARKERS):
                raise MissingDerivative(
                    f"the {self.name} oracle cannot give the {_KINDS[kind]}: "
                    f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"
                ) from error
            raise OracleError(
                f"the {self.name} oracle raised {type(error).__name__} computing the "
                f"{_KINDS[kind]} (not a failure of the Function under test): {text}\n"
                f"at the point:\n{s.describe()}"
            ) from error


_KINDS = {
    "outputs": "values",
    "vjp": "first derivatives (vjp)",
    "jvp": "directional derivatives (jvp)",
    "vhp": "second derivatives (double backward)",
}


# ---------------------------------------------------------------------------------------------
# autograd-based oracles: reference, derived, self


def dense(t: torch.Tensor) -> torch.Tensor:
    """A plain tensor for autograd's results (which may be ZeroTensors that numpy refuses)."""
    t = t.detach()
    return torch.zeros(t.shape, dtype=t.dtype, device=t.device) if t._is_zerotensor() else t


def _outputs_tuple(out: Any, who: str) -> tuple[torch.Tensor, ...]:
    outs = out if isinstance(out, tuple | list) else (out,)
    for k, o in enumerate(outs):
        if not isinstance(o, torch.Tensor):
            raise OracleError(f"{who} returned {type(o).__name__} as output {k}, not a tensor")
    return tuple(outs)


class AutogradOracle(Oracle):
    """Truth from a callable with the Function's call signature, differentiated by autograd in
    float64. Subclasses say how to call it (``_call``)."""

    #: indices of the differentiable outputs (set by the subject)
    differentiable_outputs: tuple[int, ...] = (0,)

    def _call(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _run(self, s: Sample) -> tuple[tuple[torch.Tensor, ...], list[torch.Tensor]]:
        # the sample's own floating dtype (float64 for the truth; float32 when the precision
        # ladder measures how rounding moves this computation)
        leaves = [x.detach().clone().requires_grad_(True) for x in s.inputs]
        args = list(s.args)
        for i, leaf in zip(s.diff, leaves, strict=True):
            args[i] = leaf.clone()  # a forward that writes into its input may do so here
        with torch.enable_grad():
            outs = _outputs_tuple(self._call(args, dict(s.kwargs)), f"the {self.name} oracle")
        return outs, leaves

    def _pairs(
        self, outs: Sequence[torch.Tensor], grad_outputs: Sequence[torch.Tensor | None]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        chosen, cotangents = [], []
        for k, g in zip(self.differentiable_outputs, grad_outputs, strict=False):
            if g is not None and k < len(outs) and outs[k].requires_grad:
                chosen.append(outs[k])
                cotangents.append(g.to(outs[k].dtype).expand_as(outs[k]))
        return chosen, cotangents

    def outputs(self, s: Sample) -> tuple[torch.Tensor, ...]:
        outs, _ = self._run(s)
        return tuple(o.detach() for o in outs)

    def function_of_inputs(self, s: Sample) -> Callable[..., tuple[torch.Tensor, ...]]:
        """The truth as a function of the sample's differentiable tensors alone, returning
        its differentiable outputs (what gradcheck takes)."""

        def f(*xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
            args = list(s.args)
            for i, x in zip(s.diff, xs, strict=True):
                args[i] = x.clone()
            with torch.enable_grad():
                outs = _outputs_tuple(self._call(args, dict(s.kwargs)), f"the {self.name} oracle")
            return tuple(outs[k] for k in self.differentiable_outputs if k < len(outs))

        return f

    def _first(
        self, s: Sample, create_graph: bool
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        outs, leaves = self._run(s)
        chosen, cotangents = self._pairs(outs, s.grad_outputs)
        if not chosen:
            return [torch.zeros_like(x) for x in leaves], leaves
        with torch.enable_grad():
            grads = torch.autograd.grad(
                chosen, leaves, cotangents, allow_unused=True, create_graph=create_graph
            )
        return [
            torch.zeros_like(x) if g is None else g for x, g in zip(leaves, grads, strict=True)
        ], leaves

    def vjp(self, s: Sample) -> tuple[torch.Tensor | None, ...]:
        grads, _ = self._first(s, create_graph=False)
        return tuple(dense(g) if rg else None for g, rg in zip(grads, s.requires_grad, strict=True))

    def vhp(self, s: Sample) -> tuple[torch.Tensor | None, ...]:
        firsts, leaves = self._first(s, create_graph=True)
        with torch.enable_grad():
            terms = [
                (f * u.to(f.dtype)).sum()
                for f, u, rg in zip(firsts, s.tangents, s.requires_grad, strict=True)
                if rg and f.requires_grad
            ]
            if not terms:
                return tuple(
                    torch.zeros_like(x) if rg else None
                    for x, rg in zip(leaves, s.requires_grad, strict=True)
                )
            seconds = torch.autograd.grad(sum(terms), leaves, allow_unused=True)
        return tuple(
            (torch.zeros_like(x) if g is None else dense(g)) if rg else None
            for x, g, rg in zip(leaves, seconds, s.requires_grad, strict=True)
        )

    def jvp(self, s: Sample) -> tuple[torch.Tensor, ...]:
        """Directional derivatives by the double-vjp identity: J u = d/dg <J^T g, u>."""
        outs, leaves = self._run(s)
        result = []
        with torch.enable_grad():
            chosen = [outs[k] for k in self.differentiable_outputs]
            dummies = [torch.zeros_like(o, requires_grad=True) for o in chosen]
            live = [(o, d) for o, d in zip(chosen, dummies, strict=True) if o.requires_grad]
            if live:
                firsts = torch.autograd.grad(
                    [o for o, _ in live],
                    leaves,
                    [d for _, d in live],
                    allow_unused=True,
                    create_graph=True,
                )
                terms = [
                    (f * u.to(f.dtype)).sum()
                    for f, u in zip(firsts, s.tangents, strict=True)
                    if f is not None and f.requires_grad
                ]
            else:
                terms = []
            if terms:
                found = torch.autograd.grad(sum(terms), dummies, allow_unused=True)
            else:
                found = [None] * len(dummies)
        for o, f in zip(chosen, found, strict=True):
            result.append(torch.zeros_like(o.detach()) if f is None else dense(f))
        return tuple(result)


class ReferenceOracle(AutogradOracle):
    """Truth from ``reference(*args, **kwargs)``: plain differentiable torch with the Function's
    call signature and output structure, run in float64 on the CPU."""

    name = "reference"
    independent = True

    def __init__(self, reference: Callable[..., Any], arity: int | None = None) -> None:
        self.reference = reference
        self.arity = arity
        self.elementwise = arity is not None

    def _call(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        return self.reference(*args, **kwargs)

    def derivative(self, orders: Sequence[int], points: Sequence[np.ndarray]) -> np.ndarray:
        """Elementwise references only: the partial derivative ``orders`` at ``points`` (used
        for the tolerance's scale over a grid of the domain)."""
        arrays = np.broadcast_arrays(*(np.asarray(p, dtype=np.float64) for p in points))
        with torch.enable_grad():
            inputs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
            (out,) = _outputs_tuple(self.reference(*inputs), "the reference oracle")[:1]
            out = out.expand(arrays[0].shape) if out.shape != arrays[0].shape else out
            for i, order in enumerate(orders):
                for _ in range(order):
                    if not out.requires_grad:
                        return np.zeros(arrays[0].shape)
                    (grad,) = torch.autograd.grad(
                        out.sum(), inputs[i], create_graph=True, allow_unused=True
                    )
                    out = torch.zeros_like(inputs[i]) if grad is None else grad
        return dense(out).numpy().astype(np.float64)

    scale = None  # set below (shared with symbolic.SymbolicOracle)


class StandInContext:
    """What a Function's ``forward(ctx, ...)`` may call on ``ctx``, doing nothing: lets the
    forward run outside the Function (:class:`DerivedOracle`)."""

    def __init__(self, needs_input_grad: tuple[bool, ...] = ()) -> None:
        self.needs_input_grad = needs_input_grad
        self.materialize_grads = True

    def save_for_backward(self, *tensors: Any) -> None:
        self.saved_tensors = tensors

    def save_for_forward(self, *tensors: Any) -> None:
        pass

    def mark_dirty(self, *tensors: Any) -> None:
        pass

    def mark_non_differentiable(self, *tensors: Any) -> None:
        pass

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value


class DerivedOracle(AutogradOracle):
    """Truth from a Function's own ``forward``, run outside the Function under autograd in
    float64 (with a stand-in ``ctx``): the derivatives of the forward the Function computes, of
    every order, with no finite differences. Only when that forward is differentiable torch."""

    name = "derived"
    blames_function = True

    def __init__(self, function: type[torch.autograd.Function]) -> None:
        self.function = function
        forward = function.forward
        # old style: forward(ctx, *args); new style (setup_context defined): forward(*args)
        self.new_style = (
            getattr(function, "setup_context", None) is not None
            and function.setup_context is not torch.autograd.Function.setup_context
        )
        self.forward = forward

    def _call(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if self.new_style:
            return self.forward(*args, **kwargs)
        needs = tuple(isinstance(a, torch.Tensor) and a.requires_grad for a in args)
        return self.forward(StandInContext(needs), *args, **kwargs)


class SelfOracle(AutogradOracle):
    """The Function itself in float64 on the CPU: the yardstick of self-consistency checks
    when there is no truth (other dtypes, layouts and devices are compared with it)."""

    name = "own float64"
    blames_function = True
    truthful = False

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def _call(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        return self.fn(*args, **kwargs)


def unit(i: int, arity: int, base: Sequence[int] | None = None) -> tuple[int, ...]:
    """Derivative orders ``base`` plus one derivative in argument ``i``."""
    base = base or (0,) * arity
    return tuple(o + (j == i) for j, o in enumerate(base))


def _grid_scale(self: Any, orders: Sequence[int], domain: tuple[float, float]) -> float:
    """How large the derivative ``orders`` and its sensitivity get over the domain: max over a
    grid (ends, 0 and points between) of |D f| + sum_j |x_j| |d_j D f| (elementwise oracles).

    Rounding errors of a stable evaluation are at most a few eps times this (the result's own
    rounding plus the condition number), so it is the yardstick of every tolerance.
    """
    key = (tuple(orders), domain)
    cache = self.__dict__.setdefault("_scales", {})
    if key not in cache:
        try:
            _fill_grid_scale(self, orders, domain, key, cache)
        except OracleError:
            raise
        except Exception as error:
            raise OracleError(
                f"the {self.name} oracle raised {type(error).__name__} computing the size of its "
                f"derivative {tuple(orders)} over the domain {domain} (not a failure of the "
                f"Function under test): {error}"
            ) from error
    return cache[key]


def _fill_grid_scale(
    self: Any, orders: Sequence[int], domain: tuple, key: Any, cache: dict
) -> None:
    """Compute one grid scale into ``cache`` (see :func:`_grid_scale`)."""
    points = _grid(domain, self.arity)
    total = np.abs(self.derivative(orders, points))
    for j in range(self.arity):
        bumped = [o + (i == j) for i, o in enumerate(orders)]
        try:
            sensitivity = np.abs(points[j]) * np.abs(self.derivative(bumped, points))
        except Exception:  # no derivative of that order: a relative difference quotient
            step = 1e-6
            moved = [
                [p * (1 + d * step) if i == j else p for i, p in enumerate(points)] for d in (1, -1)
            ]
            up, down = (self.derivative(orders, m) for m in moved)
            sensitivity = np.abs(up - down) / (2 * step)
        total = total + sensitivity
    finite = total[np.isfinite(total)]
    cache[key] = float(finite.max()) if finite.size else math.inf
    if finite.size < total.size:  # the domain touches a singularity of this derivative
        self.__dict__.setdefault("singular", set()).add(tuple(orders))


ReferenceOracle.scale = _grid_scale


def _grid(domain: tuple[float, float], arity: int) -> list[np.ndarray]:
    lo, hi = domain
    per_axis = {1: 257, 2: 33}.get(arity, 9)
    axis = np.unique(np.concatenate([np.linspace(lo, hi, per_axis), [0.0] if lo < 0 < hi else []]))
    return [a.ravel() for a in np.meshgrid(*([axis] * arity), indexing="ij")]


def as_float64(s: Sample) -> Sample:
    """The sample in float64 on the CPU (the oracles' input)."""
    return s.mapped(lambda t: t.detach().to("cpu", torch.float64, copy=True))


def with_floats(s: Sample, floats: Sequence[torch.Tensor]) -> Sample:
    """``s`` with its floating tensors replaced, in the order inputs, defined grad_outputs,
    tangents (the inverse of :func:`floats_of`)."""
    n = len(s.inputs)
    it = iter(floats[n:])
    grads = tuple(None if g is None else next(it) for g in s.grad_outputs)
    tangents = tuple(next(it) for _ in s.tangents)
    return replace(s.with_inputs(floats[:n]), grad_outputs=grads, tangents=tangents)


def floats_of(s: Sample) -> list[torch.Tensor]:
    """Every floating tensor of ``s``: inputs, defined grad_outputs, tangents."""
    return [*s.inputs, *(g for g in s.grad_outputs if g is not None), *s.tangents]


def nudged(s: Sample, direction: float) -> Sample:
    """``s`` with every differentiable input moved to its neighbouring float toward
    ``direction`` (+inf or -inf): one side of any kink at the inputs."""
    toward = torch.tensor(direction, dtype=torch.float64)
    return s.with_inputs([torch.nextafter(x, toward.to(x.dtype)) for x in s.inputs])
