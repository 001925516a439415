"""The general mutant zoo: deliberately wrong NON-elementwise custom autograd Functions.

Each mutant is a subclass of a correct base Function that overrides one piece with a bug that
public projects have shipped: a weight gradient reshaped where a transpose belongs, a mean where
a sum belongs, a ``squeeze(0)`` that only bites at batch size one, a kernel that assumes a
contiguous weight, an in-place write to ``grad_output``, a copy-pasted ``ctx.needs_input_grad``
index, a backward that is not differentiable, a wrong ``jvp``, a gradient permuted the wrong
way, an ``int32`` index output, a mixed-up ``mark_non_differentiable``, the unbiased variance in
a LayerNorm, a gradient-reversal layer that forgets its coefficient, outputs that alias their
inputs (a view; an in-place write without ``ctx.mark_dirty``), ``scatter`` where
``scatter_add`` belongs, a backward that crashes on an undefined grad_output under
``set_materialize_grads(False)``, a softmax backward without its subtraction ...

``GENERAL_MUTANTS`` lists them with the ``verify()`` options (``example=``, ``signature=`` where
shapes may vary, ``reference=``, ``compare=``) a user would pass; ``verify`` must reject every
one. ``GENERAL_CORRECT`` lists the correct bases with the same options; ``verify`` must pass
every one. The bases mix the old style (``forward(ctx, ...)``) and the new style (``forward``
without ctx plus ``setup_context``), as real code does.
"""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import strategies as st

from legendre_verify.verification.mutants.base import Mutant

__all__ = [
    "GENERAL_CORRECT",
    "GENERAL_MUTANTS",
    "GradReverse",
    "LayerNormFunction",
    "LinearFunction",
    "ProductAndSum",
    "ScatterSum",
    "SoftmaxFunction",
    "SortFunction",
]


# --------------------------------------------------------------------------------------------
# Deterministic example tensors (never torch.randn at import time).


def _grid(*shape: int, low: float = -0.9, high: float = 0.8) -> torch.Tensor:
    """Distinct, deterministic, unsorted values in [low, high] of the given shape."""
    n = torch.Size(shape).numel()
    values = torch.linspace(low, high, n)
    perm = (torch.arange(n) * 7) % n if n % 7 else torch.arange(n)  # a fixed shuffle
    return values[perm].reshape(shape).contiguous()


# ============================================================================================
# 1. LinearFunction: the example of PyTorch's "Extending PyTorch" notes (new style, with the
#    notes' ctx.needs_input_grad pattern and a jvp).


class LinearFunction(torch.autograd.Function):
    """y = input @ weight.T + bias, for input (m, n), weight (k, n), bias (k)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        output = input.mm(weight.t())
        return output + bias.unsqueeze(0).expand_as(output)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        input, weight, bias = inputs
        ctx.save_for_backward(input, weight, bias)
        ctx.save_for_forward(input, weight)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor):
        input, weight, _ = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output.mm(weight)
        if ctx.needs_input_grad[1]:
            grad_weight = grad_output.t().mm(input)
        if ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(0)
        return grad_input, grad_weight, grad_bias

    @staticmethod
    def jvp(ctx: Any, t_input: torch.Tensor, t_weight: torch.Tensor, t_bias: torch.Tensor):
        input, weight = ctx.saved_tensors
        return t_input.mm(weight.t()) + input.mm(t_weight.t()) + t_bias


class LinearWeightGradReshaped(LinearFunction):
    @staticmethod
    def backward(ctx, grad_output):
        input, weight, _ = ctx.saved_tensors
        grad_input = grad_output.mm(weight)
        # X^T G is (n, k); reshape() "fixes" the shape check where .t() was needed
        grad_weight = input.t().mm(grad_output).reshape(weight.shape)
        return grad_input, grad_weight, grad_output.sum(0)


class LinearBiasGradMean(LinearFunction):
    @staticmethod
    def backward(ctx, grad_output):
        grad_input, grad_weight, _ = LinearFunction.backward(ctx, grad_output)
        return grad_input, grad_weight, grad_output.mean(0)


class LinearBiasGradSqueeze(LinearFunction):
    @staticmethod
    def backward(ctx, grad_output):
        grad_input, grad_weight, _ = LinearFunction.backward(ctx, grad_output)
        # squeeze(0) meant to drop the singleton dim of a broadcast bias; with one row in the
        # batch it drops the batch dim instead and sum(0) then reduces over the features
        return grad_input, grad_weight, grad_output.squeeze(0).sum(0)


class LinearAssumesContiguousWeight(LinearFunction):
    @staticmethod
    def forward(input, weight, bias):
        # a "kernel" that reads weight's memory as row-major (k, n): right only if contiguous
        w = weight.as_strided(weight.shape, (weight.size(1), 1))
        output = input.mm(w.t())
        return output + bias.unsqueeze(0).expand_as(output)


class LinearMutatesGradOutput(LinearFunction):
    @staticmethod
    def backward(ctx, grad_output):
        input, weight, _ = ctx.saved_tensors
        grad_input = grad_output.mm(weight)
        grad_weight = grad_output.t().mm(input)
        # column sums by an in-place running sum over the batch ("saves an allocation")
        grad_bias = grad_output.cumsum_(0)[-1] if len(grad_output) else grad_output.sum(0)
        return grad_input, grad_weight, grad_bias


class LinearNeedsInputGradIndex(LinearFunction):
    @staticmethod
    def backward(ctx, grad_output):
        input, weight, _ = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output.mm(weight)
        if ctx.needs_input_grad[0]:  # copy-paste: should be [1]
            grad_weight = grad_output.t().mm(input)
        if ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(0)
        return grad_input, grad_weight, grad_bias


class LinearDetachedBackward(LinearFunction):
    @staticmethod
    def backward(ctx, grad_output):
        input, weight, _ = (t.detach() for t in ctx.saved_tensors)
        return grad_output.mm(weight), grad_output.t().mm(input), grad_output.sum(0)


class LinearWrongJvp(LinearFunction):
    @staticmethod
    def jvp(ctx, t_input, t_weight, t_bias):
        _, weight = ctx.saved_tensors
        return t_input.mm(weight.t()) + t_bias  # forgets the weight tangent's term


_LINEAR_OPTIONS: dict[str, Any] = {
    "example": (_grid(3, 4), _grid(5, 4, low=-0.7, high=0.9), _grid(5, low=-0.5, high=0.5)),
    "signature": "(m,n),(k,n),(k)->(m,k)",
    "reference": torch.nn.functional.linear,
}


# ============================================================================================
# 2. SortFunction: (values, indices) with non-differentiable indices (new style).


class SortFunction(torch.autograd.Function):
    """torch.sort along the last dim; the gradient of values scattered back to x's positions."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor):
        values, indices = torch.sort(x, dim=-1)
        return values, indices

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[torch.Tensor], output: Any) -> None:
        _, indices = output
        ctx.mark_non_differentiable(indices)
        ctx.save_for_backward(indices)

    @staticmethod
    def backward(ctx: Any, grad_values: torch.Tensor, grad_indices: Any):
        (indices,) = ctx.saved_tensors
        return torch.zeros_like(grad_values).scatter(-1, indices, grad_values)


class SortGathersGrad(SortFunction):
    @staticmethod
    def backward(ctx, grad_values, grad_indices):
        (indices,) = ctx.saved_tensors
        return grad_values.gather(-1, indices)  # applies the permutation instead of its inverse


class SortIndicesInt32(SortFunction):
    @staticmethod
    def forward(x):
        values, indices = torch.sort(x, dim=-1)
        return values, indices.to(torch.int32)  # "saves memory"

    @staticmethod
    def backward(ctx, grad_values, grad_indices):
        (indices,) = ctx.saved_tensors
        return torch.zeros_like(grad_values).scatter(-1, indices.long(), grad_values)


class SortMarksValuesNonDifferentiable(SortFunction):
    @staticmethod
    def setup_context(ctx, inputs, output):
        values, indices = output
        ctx.mark_non_differentiable(values)  # meant indices: the unpacking order mixed up
        ctx.save_for_backward(indices)


_SORT_OPTIONS: dict[str, Any] = {
    "example": (_grid(3, 4),),
    "signature": "(m,n)->(m,n),(m,n)",
    "reference": lambda x: tuple(torch.sort(x, dim=-1)),
    "compare": {1: "ignore"},  # indices are ambiguous where values tie
}


# ============================================================================================
# 3. LayerNormFunction(x, weight, bias, normalized_shape, eps) (new style, twice
#    differentiable: backward recomputes the statistics from x with differentiable ops).


def _ln_dims(normalized_shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(range(-len(normalized_shape), 0))


def _ln_stats(x: torch.Tensor, normalized_shape: tuple[int, ...], eps: float):
    dims = _ln_dims(normalized_shape)
    mean = x.mean(dims, keepdim=True)
    var = (x - mean).pow(2).mean(dims, keepdim=True)  # biased, as LayerNorm defines it
    return mean, (var + eps).rsqrt()


def _ln_backward(g, x, weight, mean, rstd, normalized_shape):
    dims = _ln_dims(normalized_shape)
    batch = tuple(range(x.dim() - len(normalized_shape)))
    xhat = (x - mean) * rstd
    g_xhat = g * weight
    grad_x = rstd * (
        g_xhat - g_xhat.mean(dims, keepdim=True) - xhat * (g_xhat * xhat).mean(dims, keepdim=True)
    )
    return grad_x, (g * xhat).sum(batch), g.sum(batch)


class LayerNormFunction(torch.autograd.Function):
    """torch.nn.functional.layer_norm(x, normalized_shape, weight, bias, eps)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, weight, bias, normalized_shape, eps):
        mean, rstd = _ln_stats(x, normalized_shape, eps)
        return (x - mean) * rstd * weight + bias

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, weight, _, normalized_shape, eps = inputs
        ctx.save_for_backward(x, weight)
        ctx.normalized_shape = tuple(normalized_shape)
        ctx.eps = eps

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor):
        x, weight = ctx.saved_tensors
        mean, rstd = _ln_stats(x, ctx.normalized_shape, ctx.eps)
        grad_x, grad_w, grad_b = _ln_backward(g, x, weight, mean, rstd, ctx.normalized_shape)
        return grad_x, grad_w, grad_b, None, None


class LayerNormDropsMeanTerm(LayerNormFunction):
    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        dims = _ln_dims(ctx.normalized_shape)
        mean, rstd = _ln_stats(x, ctx.normalized_shape, ctx.eps)
        _, grad_w, grad_b = _ln_backward(g, x, weight, mean, rstd, ctx.normalized_shape)
        xhat = (x - mean) * rstd
        g_xhat = g * weight
        grad_x = rstd * (g_xhat - xhat * (g_xhat * xhat).mean(dims, keepdim=True))
        return grad_x, grad_w, grad_b, None, None


class LayerNormUnbiasedVariance(LayerNormFunction):
    @staticmethod
    def forward(x, weight, bias, normalized_shape, eps):
        dims = _ln_dims(normalized_shape)
        mean = x.mean(dims, keepdim=True)
        var = torch.var(x, dims, keepdim=True)  # torch.var is unbiased by default
        return (x - mean) * (var + eps).rsqrt() * weight + bias


class LayerNormNoGradBackward(LayerNormFunction):
    @staticmethod
    @torch.no_grad()
    def backward(ctx, g):  # "backward needs no graph": double backward silently gets nothing
        return LayerNormFunction.backward(ctx, g)


class LayerNormSavesStats(LayerNormFunction):
    @staticmethod
    def setup_context(ctx, inputs, output):
        LayerNormFunction.setup_context(ctx, inputs, output)
        x = inputs[0]
        # cache the statistics instead of recomputing them: they are constants to autograd,
        # so the second derivative misses their dependence on x
        ctx.stats = _ln_stats(x.detach(), ctx.normalized_shape, ctx.eps)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        mean, rstd = ctx.stats
        grad_x, grad_w, grad_b = _ln_backward(g, x, weight, mean, rstd, ctx.normalized_shape)
        return grad_x, grad_w, grad_b, None, None


_LAYER_NORM_OPTIONS: dict[str, Any] = {
    "example": (
        _grid(3, 4),
        _grid(4, low=0.5, high=1.5),
        _grid(4, low=-0.3, high=0.3),
        (4,),
        1e-5,
    ),
    # no signature: normalized_shape (4,) fixes the trailing size
    "reference": lambda x, weight, bias, normalized_shape, eps: torch.nn.functional.layer_norm(
        x, normalized_shape, weight, bias, eps
    ),
}


# ============================================================================================
# 4. GradReverse: the gradient-reversal layer of domain-adversarial training (old style).


class GradReverse(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by -alpha (by design)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.alpha = alpha
        return x.clone()

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor):
        return g.neg() * ctx.alpha, None


class GradReverseIgnoresAlpha(GradReverse):
    @staticmethod
    def backward(ctx, g):
        return g.neg(), None


_GRL_OPTIONS: dict[str, Any] = {
    "example": (_grid(3, 4), st.floats(0, 2)),
    "signature": "(m,n)->(m,n)",
    # value x, gradient -alpha: what a gradient-reversal layer means
    "reference": lambda x, alpha: (-alpha) * x + ((1 + alpha) * x).detach(),
    # its gradient is not the derivative of its forward, by design: no finite differences
    "skip": ["gradcheck", "gradgradcheck"],
}


# ============================================================================================
# 5. ScatterSum(src, index, dim_size): torch_scatter-style segment sum along the last dim
#    (new style).


class ScatterSum(torch.autograd.Function):
    """out[..., j] = sum of src[..., i] over i with index[..., i] == j; out has dim_size."""

    generate_vmap_rule = True

    @staticmethod
    def forward(src: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
        out = src.new_zeros((*src.shape[:-1], dim_size))
        return out.scatter_add(-1, index, src)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        ctx.save_for_backward(inputs[1])

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor):
        (index,) = ctx.saved_tensors
        return g.gather(-1, index), None, None


class ScatterSumGatherWrongDim(ScatterSum):
    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        return g.gather(0, index), None, None  # dim 0 hard-coded (the GNN convention)


class ScatterSumOverwrites(ScatterSum):
    @staticmethod
    def forward(src, index, dim_size):
        out = src.new_zeros((*src.shape[:-1], dim_size))
        return out.scatter(-1, index, src)  # scatter, not scatter_add: duplicates overwrite


# index values in [0, 3) with duplicates in every row; dim_size 4 (segment 3 stays empty), so
# the wrong-dim gather still finds valid rows and is silently wrong rather than crashing
_SCATTER_INDEX = torch.tensor([[0, 2, 2, 1], [1, 1, 0, 2], [2, 0, 0, 0]], dtype=torch.int64)

_SCATTER_OPTIONS: dict[str, Any] = {
    "example": (_grid(3, 4), _SCATTER_INDEX, 4),
    # no signature: the fixed index tensor fixes src's shape
    "reference": lambda src, index, dim_size: src.new_zeros(
        (*src.shape[:-1], dim_size)
    ).scatter_add(-1, index, src),
}


# ============================================================================================
# 6. ProductAndSum(x, y) -> (x * y, x + y), grads not materialized (new style).


class ProductAndSum(torch.autograd.Function):
    """Two outputs; set_materialize_grads(False), so either grad_output may be None."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, y: torch.Tensor):
        return x * y, x + y

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[torch.Tensor, torch.Tensor], output: Any) -> None:
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx: Any, g_prod: torch.Tensor | None, g_sum: torch.Tensor | None):
        x, y = ctx.saved_tensors
        grad_x = grad_y = None
        if g_prod is not None:
            grad_x, grad_y = g_prod * y, g_prod * x
        if g_sum is not None:
            grad_x = g_sum if grad_x is None else grad_x + g_sum
            grad_y = g_sum if grad_y is None else grad_y + g_sum
        return grad_x, grad_y


class ProductAndSumAssumesBothGrads(ProductAndSum):
    @staticmethod
    def backward(ctx, g_prod, g_sum):
        x, y = ctx.saved_tensors
        return g_prod * y + g_sum, g_prod * x + g_sum  # None when only one output is used


_TWO_OUTPUT_OPTIONS: dict[str, Any] = {
    "example": (_grid(3, 4), _grid(3, 4, low=-0.6, high=0.95)),
    "signature": "(m,n),(m,n)->(m,n),(m,n)",
    "reference": lambda x, y: (x * y, x + y),
}


# ============================================================================================
# 7. SoftmaxFunction over the last dim (old style; saves its output).


class SoftmaxFunction(torch.autograd.Function):
    """torch.softmax(x, -1); backward y * (g - sum(g * y))."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        y = torch.softmax(x, dim=-1)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return y * (g - (g * y).sum(-1, keepdim=True))


class SoftmaxMissingSubtraction(SoftmaxFunction):
    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return y * g  # the elementwise-activation pattern: drops the Jacobian's -y y^T part


class SoftmaxMissingKeepdim(SoftmaxFunction):
    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        # without keepdim the (m,) sums broadcast along the last dim: a crash when m != n and
        # m != 1, silently wrong when m == n > 1, right when m == 1
        return y * (g - (g * y).sum(-1))


class SoftmaxInplaceNoMarkDirty(SoftmaxFunction):
    @staticmethod
    def forward(ctx, x):
        # in place to save memory, as with nn.ReLU(inplace=True), but without ctx.mark_dirty:
        # the caller's x is overwritten and the output aliases it
        y = x.sub_(x.amax(-1, keepdim=True)).exp_()
        y = y.div_(y.sum(-1, keepdim=True))
        ctx.save_for_backward(y)
        return y


_SOFTMAX_OPTIONS: dict[str, Any] = {
    "example": (_grid(3, 4),),
    "signature": "(m,n)->(m,n)",
    "reference": lambda x: torch.softmax(x, dim=-1),
}


# ============================================================================================
# The lists.


def _mutant(cls: type[torch.autograd.Function], bug: str, options: dict[str, Any]) -> Mutant:
    return Mutant(cls.__name__, bug, cls.apply, dict(options))


GENERAL_CORRECT: list[Mutant] = [
    _mutant(cls, "correct", options)
    for cls, options in [
        (LinearFunction, _LINEAR_OPTIONS),
        (SortFunction, _SORT_OPTIONS),
        (LayerNormFunction, _LAYER_NORM_OPTIONS),
        (GradReverse, _GRL_OPTIONS),
        (ScatterSum, _SCATTER_OPTIONS),
        (ProductAndSum, _TWO_OUTPUT_OPTIONS),
        (SoftmaxFunction, _SOFTMAX_OPTIONS),
    ]
]

GENERAL_MUTANTS: list[Mutant] = [
    _mutant(cls, bug, options)
    for cls, bug, options in [
        (
            LinearWeightGradReshaped,
            "weight gradient reshaped where a transpose was needed",
            _LINEAR_OPTIONS,
        ),
        (LinearBiasGradMean, "bias gradient is the batch mean, not the sum", _LINEAR_OPTIONS),
        (
            LinearBiasGradSqueeze,
            "squeeze(0) in the bias gradient: crashes only at batch size 1",
            _LINEAR_OPTIONS,
        ),
        (
            LinearAssumesContiguousWeight,
            "wrong for a non-contiguous weight (as_strided assumes row-major)",
            _LINEAR_OPTIONS,
        ),
        (LinearMutatesGradOutput, "modifies grad_output in place", _LINEAR_OPTIONS),
        (
            LinearNeedsInputGradIndex,
            "wrong ctx.needs_input_grad index: no weight gradient when input needs none",
            _LINEAR_OPTIONS,
        ),
        (
            LinearDetachedBackward,
            "backward from detached tensors: double backward silently wrong",
            _LINEAR_OPTIONS,
        ),
        (LinearWrongJvp, "wrong jvp (forward-mode AD) drops a term", _LINEAR_OPTIONS),
        (SortGathersGrad, "gradient permuted the wrong way (gather for scatter)", _SORT_OPTIONS),
        (SortIndicesInt32, "index output of the wrong dtype (int32)", _SORT_OPTIONS),
        (
            SortMarksValuesNonDifferentiable,
            "marks the values output non-differentiable instead of the indices",
            _SORT_OPTIONS,
        ),
        (
            LayerNormDropsMeanTerm,
            "input gradient drops the mean-subtraction term",
            _LAYER_NORM_OPTIONS,
        ),
        (
            LayerNormUnbiasedVariance,
            "unbiased variance (torch.var default) in forward",
            _LAYER_NORM_OPTIONS,
        ),
        (
            LayerNormNoGradBackward,
            "backward under torch.no_grad: no double backward",
            _LAYER_NORM_OPTIONS,
        ),
        (
            LayerNormSavesStats,
            "saved detached statistics: second derivative wrong",
            _LAYER_NORM_OPTIONS,
        ),
        (GradReverseIgnoresAlpha, "gradient reversal ignores alpha in backward", _GRL_OPTIONS),
        (
            ScatterSumGatherWrongDim,
            "gradient gathered along the wrong dim",
            _SCATTER_OPTIONS,
        ),
        (
            ScatterSumOverwrites,
            "scatter instead of scatter_add: duplicate indices overwrite",
            _SCATTER_OPTIONS,
        ),
        (
            ProductAndSumAssumesBothGrads,
            "crashes on an undefined grad_output (set_materialize_grads(False))",
            _TWO_OUTPUT_OPTIONS,
        ),
        (
            SoftmaxMissingSubtraction,
            "softmax backward misses the -y*sum(g*y) term",
            _SOFTMAX_OPTIONS,
        ),
        (
            SoftmaxInplaceNoMarkDirty,
            "overwrites its input in place without ctx.mark_dirty",
            _SOFTMAX_OPTIONS,
        ),
        (
            SoftmaxMissingKeepdim,
            "reduction without keepdim broadcasts along the wrong dim",
            _SOFTMAX_OPTIONS,
        ),
    ]
]
