"""The autograd Functions: Legendre polynomials differentiable to any order.

Each Function uses the ``setup_context`` style with ``generate_vmap_rule = True`` so it composes
with ``torch.func`` (``vmap``, ``grad``, ``jacfwd``, ``jacrev``), defines ``jvp`` for forward-mode
AD, and builds its backward from differentiable operations (the next derivative is again one of
these Functions), so double backward and every higher order give true derivatives.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import torch

from legendre_verify.legendre import dispatch, kernels

__all__ = [
    "LegendrePolynomial",
    "LegendrePolynomial3",
    "LegendrePolynomialDerivative",
    "legendre_p",
    "legendre_p_derivative",
]


#: the dtypes computed (float8 and the like are floating point too, but torch has hardly an
#: operation for them: refused here rather than failing somewhere inside)
DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _check_input(input: Any, name: str = "input") -> None:
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(input).__name__}: {input!r}")
    if input.dtype not in DTYPES:
        raise TypeError(
            f"{name} must have a real floating dtype (float16, bfloat16, float32, float64), "
            f"got dtype={input.dtype}"
        )
    if input.layout != torch.strided or input.is_nested:
        layout = "nested" if input.is_nested else input.layout
        raise TypeError(
            f"{name} must be a dense (strided) tensor, got layout={layout} "
            f"(P_n(0) is not 0: call .to_dense() first)"
        )


def _check_order(value: Any, name: str) -> int:
    """``value`` as an int in [0, MAX_DEGREE] (``kernels.MAX_DEGREE``), else an error naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 0, got {type(value).__name__}: {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {name}={value!r}")
    return kernels.check_degree(int(value), name)


_STANDARD_APPLY = torch.autograd.Function.__dict__["apply"]
_C_APPLY = torch._C._FunctionBase.__dict__["apply"]


class _FastApply(torch.autograd.Function):
    """``apply`` without ``Function.apply``'s per-call ``inspect.signature`` (~20-30 us, most of
    a small tensor's cost) when no torch.func transform or torch.compile is active. There the
    standard ``apply`` runs, through a hidden twin class (dynamo cannot trace an overridden
    ``apply`` that calls ``super()``). Our forwards take no default arguments, so there is
    nothing for the skipped binding to do."""

    _traced: type[torch.autograd.Function]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_traced" not in cls.__dict__ and not cls.__dict__.get("_is_twin", False):
            cls._traced = type(
                cls.__name__,
                (cls,),
                {"apply": _STANDARD_APPLY, "_is_twin": True, "__module__": cls.__module__},
            )

    @classmethod
    def apply(cls, *args: Any) -> Any:
        if torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
            return cls._traced.apply(*args)
        return _C_APPLY.__get__(None, cls)(*args)


class LegendrePolynomial3(_FastApply):
    """P3(x) = 0.5 (5x^3 - 3x), the PyTorch tutorial's custom Function.

    Same interface and math as the tutorial (``LegendrePolynomial3.apply(x)``; the input is kept
    with ``ctx.save_for_backward``; backward is ``grad_output * 1.5 (5x^2 - 1)``), plus forward-mode
    AD, vmap support, half dtypes computed in float32, and bad-input errors.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(input: torch.Tensor) -> torch.Tensor:
        _check_input(input)
        return dispatch.p3(input)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        (input,) = inputs
        ctx.save_for_backward(input)
        ctx.save_for_forward(input)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> torch.Tensor:
        (input,) = ctx.saved_tensors
        return _p3_derivative_times(grad_output, input)

    @staticmethod
    def jvp(ctx: Any, input_tangent: torch.Tensor) -> torch.Tensor:
        (input,) = ctx.saved_tensors
        return _p3_derivative_times(input_tangent, input)


def _p3_derivative_times(vector: torch.Tensor, input: torch.Tensor) -> torch.Tensor:
    if torch.is_grad_enabled():  # building a graph (create_graph): differentiable operations
        return _chain(vector, input, lambda x: 1.5 * (5 * x**2 - 1))
    return dispatch.times_dp3(vector, input)  # one fused pass


def _chain(
    vector: torch.Tensor, input: torch.Tensor, derivative: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """``vector * derivative(input)`` in the compute dtype, rounded once to ``input``'s dtype.

    Built from differentiable operations, so the result has a graph for the next order.
    """
    dtype = kernels.compute_dtype(input.dtype)
    return kernels.round_to(vector.to(dtype) * derivative(input.to(dtype)), input.dtype)


def _save(ctx: Any, input: torch.Tensor, n: int, k: int) -> None:
    ctx.n, ctx.k = int(n), int(k)
    ctx.save_for_backward(input)
    ctx.save_for_forward(input)


def _derivative_times(ctx: Any, vector: torch.Tensor) -> torch.Tensor | None:
    """``vector * P_n^{(k+1)}(input)``: the backward (vector = grad_output) and jvp (tangent)."""
    (input,) = ctx.saved_tensors
    if not torch.is_grad_enabled():  # no graph to build: one fused pass
        return dispatch.times_derivative(vector, input, ctx.n, ctx.k + 1)
    if ctx.k >= ctx.n:  # derivative of a constant: zero, and so are all higher ones
        return _chain(vector, input, torch.zeros_like)
    return _chain(vector, input, lambda x: LegendrePolynomialDerivative.apply(x, ctx.n, ctx.k + 1))


class LegendrePolynomialDerivative(_FastApply):
    """d^k/dx^k P_n(x) for integers n, k >= 0 (``apply(input, n, k)``); its own derivative is
    the (k+1)-th, so it is differentiable to any order."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input: torch.Tensor, n: int, k: int) -> torch.Tensor:
        _check_input(input)
        return dispatch.legendre_derivative(input, _check_order(n, "n"), _check_order(k, "k"))

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        _save(ctx, *inputs)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None, None
        return _derivative_times(ctx, grad_output), None, None

    @staticmethod
    def jvp(ctx: Any, input_tangent: torch.Tensor, *_: Any) -> torch.Tensor:
        return _derivative_times(ctx, input_tangent)


class LegendrePolynomial(_FastApply):
    """P_n(x) for any integer n >= 0, differentiable to any order (``apply(input, n)``)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input: torch.Tensor, n: int) -> torch.Tensor:
        _check_input(input)
        return dispatch.legendre_derivative(input, _check_order(n, "n"), 0)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        input, n = inputs
        _save(ctx, input, n, 0)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None
        return _derivative_times(ctx, grad_output), None

    @staticmethod
    def jvp(ctx: Any, input_tangent: torch.Tensor, *_: Any) -> torch.Tensor:
        return _derivative_times(ctx, input_tangent)


def legendre_p(input: torch.Tensor, n: int) -> torch.Tensor:
    """P_n(input): the Legendre polynomial of degree ``n``, differentiable to any order.

    Argument order as ``torch.special.legendre_polynomial_p`` (which has no gradient). Output
    dtype, device and shape equal the input's; outside [-1, 1] it is still the polynomial.
    """
    _check_input(input)
    return LegendrePolynomial.apply(input, _check_order(n, "n"))


def legendre_p_derivative(input: torch.Tensor, n: int, k: int = 1) -> torch.Tensor:
    """The k-th derivative of P_n at ``input``, itself differentiable to any order."""
    _check_input(input)
    return LegendrePolynomialDerivative.apply(input, _check_order(n, "n"), _check_order(k, "k"))
