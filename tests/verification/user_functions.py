"""A corpus of CORRECT custom autograd Functions, written the way public projects write them.

Each Function is modeled on a real one (the project is named in a comment) and fixed where the
original was not exactly right. ``CASES`` lists ``(id, fn, options)`` with the keyword arguments a
user would naturally pass to ``verify(fn, **options)`` (the example-based API);
``ELEMENTWISE_CASES`` does the same for the elementwise form ``verify(fn, symbolic=..., domain=...)``.

Every Function here is right: a verifier that reports a failure on any of these cases has a false
positive. Example tensors are built deterministically (linspace/arange), never at random.
"""

from __future__ import annotations

import hypothesis.strategies as st
import sympy
import torch
import torch.nn.functional as F
from torch.autograd import Function

__all__ = [
    "CASES",
    "ELEMENTWISE_CASES",
    "Abs",
    "Clamp",
    "GradientReversal",
    "HardSigmoid",
    "HardSwish",
    "LayerNormFunction",
    "LeakyReLU",
    "LinearFunction",
    "MemoryEfficientSwish",
    "MulAdd",
    "MyReLU",
    "ReLUWithMask",
    "RoundSTE",
    "ScaleInPlace",
    "SignSTE",
    "SortFunction",
    "TopK",
    "mysin",
    "scaled_tanh",
]


# ---------------------------------------------------------------------------------------------
# Linear layers and normalization
# ---------------------------------------------------------------------------------------------


class LinearFunction(Function):
    """``input @ weight.T + bias``; ``bias`` may be None.

    Modeled on ``LinearFunction`` in PyTorch's "Extending PyTorch" notes
    (docs/source/notes/extending.rst), old style: ``forward(ctx, ...)`` with the
    ``ctx.needs_input_grad`` pattern. Its backward uses differentiable ops on saved inputs, so it
    is twice differentiable.
    """

    @staticmethod
    def forward(ctx, input, weight, bias=None):
        ctx.save_for_backward(input, weight, bias)
        output = input.mm(weight.t())
        if bias is not None:
            output += bias.unsqueeze(0).expand_as(output)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        input, weight, bias = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output.mm(weight)
        if ctx.needs_input_grad[1]:
            grad_weight = grad_output.t().mm(input)
        if bias is not None and ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(0)
        return grad_input, grad_weight, grad_bias


class LayerNormFunction(Function):
    """``F.layer_norm(x, normalized_shape, weight, bias, eps)`` with a hand-written backward.

    Modeled on ``LayerNormFunction`` in megvii-research/NAFNet (basicsr/models/archs/arch_util.py),
    generalized to ``F.layer_norm``'s ``normalized_shape`` convention. Only the inputs are saved
    and the statistics are recomputed in backward with differentiable torch ops, so the backward
    itself is differentiable: the Function is twice differentiable.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, normalized_shape, eps):
        dims = tuple(range(-len(normalized_shape), 0))
        mu = x.mean(dim=dims, keepdim=True)
        var = (x - mu).pow(2).mean(dim=dims, keepdim=True)
        y = (x - mu) * torch.rsqrt(var + eps)
        ctx.save_for_backward(x, weight)
        ctx.dims, ctx.eps = dims, eps
        return y * weight + bias

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        dims, eps = ctx.dims, ctx.eps
        mu = x.mean(dim=dims, keepdim=True)
        var = (x - mu).pow(2).mean(dim=dims, keepdim=True)
        rstd = torch.rsqrt(var + eps)
        y = (x - mu) * rstd
        # the leading (batch) dimensions that weight and bias are broadcast over
        batch = tuple(range(x.dim() - len(dims)))
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            g = grad_output * weight
            grad_x = rstd * (
                g - g.mean(dim=dims, keepdim=True) - y * (g * y).mean(dim=dims, keepdim=True)
            )
        if ctx.needs_input_grad[1]:
            grad_weight = (grad_output * y).sum(dim=batch) if batch else grad_output * y
        if ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(dim=batch) if batch else grad_output
        return grad_x, grad_weight, grad_bias, None, None


# ---------------------------------------------------------------------------------------------
# Sorting and selection: an integer output marked non-differentiable
# ---------------------------------------------------------------------------------------------


class SortFunction(Function):
    """``torch.sort(x, dim=-1)`` returning ``(values, indices)``.

    Modeled on the ``mark_non_differentiable`` example in PyTorch's autograd.Function docs
    (``sorted, idx = x.sort(); ctx.mark_non_differentiable(idx)``), along the last dimension and
    scattering with differentiable ``scatter`` instead of ``@once_differentiable`` ``index_add_``.
    """

    @staticmethod
    def forward(ctx, x):
        values, indices = torch.sort(x, dim=-1)
        ctx.mark_non_differentiable(indices)
        ctx.save_for_backward(indices)
        return values, indices

    @staticmethod
    def backward(ctx, grad_values, grad_indices):
        (indices,) = ctx.saved_tensors
        return torch.zeros_like(grad_values).scatter(-1, indices, grad_values)


class TopK(Function):
    """``torch.topk(x, k, dim=-1)`` returning ``(values, indices)``; ``k`` a python int.

    Modeled on the top-k autograd Functions of sparse-attention / mixture-of-experts code, with
    the modern ``forward`` + ``setup_context`` split (PyTorch >= 2.0 style).
    """

    @staticmethod
    def forward(x, k):
        values, indices = torch.topk(x, k, dim=-1)
        return values, indices

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, _k = inputs
        _values, indices = output
        ctx.mark_non_differentiable(indices)
        ctx.save_for_backward(indices)
        ctx.input_shape = x.shape

    @staticmethod
    def backward(ctx, grad_values, grad_indices):
        (indices,) = ctx.saved_tensors
        grad_x = grad_values.new_zeros(ctx.input_shape).scatter(-1, indices, grad_values)
        return grad_x, None


# ---------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------


class MyReLU(Function):
    """ReLU, exactly as in PyTorch's tutorial "Learning PyTorch with Examples"
    (beginner/examples_autograd/two_layer_net_custom_function.py)."""

    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return input.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input < 0] = 0
        return grad_input


class ReLUWithMask(Function):
    """ReLU that also returns its bool mask, ``(relu(x), x > 0)``, the mask marked
    non-differentiable and saved for backward (1 byte an element instead of the input).

    Modeled on the memory-saving activations of public training code (in-place ABN's and
    Megatron's activation Functions keep a mask, not the input; ``torch.native_dropout``
    likewise returns ``(output, bool mask)``).
    """

    @staticmethod
    def forward(ctx, x):
        mask = x > 0
        ctx.mark_non_differentiable(mask)
        ctx.save_for_backward(mask)
        return x * mask, mask

    @staticmethod
    def backward(ctx, grad_out, grad_mask):
        (mask,) = ctx.saved_tensors
        return grad_out * mask


class LeakyReLU(Function):
    """Leaky ReLU with a python-float ``slope``.

    Modeled on the ``LeakyReLUFunction(input, negative_slope)`` Functions in public autograd
    lecture code (clone, then scale the negative part in forward and backward).
    """

    @staticmethod
    def forward(ctx, x, slope):
        ctx.save_for_backward(x)
        ctx.slope = slope
        out = x.clone()
        out[x < 0] *= slope
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[x < 0] *= ctx.slope
        return grad_input, None


class MemoryEfficientSwish(Function):
    """Swish / SiLU ``x * sigmoid(x)``, saving only ``x``.

    Modeled on ``SwishImplementation`` in lukemelas/EfficientNet-PyTorch
    (efficientnet_pytorch/utils.py), also in mmdetection and timm's ``SwishJitAutoFn``.
    """

    @staticmethod
    def forward(ctx, i):
        result = i * torch.sigmoid(i)
        ctx.save_for_backward(i)
        return result

    @staticmethod
    def backward(ctx, grad_output):
        (i,) = ctx.saved_tensors
        sigmoid_i = torch.sigmoid(i)
        return grad_output * (sigmoid_i * (1 + i * (1 - sigmoid_i)))


# timm/layers/activations_me.py (huggingface/pytorch-image-models): hard_sigmoid is
# relu6(x + 3) / 6, and the backward functions below are timm's, verbatim in substance.


def hard_sigmoid_fwd(x):
    return (x + 3).clamp(min=0, max=6).div(6.0)


def hard_sigmoid_bwd(x, grad_output):
    m = torch.ones_like(x) * ((x >= -3.0) & (x <= 3.0)) / 6.0
    return grad_output * m


def hard_swish_fwd(x):
    return x * (x + 3).clamp(min=0, max=6).div(6.0)


def hard_swish_bwd(x, grad_output):
    m = torch.ones_like(x) * (x >= 3.0)
    m = torch.where((x >= -3.0) & (x <= 3.0), x / 3.0 + 0.5, m)
    return grad_output * m


class HardSigmoid(Function):
    """Modeled on timm's ``HardSigmoidAutoFn`` (timm/layers/activations_me.py)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return hard_sigmoid_fwd(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return hard_sigmoid_bwd(x, grad_output)


class HardSwish(Function):
    """Modeled on timm's ``HardSwishAutoFn`` (timm/layers/activations_me.py)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return hard_swish_fwd(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return hard_swish_bwd(x, grad_output)


class Abs(Function):
    """``|x|`` with gradient ``sign(x)`` (0 at 0, as ``torch.abs``).

    Modeled on the ``MyAbs`` / ``Abs`` Functions of autograd tutorials.
    """

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.abs()

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * torch.sign(x)


class Clamp(Function):
    """``x.clamp(lo, hi)`` with python-float bounds and the TRUE gradient (1 inside
    ``[lo, hi]``, bounds included as ``torch.clamp``, 0 outside).

    Modeled on the ``Clamp(input, min, max)`` Functions common in public code (e.g. the
    ``custom_fwd``/``custom_bwd`` ones), which pass the gradient straight through; this one is
    the exact derivative. New style with ``setup_context`` and ``generate_vmap_rule``.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x, lo, hi):
        return x.clamp(min=lo, max=hi)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, lo, hi = inputs
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        inside = (x >= ctx.lo) & (x <= ctx.hi)
        return grad_output * inside, None, None


# ---------------------------------------------------------------------------------------------
# Deliberate gradients: straight-through estimators and gradient reversal
# ---------------------------------------------------------------------------------------------


class RoundSTE(Function):
    """``round(x)`` forward, identity backward (straight-through estimator).

    Modeled on ``RoundSTE`` in ChongTang09/BinarizeAutoencoder (ste.py) and
    ``RoundStraightThrough`` in Qualcomm's quantization code.
    """

    @staticmethod
    def forward(ctx, input):
        return input.round()

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


class SignSTE(Function):
    """``sign(x)`` forward, hardtanh-clipped straight-through backward (1 where ``|x| <= 1``).

    Modeled on BinaryNet's binarization (itayhubara/BinaryNet.pytorch) and ``STEFunc`` in
    kyegomez/BitNet.
    """

    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return torch.sign(input)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return grad_output * (input.abs() <= 1)


class GradientReversal(Function):
    """Identity forward, ``-alpha * grad`` backward; ``alpha`` a python float.

    Modeled on ``ReverseLayerF`` in fungtion/DANN and ``GradientReversalFunction`` in
    tadeephuy/GradientReversal.
    """

    @staticmethod
    def forward(ctx, x, alpha):
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.neg() * ctx.alpha, None


# ---------------------------------------------------------------------------------------------
# Several outputs, None gradients, in-place
# ---------------------------------------------------------------------------------------------


class MulAdd(Function):
    """``(x * y, x + y)``; with ``set_materialize_grads(False)`` an unused output's gradient
    arrives as None and is handled.

    Modeled on the ``set_materialize_grads`` example in PyTorch's autograd.Function docs.
    """

    @staticmethod
    def forward(ctx, x, y):
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x, y)
        return x * y, x + y

    @staticmethod
    def backward(ctx, grad_prod, grad_sum):
        x, y = ctx.saved_tensors
        grad_x = grad_y = None
        if grad_prod is not None:
            grad_x = grad_prod * y
            grad_y = grad_prod * x
        if grad_sum is not None:
            grad_x = grad_sum if grad_x is None else grad_x + grad_sum
            grad_y = grad_sum if grad_y is None else grad_y + grad_sum
        return grad_x, grad_y


class ScaleInPlace(Function):
    """``x *= s`` in place, declared with ``ctx.mark_dirty``; ``s`` a python float.

    Modeled on the ``mark_dirty`` example in PyTorch's autograd.Function docs. Like every
    in-place op it needs an input that is not a leaf requiring grad (e.g. ``x.clone()``).
    """

    @staticmethod
    def forward(ctx, x, s):
        x.mul_(s)
        ctx.mark_dirty(x)
        ctx.s = s
        return x

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * ctx.s, None


# ---------------------------------------------------------------------------------------------
# torch.library custom ops
# ---------------------------------------------------------------------------------------------
# Modeled on the ``numpy_sin`` op of PyTorch's "Custom Python Operators" tutorial and the
# ``torch.library.register_autograd`` docs; the kernels are torch (not numpy) and the backwards
# are differentiable torch ops of saved inputs, so both ops are twice differentiable.


@torch.library.custom_op("user_functions::mysin", mutates_args=())
def mysin(x: torch.Tensor) -> torch.Tensor:
    return torch.sin(x)


@mysin.register_fake
def _mysin_fake(x):
    return torch.empty_like(x)


def _mysin_setup_context(ctx, inputs, output):
    (x,) = inputs
    ctx.save_for_backward(x)


def _mysin_backward(ctx, grad):
    (x,) = ctx.saved_tensors
    return grad * torch.cos(x)


mysin.register_autograd(_mysin_backward, setup_context=_mysin_setup_context)


@torch.library.custom_op("user_functions::scaled_tanh", mutates_args=())
def scaled_tanh(x: torch.Tensor, scale: float) -> torch.Tensor:
    return scale * torch.tanh(x)


@scaled_tanh.register_fake
def _scaled_tanh_fake(x, scale):
    return torch.empty_like(x)


def _scaled_tanh_setup_context(ctx, inputs, output):
    x, scale = inputs
    ctx.save_for_backward(x)
    ctx.scale = scale


def _scaled_tanh_backward(ctx, grad):
    (x,) = ctx.saved_tensors
    t = torch.tanh(x)
    return grad * ctx.scale * (1 - t * t), None


scaled_tanh.register_autograd(_scaled_tanh_backward, setup_context=_scaled_tanh_setup_context)


# ---------------------------------------------------------------------------------------------
# References (plain differentiable torch with the same call signature and outputs)
# ---------------------------------------------------------------------------------------------


def round_ste_reference(x):
    """round(x) in value, identity in gradient."""
    return torch.round(x).detach() + (x - x.detach())


def sign_ste_reference(x):
    """sign(x) in value, clamp(x, -1, 1)'s gradient (bounds included)."""
    c = x.clamp(-1, 1)
    return torch.sign(x).detach() + (c - c.detach())


def gradient_reversal_reference(x, alpha):
    """x in value, -alpha in gradient."""
    return x.detach() - alpha * (x - x.detach())


def hard_sigmoid_reference(x):
    # not F.hardsigmoid: its float64 gradient is float32's 1/6 (0.1666666716...) and it has no
    # double backward
    return F.relu6(x + 3) / 6


def layer_norm_reference(x, weight, bias, normalized_shape, eps):
    return F.layer_norm(x, normalized_shape, weight, bias, eps)


def _grid(*shape, lo=-0.9, hi=0.8):
    """Distinct, deterministic values in [lo, hi] (no ties, no 0, no half-integers)."""
    n = 1
    for s in shape:
        n *= s
    return torch.linspace(lo, hi, n).reshape(shape)


def _shuffled(*shape):
    """Distinct values in an order that is not sorted along the last dimension."""
    n = 1
    for s in shape:
        n *= s
    perm = (torch.arange(n) * 7) % n  # a permutation when gcd(7, n) == 1
    return torch.linspace(-0.9, 0.85, n)[perm].reshape(shape)


# ---------------------------------------------------------------------------------------------
# The cases, in the example-based API:
# verify(fn, *, example=..., kwargs=None, signature=None, reference=None, symbolic=None,
#        domain=(-1, 1), compare=None, skip=[...])
# ---------------------------------------------------------------------------------------------

_STE_SKIP = ["gradcheck", "gradgradcheck"]  # the gradient is deliberately not the derivative

CASES: list[tuple[str, object, dict]] = [
    (
        "linear_function_with_bias",
        LinearFunction.apply,
        dict(
            example=(_grid(4, 3), _grid(5, 3, lo=-0.7, hi=0.6), _grid(5, lo=-0.3, hi=0.5)),
            signature="(m,n),(k,n),(k)->(m,k)",
            reference=F.linear,
        ),
    ),
    (
        "linear_function_bias_none",
        LinearFunction.apply,
        dict(
            example=(_grid(4, 3), _grid(5, 3, lo=-0.7, hi=0.6), None),
            signature="(m,n),(k,n)->(m,k)",
            reference=F.linear,
        ),
    ),
    (
        "layer_norm_last_dim",
        LayerNormFunction.apply,
        dict(
            example=(
                _shuffled(3, 4),
                _grid(4, lo=0.5, hi=1.5),
                _grid(4, lo=-0.2, hi=0.3),
                (4,),
                1e-5,
            ),
            signature="(m,4),(4),(4)->(m,4)",
            reference=layer_norm_reference,
        ),
    ),
    (
        "layer_norm_last_two_dims",
        LayerNormFunction.apply,
        dict(
            example=(
                _shuffled(2, 3, 4),
                _grid(3, 4, lo=0.5, hi=1.5),
                _grid(3, 4, lo=-0.2, hi=0.3),
                (3, 4),
                1e-5,
            ),
            reference=lambda x, w, b, shape, eps: F.layer_norm(x, shape, w, b, eps),
        ),
    ),
    (
        "sort_last_dim_values_and_indices",
        SortFunction.apply,
        dict(
            example=(_shuffled(3, 5),),
            signature="(m,n)->(m,n),(m,n)",
            reference=lambda x: torch.sort(x, dim=-1),
        ),
    ),
    (
        "topk_k2_values_and_indices",
        TopK.apply,
        dict(example=(_shuffled(3, 5), 2), reference=lambda x, k: torch.topk(x, k, dim=-1)),
    ),
    (
        "my_relu_tutorial",
        MyReLU.apply,
        dict(
            example=(_grid(6, lo=-0.95, hi=0.95),),
            reference=F.relu,
            symbolic=lambda x: sympy.Max(x, 0),
        ),
    ),
    (
        "relu_with_bool_mask_output",
        ReLUWithMask.apply,
        dict(
            example=(_grid(3, 4, lo=-0.95, hi=0.95),),
            reference=lambda x: (F.relu(x), x > 0),
            kinks=[0.0],
        ),
    ),
    (
        "leaky_relu_slope_0.1",
        LeakyReLU.apply,
        dict(example=(_grid(2, 3, lo=-0.95, hi=0.95), 0.1), reference=F.leaky_relu),
    ),
    (
        "leaky_relu_slope_drawn",
        LeakyReLU.apply,
        dict(
            example=(_grid(2, 3, lo=-0.95, hi=0.95), st.floats(0.01, 0.5)), reference=F.leaky_relu
        ),
    ),
    (
        "memory_efficient_swish",
        MemoryEfficientSwish.apply,
        dict(example=(_grid(2, 3),), reference=F.silu, domain=(-4, 4)),
    ),
    (
        "hard_sigmoid_timm",
        HardSigmoid.apply,
        dict(
            example=(_grid(8, lo=-3.9, hi=3.7),),
            reference=hard_sigmoid_reference,
            symbolic=lambda x: sympy.Min(sympy.Max(x + 3, 0), 6) / 6,
            domain=(-4, 4),
        ),
    ),
    (
        "hard_swish_timm",
        HardSwish.apply,
        dict(
            example=(_grid(8, lo=-3.9, hi=3.7),),
            reference=F.hardswish,
            symbolic=lambda x: x * sympy.Min(sympy.Max(x + 3, 0), 6) / 6,
            domain=(-4, 4),
        ),
    ),
    (
        "abs",
        Abs.apply,
        dict(example=(_grid(2, 3, lo=-0.95, hi=0.95),), reference=torch.abs, symbolic=sympy.Abs),
    ),
    (
        "clamp_minus_half_to_half",
        Clamp.apply,
        dict(
            example=(_grid(2, 4, lo=-0.95, hi=0.9), -0.5, 0.5),
            reference=lambda x, lo, hi: torch.clamp(x, lo, hi),
        ),
    ),
    (
        "round_straight_through",
        RoundSTE.apply,
        dict(
            example=(_grid(2, 4, lo=-1.9, hi=1.8),),
            reference=round_ste_reference,
            domain=(-2, 2),
            skip=_STE_SKIP,
        ),
    ),
    (
        "sign_straight_through_clipped",
        SignSTE.apply,
        dict(
            example=(_grid(2, 4, lo=-1.9, hi=1.8),),
            reference=sign_ste_reference,
            domain=(-2, 2),
            skip=_STE_SKIP,
        ),
    ),
    (
        "gradient_reversal_alpha_drawn",
        GradientReversal.apply,
        dict(
            example=(_grid(2, 3), st.floats(0, 2)),
            reference=gradient_reversal_reference,
            skip=_STE_SKIP,
        ),
    ),
    (
        "gradient_reversal_alpha_1",
        GradientReversal.apply,
        dict(example=(_grid(4), 1.0), reference=gradient_reversal_reference, skip=_STE_SKIP),
    ),
    (
        "mul_add_two_outputs_materialize_grads_false",
        MulAdd.apply,
        dict(
            example=(_grid(5), _grid(5, lo=-0.6, hi=0.7)),
            signature="(n),(n)->(n),(n)",
            reference=lambda x, y: (x * y, x + y),
        ),
    ),
    (
        "scale_in_place_mark_dirty",
        ScaleInPlace.apply,
        dict(
            example=(_grid(2, 3), 2.5),
            reference=lambda x, s: x * s,
            # torch.compile (aot_eager, torch 2.13) differentiates mark_dirty Functions wrongly
            # (gradient 1 where eager gives s): a torch bug verify() found, not this Function's
            skip=["compile"],
        ),
    ),
    (
        "custom_op_mysin",
        mysin,
        dict(
            example=(_grid(2, 3),),
            reference=torch.sin,
            symbolic=sympy.sin,
            domain=(-3, 3),
        ),
    ),
    (
        "custom_op_scaled_tanh",
        scaled_tanh,
        dict(example=(_grid(2, 3), 2.0), reference=lambda x, scale: scale * torch.tanh(x)),
    ),
]


# ---------------------------------------------------------------------------------------------
# The elementwise form: verify(fn, symbolic=..., reference=..., domain=..., skip=...)
# ---------------------------------------------------------------------------------------------

ELEMENTWISE_CASES: list[tuple[str, object, dict]] = [
    ("my_relu_tutorial", MyReLU.apply, dict(symbolic=lambda x: sympy.Max(x, 0))),
    (
        "leaky_relu_slope_0.1",
        lambda x: LeakyReLU.apply(x, 0.1),
        dict(symbolic=lambda x: sympy.Max(x, x / 10), domain=(-2, 2)),
    ),
    (
        "memory_efficient_swish",
        MemoryEfficientSwish.apply,
        dict(symbolic=lambda x: x / (1 + sympy.exp(-x)), reference=F.silu, domain=(-4, 4)),
    ),
    (
        "hard_sigmoid_timm",
        HardSigmoid.apply,
        dict(symbolic=lambda x: sympy.Min(sympy.Max(x + 3, 0), 6) / 6, domain=(-4, 4)),
    ),
    (
        "hard_swish_timm",
        HardSwish.apply,
        dict(
            symbolic=lambda x: x * sympy.Min(sympy.Max(x + 3, 0), 6) / 6,
            reference=F.hardswish,
            domain=(-4, 4),
        ),
    ),
    ("abs", Abs.apply, dict(symbolic=sympy.Abs, reference=torch.abs)),
    (
        "clamp_minus_half_to_half",
        lambda x: Clamp.apply(x, -0.5, 0.5),
        dict(
            symbolic=lambda x: sympy.Min(sympy.Max(x, -sympy.Rational(1, 2)), sympy.Rational(1, 2))
        ),
    ),
    ("custom_op_mysin", mysin, dict(symbolic=sympy.sin, domain=(-3, 3))),
    (
        "custom_op_scaled_tanh",
        lambda x: scaled_tanh(x, 2.0),
        dict(symbolic=lambda x: 2 * sympy.tanh(x), domain=(-3, 3)),
    ),
    (
        "scale_by_2.5_in_place_on_a_copy",
        lambda x: ScaleInPlace.apply(x.clone(), 2.5),
        dict(symbolic=lambda x: sympy.Rational(5, 2) * x),
    ),
    (
        "round_straight_through",
        RoundSTE.apply,
        dict(reference=round_ste_reference, domain=(-2, 2), skip=_STE_SKIP),
    ),
    (
        "sign_straight_through_clipped",
        SignSTE.apply,
        dict(reference=sign_ste_reference, domain=(-2, 2), skip=_STE_SKIP),
    ),
    (
        "gradient_reversal_alpha_0.5",
        lambda x: GradientReversal.apply(x, 0.5),
        dict(reference=lambda x: gradient_reversal_reference(x, 0.5), skip=_STE_SKIP),
    ),
]
