"""The public zoo: non-elementwise custom autograd Functions written the way public projects
write them (torch_scatter, pytorch3d, flash-attn, Liger-Kernel, Megatron-LM, HF transformers,
apex, nerfacc ...), and planted bugs in them.

Each base is a CORRECT Function with a hand-written backward (that is the point of writing a
Function); its ``verify()`` options are the ones a user would write first: a deterministic
``example=``, a ``signature=`` where shapes may vary (size bounds such as ``n>=1`` where the
truth needs them; leading loop dimensions implicit, as in numpy's gufuncs), the natural truth
(plain torch ``reference=``, or none where the Function's own forward run outside it, the
derived oracle, is the natural truth), and the argument markers ``constant`` (a buffer such as
rotary's cos/sin), ``index`` (an index tensor drawn to follow the signature) and ``size`` (a
``dim_size`` argument). Index outputs are never given ``compare=``: ties are the verifier's
business.

Each mutant is a subclass of a base that overrides one piece with a bug of one class: a
gradient scaled by 0.75, a missing term, a transposed gradient, a wrong index output, an
overflow (no max-subtraction), a wrong classic-style ``jvp``, a wrong rotate_half sign, an
interleaved-layout backward, a Chamfer gradient without its cross term, ``index_copy`` where
``index_add`` belongs (wrong only for duplicate indices), a forward that never returns.

``PUBLIC_CORRECT`` lists the bases (``verify`` must pass each), ``PUBLIC_MUTANTS`` the mutants
(``verify`` must reject each); ``HANGS`` names the mutants that never return (their options
carry ``timeout=HANG_TIMEOUT``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from legendre_verify.verification.arguments import constant, index, size
from legendre_verify.verification.mutants.base import Mutant

__all__ = [
    "HANGS",
    "HANG_TIMEOUT",
    "KNN",
    "PUBLIC_CORRECT",
    "PUBLIC_MUTANTS",
    "SCATTER_ADD_FIXED_INDEX_OPTIONS",
    "Attention",
    "ChamferDistance",
    "EmbeddingPadding",
    "ExclusiveCumprod",
    "LabelSmoothingCrossEntropy",
    "LogSumExp",
    "MatMul",
    "RMSNorm",
    "Rotary",
    "ScatterAdd",
    "ScatterMax",
    "SegmentCumsum",
    "SwiGLU",
    "bias_gelu",
    "bias_gelu_erf_backward",
]

#: seconds per call for the mutants that hang (``verify(..., timeout=HANG_TIMEOUT)``)
HANG_TIMEOUT = 5.0


# --------------------------------------------------------------------------------------------
# Deterministic example tensors (never random at import time).


def _grid(*shape: int, low: float = -0.9, high: float = 0.8) -> torch.Tensor:
    """Distinct, deterministic, unsorted values in [low, high] of the given shape."""
    n = torch.Size(shape).numel()
    values = torch.linspace(low, high, n)
    perm = (torch.arange(n) * 7) % n if n % 7 else torch.arange(n)  # a fixed shuffle
    return values[perm].reshape(shape).contiguous()


def _rows(index: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A row index (e,) expanded to like's shape (e, ...), for scatter/gather along dim 0."""
    return index.view(-1, *([1] * (like.dim() - 1))).expand_as(like)


# ============================================================================================
# 1. ScatterMax: torch_scatter.scatter_max(src, index, dim=0, dim_size=m) (old style).


def _scatter_max(src: torch.Tensor, index: torch.Tensor, dim_size: int):
    """(max, argmax) per segment; argmax is the first position holding the max, e if empty."""
    e, idx = src.size(0), _rows(index, src)
    out = src.new_zeros((dim_size, *src.shape[1:]))
    out = out.scatter_reduce(0, idx, src, "amax", include_self=False)
    positions = _rows(torch.arange(e, device=src.device), src)
    positions = torch.where(src == out.gather(0, idx), positions, e)
    argmax = torch.full(out.shape, e, dtype=torch.int64, device=src.device)
    return out, argmax.scatter_reduce(0, idx, positions, "amin")


class ScatterMax(torch.autograd.Function):
    """Per segment j, the max of the rows src[i] with index[i] == j, and where it is (argmax).

    torch_scatter's conventions: an empty segment gives 0 and argmax e (one past the end), and
    the gradient goes to the argmax alone (the first position holding the max).
    """

    @staticmethod
    def forward(ctx: Any, src: torch.Tensor, index: torch.Tensor, dim_size: int):
        out, argmax = _scatter_max(src, index, dim_size)
        ctx.mark_non_differentiable(argmax)
        ctx.save_for_backward(argmax)
        ctx.e = src.size(0)
        return out, argmax

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor, grad_argmax: Any):
        (argmax,) = ctx.saved_tensors
        # row e collects the gradients of empty segments, and is dropped
        grad_src = grad_out.new_zeros((ctx.e + 1, *grad_out.shape[1:]))
        return grad_src.scatter(0, argmax, grad_out)[: ctx.e], None, None


class ScatterMaxEmptyArgmaxZero(ScatterMax):
    @staticmethod
    def forward(ctx, src, index, dim_size):
        out, argmax = _scatter_max(src, index, dim_size)
        # "argmax of an empty segment: 0" -- its gradient now lands on src[0]
        argmax = argmax.masked_fill(argmax == src.size(0), 0)
        ctx.mark_non_differentiable(argmax)
        ctx.save_for_backward(argmax)
        ctx.e = src.size(0)
        return out, argmax


class ScatterMaxGradToSegment(ScatterMax):
    @staticmethod
    def forward(ctx, src, index, dim_size):
        out, argmax = _scatter_max(src, index, dim_size)
        ctx.mark_non_differentiable(argmax)
        ctx.save_for_backward(argmax, index)
        return out, argmax

    @staticmethod
    def backward(ctx, grad_out, grad_argmax):
        _, index = ctx.saved_tensors
        # scatter_sum's backward pasted in: every row of a segment gets its max's gradient
        return grad_out.index_select(0, index), None, None


# index values in [0, 5) with duplicates; segments 1 and 4 stay empty
_SCATTER_MAX_INDEX = torch.tensor([0, 2, 2, 0, 3, 2])

_SCATTER_MAX_OPTIONS: dict[str, Any] = {
    "example": (_grid(6, 2), index(high="m", example=_SCATTER_MAX_INDEX), size("m")),
    "signature": "(e,f),(e)->(m,f),(m,f)",
    # no reference: the forward (scatter_reduce "amax") is the truth, run outside the Function
}


# ============================================================================================
# 2. KNN: pytorch3d.ops.knn_points(p1, p2, K) without lengths (new style).


def _gather_points(points: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """points (b, m, d) at idx (b, n, k) -> (b, n, k, d)."""
    b, n, k = idx.shape
    flat = idx.reshape(b, n * k, 1).expand(b, n * k, points.size(-1))
    return points.gather(1, flat).view(b, n, k, points.size(-1))


def _knn(x: torch.Tensor, y: torch.Tensor, k: int):
    d2 = (x.unsqueeze(2) - y.unsqueeze(1)).pow(2).sum(-1)  # (b, n, m)
    return d2.topk(k, dim=-1, largest=False)


def _knn_grads(x, y, idx, grad_dists):
    # d |x_i - y_j|^2 = 2 (x_i - y_j) . (dx_i - dy_j)
    g = 2 * grad_dists.unsqueeze(-1) * (x.unsqueeze(2) - _gather_points(y, idx))
    b, n, k = idx.shape
    flat = idx.reshape(b, n * k, 1).expand(b, n * k, y.size(-1))
    grad_y = torch.zeros_like(y).scatter_add(1, flat, -g.reshape(b, n * k, y.size(-1)))
    return g.sum(2), grad_y


class KNN(torch.autograd.Function):
    """For each point of x (b, n, d): the squared distances to its k nearest points of
    y (b, m, d), nearest first, and their indices into y. k is a python int."""

    @staticmethod
    def forward(x: torch.Tensor, y: torch.Tensor, k: int):
        dists, idx = _knn(x, y, k)
        return dists, idx

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        x, y, _ = inputs
        ctx.mark_non_differentiable(output[1])
        ctx.save_for_backward(x, y, output[1])

    @staticmethod
    def backward(ctx: Any, grad_dists: torch.Tensor, grad_idx: Any):
        return *_knn_grads(*ctx.saved_tensors, grad_dists), None


class KNNGradWithoutFactor2(KNN):
    @staticmethod
    def backward(ctx, grad_dists, grad_idx):
        grad_x, grad_y = _knn_grads(*ctx.saved_tensors, grad_dists)
        return grad_x / 2, grad_y / 2, None  # d|v|^2 = 2 v.dv: the 2 forgotten


class KNNNoGradForY(KNN):
    @staticmethod
    def backward(ctx, grad_dists, grad_idx):
        grad_x, _ = _knn_grads(*ctx.saved_tensors, grad_dists)
        return grad_x, None, None  # "the reference cloud is fixed": its term is dropped


class KNNIndicesSortedByPosition(KNN):
    @staticmethod
    def forward(x, y, k):
        dists, idx = _knn(x, y, k)
        # indices sorted "for cache-friendly gathers" -- no longer aligned with dists
        return dists, idx.sort(-1).values


_KNN_OPTIONS: dict[str, Any] = {
    "example": (_grid(2, 4, 3), _grid(2, 5, 3, low=-0.7, high=0.95), 2),
    "signature": "(b,n,3),(b,m>=2,3)->(b,n,2),(b,n,2)",
    "reference": lambda x, y, k: tuple(torch.cdist(x, y).pow(2).topk(k, dim=-1, largest=False)),
}


# ============================================================================================
# 3. SegmentCumsum: a cumulative sum within each sequence of a packed batch; offsets are
#    cu_seqlens (flash-attn's varlen API, torch_scatter's segment_csr) (old style).


class SegmentCumsum(torch.autograd.Function):
    """values (N, ...) hold the sequences back to back, offsets (B+1,) their boundaries
    (0 = offsets[0] <= ... <= offsets[B] = N); each sequence is cumsummed along dim 0."""

    @staticmethod
    def forward(ctx: Any, values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        ctx.lengths = offsets.diff().tolist()
        return torch.cat([seq.cumsum(0) for seq in values.split(ctx.lengths)])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor):
        # the transpose of a cumsum is a reversed cumsum, sequence by sequence
        parts = [seq.flip(0).cumsum(0).flip(0) for seq in grad.split(ctx.lengths)]
        return torch.cat(parts), None


class SegmentCumsumForwardCumsumBackward(SegmentCumsum):
    @staticmethod
    def backward(ctx, grad):
        return torch.cat([seq.cumsum(0) for seq in grad.split(ctx.lengths)]), None


class SegmentCumsumLeaksAcrossSequences(SegmentCumsum):
    @staticmethod
    def backward(ctx, grad):
        return grad.flip(0).cumsum(0).flip(0), None  # one reversed cumsum over the whole pack


class SegmentCumsumHangsOnEmptySequence(SegmentCumsum):
    @staticmethod
    def forward(ctx, values, offsets):
        ctx.lengths = offsets.diff().tolist()
        bounds, parts, seq = offsets.tolist(), [], 0
        while seq < len(bounds) - 1:
            start, end = bounds[seq], bounds[seq + 1]
            if start == end:
                continue  # skip an empty sequence -- without advancing seq: never returns
            parts.append(values[start:end].cumsum(0))
            seq += 1
        return torch.cat(parts)


# four sequences of lengths 3, 0, 4, 1 (one empty)
_OFFSETS = torch.tensor([0, 3, 3, 7, 8])

_SEGMENT_CUMSUM_OPTIONS: dict[str, Any] = {
    "example": (_grid(8, 2), _OFFSETS),
    "signature": "(8,f)->(8,f)",  # the offsets fix the packed length
}


# ============================================================================================
# 4. Attention(q, k, v, scale, causal), softmax recomputed in backward: FlashAttention's
#    recomputation as in its reference implementation (old style).


def _attention_probs(q: torch.Tensor, k: torch.Tensor, scale: float, causal: bool):
    scores = (q @ k.transpose(-2, -1)) * scale
    if causal:
        keep = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    return torch.softmax(scores, dim=-1)


def _attention_grads(q, k, v, g, scale: float, causal: bool):
    p = _attention_probs(q, k, scale, causal)  # recomputed, not saved
    dp = g @ v.transpose(-2, -1)
    ds = p * (dp - (dp * p).sum(-1, keepdim=True))  # the softmax's Jacobian
    dk = ds.transpose(-2, -1) @ q * scale
    return ds @ k * scale, dk, p.transpose(-2, -1) @ g


class Attention(torch.autograd.Function):
    """softmax(scale * q k^T, causal mask) v for q, k (b, s, d), v (b, s, e); the
    probabilities are not saved but recomputed from q and k in backward."""

    @staticmethod
    def forward(ctx, q, k, v, scale: float, causal: bool):
        ctx.save_for_backward(q, k, v)
        ctx.scale, ctx.causal = scale, causal
        return _attention_probs(q, k, scale, causal) @ v

    @staticmethod
    def backward(ctx, g):
        q, k, v = ctx.saved_tensors
        return *_attention_grads(q, k, v, g, ctx.scale, ctx.causal), None, None


class AttentionWithoutMaxSubtraction(Attention):
    @staticmethod
    def forward(ctx, q, k, v, scale, causal):
        ctx.save_for_backward(q, k, v)
        ctx.scale, ctx.causal = scale, causal
        scores = (q @ k.transpose(-2, -1)) * scale
        if causal:
            keep = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device).tril()
            scores = scores.masked_fill(~keep, float("-inf"))
        e = scores.exp()  # a hand-rolled softmax: overflows for scores above ~88 (float32)
        return e / e.sum(-1, keepdim=True) @ v


class AttentionBackwardWithoutMask(Attention):
    @staticmethod
    def backward(ctx, g):
        q, k, v = ctx.saved_tensors
        # the recomputation forgets the causal mask
        return *_attention_grads(q, k, v, g, ctx.scale, False), None, None


class AttentionKeyGradNotTransposed(Attention):
    @staticmethod
    def backward(ctx, g):
        q, k, v = ctx.saved_tensors
        p = _attention_probs(q, k, ctx.scale, ctx.causal)
        dp = g @ v.transpose(-2, -1)
        ds = p * (dp - (dp * p).sum(-1, keepdim=True))
        # ds is (s, s) here, so ds @ q has the right shape and the wrong value
        return ds @ k * ctx.scale, ds @ q * ctx.scale, p.transpose(-2, -1) @ g, None, None


class AttentionSoftmaxGradMissingTerm(Attention):
    @staticmethod
    def backward(ctx, g):
        q, k, v = ctx.saved_tensors
        p = _attention_probs(q, k, ctx.scale, ctx.causal)
        ds = p * (g @ v.transpose(-2, -1))  # the -p (p . dp) term of the Jacobian dropped
        dk = ds.transpose(-2, -1) @ q * ctx.scale
        return ds @ k * ctx.scale, dk, p.transpose(-2, -1) @ g, None, None


_ATTENTION_OPTIONS: dict[str, Any] = {
    "example": (
        _grid(2, 4, 3),
        _grid(2, 4, 3, low=-0.6, high=0.9),
        _grid(2, 4, 5, low=-0.8, high=0.7),
        0.5,
        True,
    ),
    "signature": "(b,s,d),(b,s,d),(b,s,e)->(b,s,e)",
    "reference": lambda q, k, v, scale, causal: F.scaled_dot_product_attention(
        q, k, v, is_causal=causal, scale=scale
    ),
}


# ============================================================================================
# 5. ChamferDistance: ThibaultGROUEIX/ChamferDistancePytorch's chamfer_3DFunction, whose
#    forward returns (dist1, dist2, idx1, idx2) (old style).


def _chamfer(xyz1: torch.Tensor, xyz2: torch.Tensor):
    d = (xyz1.unsqueeze(2) - xyz2.unsqueeze(1)).pow(2).sum(-1)  # (b, n, m)
    dist1, idx1 = d.min(2)
    dist2, idx2 = d.min(1)
    return dist1, dist2, idx1, idx2


class ChamferDistance(torch.autograd.Function):
    """For xyz1 (b, n, 3), xyz2 (b, m, 3): each point's squared distance to the nearest point
    of the other cloud (dist1 (b, n), dist2 (b, m)) and that point's index (idx1, idx2)."""

    @staticmethod
    def forward(ctx, xyz1, xyz2):
        dist1, dist2, idx1, idx2 = _chamfer(xyz1, xyz2)
        ctx.save_for_backward(xyz1, xyz2, idx1, idx2)
        ctx.mark_non_differentiable(idx1, idx2)
        return dist1, dist2, idx1, idx2

    @staticmethod
    def backward(ctx, g1, g2, g_idx1, g_idx2):
        xyz1, xyz2, idx1, idx2 = ctx.saved_tensors
        t1 = 2 * g1.unsqueeze(-1) * (xyz1 - xyz2.gather(1, _points(idx1, xyz2)))
        t2 = 2 * g2.unsqueeze(-1) * (xyz2 - xyz1.gather(1, _points(idx2, xyz1)))
        # each distance pulls on both of its points: the cross terms go back through the index
        grad1 = t1 - torch.zeros_like(xyz1).scatter_add(1, _points(idx2, xyz1), t2)
        grad2 = t2 - torch.zeros_like(xyz2).scatter_add(1, _points(idx1, xyz2), t1)
        return grad1, grad2


def _points(idx: torch.Tensor, cloud: torch.Tensor) -> torch.Tensor:
    """idx (b, n) expanded to (b, n, 3) for gather/scatter along cloud's point dim."""
    return idx.unsqueeze(-1).expand(*idx.shape, cloud.size(-1))


class ChamferMissingCrossTerm(ChamferDistance):
    @staticmethod
    def backward(ctx, g1, g2, g_idx1, g_idx2):
        xyz1, xyz2, idx1, idx2 = ctx.saved_tensors
        t1 = 2 * g1.unsqueeze(-1) * (xyz1 - xyz2.gather(1, _points(idx1, xyz2)))
        t2 = 2 * g2.unsqueeze(-1) * (xyz2 - xyz1.gather(1, _points(idx2, xyz1)))
        grad2 = t2 - torch.zeros_like(xyz2).scatter_add(1, _points(idx1, xyz2), t1)
        return t1, grad2  # xyz1's gradient misses what dist2 pulls on it


class ChamferIndicesSwapped(ChamferDistance):
    @staticmethod
    def forward(ctx, xyz1, xyz2):
        dist1, dist2, idx1, idx2 = _chamfer(xyz1, xyz2)
        ctx.save_for_backward(xyz1, xyz2, idx1, idx2)
        ctx.mark_non_differentiable(idx1, idx2)
        return dist1, dist2, idx2, idx1  # the kernel's output order mixed up


def chamfer_reference(xyz1: torch.Tensor, xyz2: torch.Tensor):
    """Plain torch: the dense squared-distance matrix and its minima both ways."""
    d = (xyz1[:, :, None, :] - xyz2[:, None, :, :]).pow(2).sum(-1)
    dist1, idx1 = d.min(dim=2)
    dist2, idx2 = d.min(dim=1)
    return dist1, dist2, idx1, idx2


_CHAMFER_OPTIONS: dict[str, Any] = {
    "example": (_grid(2, 4, 3), _grid(2, 5, 3, low=-0.7, high=0.95)),
    # empty clouds have no nearest point: min() over an empty dim fails
    "signature": "(b,n>=1,3),(b,m>=1,3)->(b,n),(b,m),(b,n),(b,m)",
    "reference": chamfer_reference,
}


# ============================================================================================
# 6. RMSNorm(x, weight, eps): Liger-Kernel's LigerRMSNormFunction / apex's
#    FusedRMSNormAffineFunction, over the last dim (new style).


def _rms_norm_grads(x, weight, eps: float, g):
    rstd = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)  # recomputed from x
    xhat = x * rstd
    gw = g * weight
    grad_x = rstd * (gw - xhat * (gw * xhat).mean(-1, keepdim=True))
    # sum_to_size: weight (and x) may be broadcast over the loop dimensions
    return grad_x.sum_to_size(x.shape), (g * xhat).sum_to_size(weight.shape)


class RMSNorm(torch.autograd.Function):
    """x / sqrt(mean(x^2, -1) + eps) * weight; backward recomputes rstd from x, so it is
    itself differentiable."""

    @staticmethod
    def forward(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, weight, eps = inputs
        ctx.save_for_backward(x, weight)
        ctx.eps = eps

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor):
        x, weight = ctx.saved_tensors
        return *_rms_norm_grads(x, weight, ctx.eps, g), None


class RMSNormMissingProjection(RMSNorm):
    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        rstd = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + ctx.eps)
        grad_x = (rstd * g * weight).sum_to_size(x.shape)  # rstd treated as a constant
        return grad_x, (g * x * rstd).sum_to_size(weight.shape), None


class RMSNormWeightGradSum0(RMSNorm):
    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        grad_x, _ = _rms_norm_grads(x, weight, ctx.eps, g)
        xhat = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + ctx.eps)
        # sum(0) "over the batch": autograd sums any further loop dims to weight's shape, but
        # with no loop dimension (a single vector) it sums the features and the shape is wrong
        return grad_x, (g * xhat).sum(0), None


class RMSNormEpsOutsideSqrt(RMSNorm):
    @staticmethod
    def forward(x, weight, eps):
        return x / (x.pow(2).mean(-1, keepdim=True).sqrt() + eps) * weight


_RMS_NORM_OPTIONS: dict[str, Any] = {
    "example": (_grid(4, 3), _grid(3, low=0.5, high=1.5), 1e-6),
    "signature": "(n),(n)->(n)",  # one loop dimension in the example
    # F.rms_norm without its weight, then times weight: weight may be broadcast
    "reference": lambda x, weight, eps: F.rms_norm(x, x.shape[-1:], eps=eps) * weight,
}


# ============================================================================================
# 7. SwiGLU(x, w1, w2) = silu(x @ w1) * (x @ w2): xformers' fused SwiGLU / Liger-Kernel's
#    LigerSiLUMulFunction with the projections inside (old style).


def _swiglu_grads(x, w1, w2, g):
    h1, h2 = x @ w1, x @ w2
    sig = torch.sigmoid(h1)
    dh1 = g * h2 * sig * (1 + h1 * (1 - sig))  # silu'(h) = s (1 + h (1 - s))
    dh2 = g * h1 * sig
    return dh1 @ w1.mT + dh2 @ w2.mT, x.mT @ dh1, x.mT @ dh2


class SwiGLU(torch.autograd.Function):
    """silu(x @ w1) * (x @ w2) for x (m, n), w1 and w2 (n, k)."""

    @staticmethod
    def forward(ctx, x, w1, w2):
        ctx.save_for_backward(x, w1, w2)
        return F.silu(x @ w1) * (x @ w2)

    @staticmethod
    def backward(ctx, g):
        return _swiglu_grads(*ctx.saved_tensors, g)


class SwiGLUGateGradScaled(SwiGLU):
    @staticmethod
    def backward(ctx, g):
        grad_x, grad_w1, grad_w2 = _swiglu_grads(*ctx.saved_tensors, g)
        return grad_x, 0.75 * grad_w1, grad_w2


class SwiGLUGradsSwapped(SwiGLU):
    @staticmethod
    def backward(ctx, g):
        x, w1, w2 = ctx.saved_tensors
        h1, h2 = x @ w1, x @ w2
        sig = torch.sigmoid(h1)
        dh2 = g * h2 * sig * (1 + h1 * (1 - sig))  # gate and up gradients swapped
        dh1 = g * h1 * sig
        return dh1 @ w1.mT + dh2 @ w2.mT, x.mT @ dh1, x.mT @ dh2


_SWIGLU_OPTIONS: dict[str, Any] = {
    "example": (
        _grid(3, 4),
        _grid(4, 5, low=-0.7, high=0.9),
        _grid(4, 5, low=-0.95, high=0.6),
    ),
    "signature": "(m,n),(n,k),(n,k)->(m,k)",
    "reference": lambda x, w1, w2: F.silu(x @ w1) * (x @ w2),
}


# ============================================================================================
# 8. Rotary(x, cos, sin): HF transformers' LLaMA apply_rotary_pos_emb (half-split layout,
#    rotate_half) as a Function, as Liger-Kernel's LigerRopeFunction (new style).


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def _rope_tables(seq_len: int, dim: int, base: float = 10000.0):
    """HF's cos/sin caches (seq_len, dim), float32 as a model's buffers are."""
    inv_freq = 1.0 / base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float64), inv_freq)
    emb = torch.cat((angles, angles), dim=-1)
    return emb.cos().float(), emb.sin().float()


class Rotary(torch.autograd.Function):
    """x * cos + rotate_half(x) * sin for x (..., s, d) and buffers cos, sin (s, d)."""

    @staticmethod
    def forward(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        return x * cos + rotate_half(x) * sin

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        _, cos, sin = inputs
        ctx.save_for_backward(cos, sin)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor):
        cos, sin = ctx.saved_tensors
        # rotate_half is a quarter turn in each (x1, x2) plane: its transpose is minus itself
        return g * cos - rotate_half(g * sin), None, None


def _rotate_half_wrong_sign(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x2, -x1), dim=-1)


class RotaryRotateHalfWrongSign(Rotary):
    @staticmethod
    def forward(x, cos, sin):
        return x * cos + _rotate_half_wrong_sign(x) * sin  # rotates the wrong way

    @staticmethod
    def backward(ctx, g):
        cos, sin = ctx.saved_tensors
        return g * cos - _rotate_half_wrong_sign(g * sin), None, None  # consistently


def _rotate_interleaved(x: torch.Tensor) -> torch.Tensor:
    """GPT-J / Meta LLaMA's layout: pairs (x[2i], x[2i+1]) rotated."""
    pairs = x.unflatten(-1, (-1, 2))
    return torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)


class RotaryBackwardInterleaved(Rotary):
    @staticmethod
    def backward(ctx, g):
        cos, sin = ctx.saved_tensors
        return g * cos - _rotate_interleaved(g * sin), None, None  # the other layout's backward


class RotaryBackwardNotTransposed(Rotary):
    @staticmethod
    def backward(ctx, g):
        cos, sin = ctx.saved_tensors
        return g * cos + rotate_half(g * sin), None, None  # the rotation, not its transpose


_COS, _SIN = _rope_tables(4, 8)

_ROTARY_OPTIONS: dict[str, Any] = {
    "example": (_grid(2, 3, 4, 8), constant(_COS), constant(_SIN)),
    "signature": "(4,8)->(4,8)",  # the tables fix (s, d); (batch, heads) are loop dimensions
    "reference": lambda x, cos, sin: x * cos + rotate_half(x) * sin,
}


# ============================================================================================
# 9. EmbeddingPadding(weight, indices, padding_idx): F.embedding's semantics with ATen's
#    embedding_dense_backward written in Python, as quantized/sharded embeddings do (old style).


def _embedding_grad(indices, num_weights: int, padding_idx: int | None, g):
    flat = indices.reshape(-1)
    g = g.reshape(flat.numel(), g.size(-1))
    if padding_idx is not None:
        g = g * (flat != padding_idx).unsqueeze(-1)
    return g.new_zeros(num_weights, g.size(-1)).index_add(0, flat, g)


class EmbeddingPadding(torch.autograd.Function):
    """weight[indices]; the row padding_idx gets no gradient (F.embedding's padding_idx)."""

    @staticmethod
    def forward(ctx, weight, indices, padding_idx):
        ctx.save_for_backward(indices)
        ctx.num_weights, ctx.padding_idx = weight.size(0), padding_idx
        return weight[indices]

    @staticmethod
    def backward(ctx, g):
        (indices,) = ctx.saved_tensors
        return _embedding_grad(indices, ctx.num_weights, ctx.padding_idx, g), None, None


class EmbeddingGradScaled(EmbeddingPadding):
    @staticmethod
    def backward(ctx, g):
        (indices,) = ctx.saved_tensors
        grad_weight = _embedding_grad(indices, ctx.num_weights, ctx.padding_idx, g)
        return 0.75 * grad_weight, None, None


class EmbeddingPaddingRowGetsGrad(EmbeddingPadding):
    @staticmethod
    def backward(ctx, g):
        (indices,) = ctx.saved_tensors
        # padding_idx forgotten: the padding row is updated like any other
        return _embedding_grad(indices, ctx.num_weights, None, g), None, None


_EMBEDDING_INDICES = torch.tensor([[0, 2, 1], [2, 2, 0]])  # the padding index, duplicates

_EMBEDDING_OPTIONS: dict[str, Any] = {
    "example": (_grid(4, 3), index(high="v", example=_EMBEDDING_INDICES), 0),
    "signature": "(v>=1,d),(b,l)->(b,l,d)",  # padding_idx 0 needs a row 0
    "reference": lambda weight, indices, padding_idx: F.embedding(
        indices, weight, padding_idx=padding_idx
    ),
}


# ============================================================================================
# 10. LogSumExp over the last dim with max-subtraction (new style), as the logsumexp
#     Functions of flash-attn's cross-entropy and of structured-prediction libraries.


class LogSumExp(torch.autograd.Function):
    """log(sum(exp(x), -1)), computed as m + log(sum(exp(x - m))) with m the row max (0 where
    the max is infinite, as torch.logsumexp); the gradient is softmax(x) = exp(x - out)."""

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        m = x.amax(-1, keepdim=True)
        m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
        return (x - m).exp().sum(-1).log() + m.squeeze(-1)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        ctx.save_for_backward(inputs[0], output)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        x, out = ctx.saved_tensors
        return g.unsqueeze(-1) * (x - out.unsqueeze(-1)).exp()


class LogSumExpWithoutMaxSubtraction(LogSumExp):
    @staticmethod
    def forward(x):
        return x.exp().sum(-1).log()  # overflows once exp(x) does (x > 88 in float32)


class LogSumExpUnnormalizedGrad(LogSumExp):
    @staticmethod
    def backward(ctx, g):
        x, _ = ctx.saved_tensors
        m = x.amax(-1, keepdim=True)
        return g.unsqueeze(-1) * (x - m).exp()  # the softmax's normalisation forgotten


_LOGSUMEXP_OPTIONS: dict[str, Any] = {
    "example": (_grid(3, 5),),
    "signature": "(n>=1)->()",  # one loop dimension; amax needs a non-empty row
    "reference": lambda x: torch.logsumexp(x, dim=-1),
}


# ============================================================================================
# 11. LabelSmoothingCrossEntropy(logits, target, smoothing): apex.contrib.xentropy's
#     SoftmaxCrossEntropyLoss, per-sample losses (old style).


class LabelSmoothingCrossEntropy(torch.autograd.Function):
    """(1 - s) * (-log p[target]) + s * mean(-log p) per row, p = softmax(logits):
    F.cross_entropy(logits, target, label_smoothing=s, reduction="none")."""

    @staticmethod
    def forward(ctx, logits, target, smoothing):
        logp = torch.log_softmax(logits, dim=-1)
        nll = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        ctx.save_for_backward(logits, target)
        ctx.smoothing = smoothing
        return (1 - smoothing) * nll - smoothing * logp.mean(-1)

    @staticmethod
    def backward(ctx, g):
        logits, target = ctx.saved_tensors
        s = ctx.smoothing
        one_hot = torch.zeros_like(logits).scatter(-1, target.unsqueeze(-1), 1.0)
        smoothed = (1 - s) * one_hot + s / logits.size(-1)  # the target distribution
        return g.unsqueeze(-1) * (torch.softmax(logits, dim=-1) - smoothed), None, None


class CrossEntropySmoothingOverOthers(LabelSmoothingCrossEntropy):
    @staticmethod
    def forward(ctx, logits, target, smoothing):
        ctx.save_for_backward(logits, target)
        ctx.smoothing = smoothing
        logp = torch.log_softmax(logits, dim=-1)
        nll = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        # s spread over the C - 1 other classes (the other paper convention), not over all C
        others = -(logp.sum(-1) + nll) / (logits.size(-1) - 1)
        return (1 - smoothing) * nll + smoothing * others


class CrossEntropyGradIgnoresSmoothing(LabelSmoothingCrossEntropy):
    @staticmethod
    def backward(ctx, g):
        logits, target = ctx.saved_tensors
        one_hot = torch.zeros_like(logits).scatter(-1, target.unsqueeze(-1), 1.0)
        return g.unsqueeze(-1) * (torch.softmax(logits, dim=-1) - one_hot), None, None


_CROSS_ENTROPY_OPTIONS: dict[str, Any] = {
    "example": (_grid(4, 5), index(high="c", example=torch.tensor([0, 4, 2, 2])), 0.1),
    "signature": "(b,c>=1),(b)->(b)",
    "reference": lambda logits, target, smoothing: F.cross_entropy(
        logits, target, reduction="none", label_smoothing=smoothing
    ),
}


# ============================================================================================
# 12. bias_gelu(input, bias): Megatron-LM's fused bias + GeLU (tanh approximation;
#     megatron/core/fusions/fused_bias_gelu.py) as a torch.library custom op.

_K = math.sqrt(2 / math.pi)  # Megatron writes 0.79788456, a float32-ish rounding


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1 + torch.tanh(_K * (x + 0.044715 * x * x * x)))


def _gelu_tanh_grad(x: torch.Tensor) -> torch.Tensor:
    t = torch.tanh(_K * (x + 0.044715 * x * x * x))
    return 0.5 * x * (1 - t * t) * _K * (1 + 3 * 0.044715 * x * x) + 0.5 * (1 + t)


def _gelu_erf_grad(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(x / math.sqrt(2))) + x * torch.exp(-0.5 * x * x) / math.sqrt(
        2 * math.pi
    )


def _make_bias_gelu(name: str, gelu_grad: Any) -> Any:
    """The op ``legendre_verify_public::<name>`` whose backward uses ``gelu_grad``."""

    @torch.library.custom_op(f"legendre_verify_public::{name}", mutates_args=())
    def op(input: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return _gelu_tanh(input + bias)

    @op.register_fake
    def _(input, bias):
        shape = torch.broadcast_shapes(input.shape, bias.shape)
        return input.new_empty(shape)

    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    def backward(ctx, g):
        input, bias = ctx.saved_tensors
        grad = g * gelu_grad(input + bias)
        return grad.sum_to_size(input.shape), grad.sum_to_size(bias.shape)

    op.register_autograd(backward, setup_context=setup_context)
    return op


bias_gelu = _make_bias_gelu("bias_gelu", _gelu_tanh_grad)
#: backward with the exact (erf) GeLU's derivative while the forward is the tanh approximation
bias_gelu_erf_backward = _make_bias_gelu("bias_gelu_erf_backward", _gelu_erf_grad)

_BIAS_GELU_OPTIONS: dict[str, Any] = {
    "example": (_grid(4, 3, low=-2.5, high=2.0), _grid(3, low=-0.4, high=0.5)),
    "signature": "(n),(n)->(n)",  # one loop dimension; bias broadcast over it
    "reference": lambda input, bias: F.gelu(input + bias, approximate="tanh"),
    "domain": (-3, 3),
}


# ============================================================================================
# 13. ExclusiveCumprod: the transmittance of NeRF volume rendering, T_i = prod_{j<i} x_j, as
#     nerfacc's exclusive_prod (new style).


class ExclusiveCumprod(torch.autograd.Function):
    """out[..., i] = prod of x[..., j] for j < i (1 at i = 0), along the last dim."""

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.ones_like(x[..., :1]), x[..., :-1]], dim=-1).cumprod(-1)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        ctx.save_for_backward(inputs[0], output)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        x, out = ctx.saved_tensors
        # grad_j = out_j * r_j with r_j = sum_{i>j} g_i prod_{j<l<i} x_l, and
        # r_{j-1} = g_j + x_j r_j: no division by x, so zeros in x are exact
        grads, r = [], g.new_zeros(g.shape[:-1])
        for j in reversed(range(x.size(-1))):
            grads.append(out[..., j] * r)
            r = g[..., j] + x[..., j] * r
        return torch.stack(grads[::-1], dim=-1) if grads else torch.zeros_like(g)


class ExclusiveCumprodDividesByX(ExclusiveCumprod):
    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        # d out_i / d x_j = out_i / x_j for i > j: inf/nan wherever some x_j is 0
        tail = (g * out).flip(-1).cumsum(-1).flip(-1)
        return torch.cat([tail[..., 1:], torch.zeros_like(tail[..., :1])], dim=-1) / x


class ExclusiveCumprodMissingFactor(ExclusiveCumprod):
    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        grads, r = [], g.new_zeros(g.shape[:-1])
        for j in reversed(range(x.size(-1))):
            grads.append(out[..., j] * r)
            r = g[..., j] + r  # the x_j factor of the recurrence dropped
        return torch.stack(grads[::-1], dim=-1) if grads else torch.zeros_like(g)


_EXCLUSIVE_CUMPROD_OPTIONS: dict[str, Any] = {
    "example": (_grid(3, 5),),
    "signature": "(n)->(n)",  # one loop dimension
    # no reference: the forward (cat + cumprod) is the truth, run outside the Function
}


# ============================================================================================
# 14. MatMul written classic style with a jvp: PyTorch's "Extending torch.autograd" notes on
#     forward-mode AD (forward(ctx, ...), save_for_backward and save_for_forward).


class MatMul(torch.autograd.Function):
    """a @ b for a (m, n), b (n, p); backward and jvp."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        ctx.save_for_forward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g @ b.mT, a.mT @ g

    @staticmethod
    def jvp(ctx, ta, tb):
        a, b = ctx.saved_tensors
        return ta @ b + a @ tb


class MatMulJvpMissingTerm(MatMul):
    @staticmethod
    def jvp(ctx, ta, tb):
        _, b = ctx.saved_tensors
        return ta @ b  # the a @ tb term dropped


_MATMUL_OPTIONS: dict[str, Any] = {
    "example": (_grid(3, 4), _grid(4, 2, low=-0.6, high=0.95)),
    "signature": "(m,n),(n,p)->(m,p)",
    "reference": torch.matmul,
}


# ============================================================================================
# 15. ScatterAdd(src, index, dim_size): torch_scatter.scatter_add / PyG message aggregation
#     along dim 0 (old style).


class ScatterAdd(torch.autograd.Function):
    """out[j] = sum of the rows src[i] with index[i] == j; out has dim_size rows."""

    @staticmethod
    def forward(ctx, src, index, dim_size):
        ctx.save_for_backward(index)
        return src.new_zeros((dim_size, *src.shape[1:])).index_add(0, index, src)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        return g.index_select(0, index), None, None


class ScatterAddIndexCopy(ScatterAdd):
    @staticmethod
    def forward(ctx, src, index, dim_size):
        ctx.save_for_backward(index)
        # index_copy: right while indices are distinct; duplicates overwrite instead of adding
        return src.new_zeros((dim_size, *src.shape[1:])).index_copy(0, index, src)


def scatter_add_reference(src: torch.Tensor, index: torch.Tensor, dim_size: int):
    return src.new_zeros((dim_size, *src.shape[1:])).index_put((index,), src, accumulate=True)


_SCATTER_ADD_OPTIONS: dict[str, Any] = {
    "example": (
        _grid(5, 2),
        index(high="m", example=torch.tensor([3, 0, 2, 5, 1])),
        size("m"),
    ),
    "signature": "(e,f),(e)->(m,f)",
    "reference": scatter_add_reference,
}

#: the same call with a fixed index tensor without duplicates (and an empty segment 4): the
#: index_copy mutant passes in this form, and is caught only through drawn indices
SCATTER_ADD_FIXED_INDEX_OPTIONS: dict[str, Any] = {
    "example": (_grid(5, 2), torch.tensor([3, 0, 2, 5, 1]), 6),
    "signature": "(5,f)->(6,f)",
    "reference": scatter_add_reference,
}


# ============================================================================================
# The lists.


def _mutant(fn: Any, bug: str, options: dict[str, Any]) -> Mutant:
    """A Mutant named after fn's Function class, or after the custom op."""
    cls = getattr(fn, "__self__", None)
    name = cls.__name__ if isinstance(cls, type) else fn._name
    return Mutant(name, bug, fn, dict(options))


#: the mutants that never return: verify needs a timeout to report them
HANGS = frozenset({"SegmentCumsumHangsOnEmptySequence"})

PUBLIC_CORRECT: list[Mutant] = [
    _mutant(fn, "correct", options)
    for fn, options in [
        (ScatterMax.apply, _SCATTER_MAX_OPTIONS),
        (KNN.apply, _KNN_OPTIONS),
        (SegmentCumsum.apply, _SEGMENT_CUMSUM_OPTIONS),
        (Attention.apply, _ATTENTION_OPTIONS),
        (ChamferDistance.apply, _CHAMFER_OPTIONS),
        (RMSNorm.apply, _RMS_NORM_OPTIONS),
        (SwiGLU.apply, _SWIGLU_OPTIONS),
        (Rotary.apply, _ROTARY_OPTIONS),
        (EmbeddingPadding.apply, _EMBEDDING_OPTIONS),
        (LogSumExp.apply, _LOGSUMEXP_OPTIONS),
        (LabelSmoothingCrossEntropy.apply, _CROSS_ENTROPY_OPTIONS),
        (bias_gelu, _BIAS_GELU_OPTIONS),
        (ExclusiveCumprod.apply, _EXCLUSIVE_CUMPROD_OPTIONS),
        (MatMul.apply, _MATMUL_OPTIONS),
        (ScatterAdd.apply, _SCATTER_ADD_OPTIONS),
    ]
]

PUBLIC_MUTANTS: list[Mutant] = [
    _mutant(fn, bug, options)
    for fn, bug, options in [
        (
            ScatterMaxEmptyArgmaxZero.apply,
            "wrong index output: argmax 0 for empty segments, whose gradient then hits src[0]",
            _SCATTER_MAX_OPTIONS,
        ),
        (
            ScatterMaxGradToSegment.apply,
            "gradient sent to every row of a segment, not just its argmax",
            _SCATTER_MAX_OPTIONS,
        ),
        (KNNGradWithoutFactor2.apply, "gradient 0.5x: the 2 of d|v|^2 missing", _KNN_OPTIONS),
        (KNNNoGradForY.apply, "missing term: no gradient for the reference cloud y", _KNN_OPTIONS),
        (
            KNNIndicesSortedByPosition.apply,
            "wrong index output: indices sorted by position, not aligned with the distances",
            _KNN_OPTIONS,
        ),
        (
            SegmentCumsumForwardCumsumBackward.apply,
            "transposed gradient: cumsum in backward where a reversed cumsum belongs",
            _SEGMENT_CUMSUM_OPTIONS,
        ),
        (
            SegmentCumsumLeaksAcrossSequences.apply,
            "backward's reversed cumsum runs across sequence boundaries",
            _SEGMENT_CUMSUM_OPTIONS,
        ),
        (
            SegmentCumsumHangsOnEmptySequence.apply,
            "hang: the forward's loop never advances past an empty sequence",
            {**_SEGMENT_CUMSUM_OPTIONS, "timeout": HANG_TIMEOUT},
        ),
        (
            AttentionWithoutMaxSubtraction.apply,
            "overflow: softmax without max-subtraction (inf/nan for large scores)",
            _ATTENTION_OPTIONS,
        ),
        (
            AttentionBackwardWithoutMask.apply,
            "backward recomputes the softmax without the causal mask",
            _ATTENTION_OPTIONS,
        ),
        (
            AttentionKeyGradNotTransposed.apply,
            "transposed gradient: dk = ds @ q where ds^T @ q belongs",
            _ATTENTION_OPTIONS,
        ),
        (
            AttentionSoftmaxGradMissingTerm.apply,
            "missing term: softmax backward without -p * sum(p * dp)",
            _ATTENTION_OPTIONS,
        ),
        (
            ChamferMissingCrossTerm.apply,
            "missing term: xyz1's gradient lacks dist2's cross term",
            _CHAMFER_OPTIONS,
        ),
        (
            ChamferIndicesSwapped.apply,
            "wrong index output: idx1 and idx2 returned in swapped order",
            _CHAMFER_OPTIONS,
        ),
        (
            RMSNormMissingProjection.apply,
            "missing term: rstd treated as a constant in the input gradient",
            _RMS_NORM_OPTIONS,
        ),
        (
            RMSNormWeightGradSum0.apply,
            "weight gradient .sum(0): crashes on an input without loop dimensions",
            _RMS_NORM_OPTIONS,
        ),
        (
            RMSNormEpsOutsideSqrt.apply,
            "forward adds eps outside the sqrt",
            _RMS_NORM_OPTIONS,
        ),
        (SwiGLUGateGradScaled.apply, "w1's gradient scaled by 0.75", _SWIGLU_OPTIONS),
        (
            SwiGLUGradsSwapped.apply,
            "gate and up projections' gradients swapped",
            _SWIGLU_OPTIONS,
        ),
        (
            RotaryRotateHalfWrongSign.apply,
            "rotate_half with the wrong sign (forward and backward agree with each other)",
            _ROTARY_OPTIONS,
        ),
        (
            RotaryBackwardInterleaved.apply,
            "backward treats the half-split layout as interleaved",
            _ROTARY_OPTIONS,
        ),
        (
            RotaryBackwardNotTransposed.apply,
            "transposed gradient: backward applies the rotation, not its transpose",
            _ROTARY_OPTIONS,
        ),
        (EmbeddingGradScaled.apply, "weight gradient scaled by 0.75", _EMBEDDING_OPTIONS),
        (
            EmbeddingPaddingRowGetsGrad.apply,
            "padding_idx ignored in backward: the padding row gets a gradient",
            _EMBEDDING_OPTIONS,
        ),
        (
            LogSumExpWithoutMaxSubtraction.apply,
            "overflow: log(sum(exp(x))) without max-subtraction",
            _LOGSUMEXP_OPTIONS,
        ),
        (
            LogSumExpUnnormalizedGrad.apply,
            "gradient exp(x - max) not divided by the sum",
            _LOGSUMEXP_OPTIONS,
        ),
        (
            CrossEntropySmoothingOverOthers.apply,
            "forward spreads the smoothing over C - 1 classes, not C",
            _CROSS_ENTROPY_OPTIONS,
        ),
        (
            CrossEntropyGradIgnoresSmoothing.apply,
            "missing term: backward ignores the smoothing (softmax - one_hot)",
            _CROSS_ENTROPY_OPTIONS,
        ),
        (
            bias_gelu_erf_backward,
            "custom op's backward uses the erf GeLU's derivative under a tanh forward",
            _BIAS_GELU_OPTIONS,
        ),
        (
            ExclusiveCumprodDividesByX.apply,
            "backward divides by x: nan/inf where x is 0",
            _EXCLUSIVE_CUMPROD_OPTIONS,
        ),
        (
            ExclusiveCumprodMissingFactor.apply,
            "missing factor x_j in backward's recurrence",
            _EXCLUSIVE_CUMPROD_OPTIONS,
        ),
        (
            MatMulJvpMissingTerm.apply,
            "classic-style jvp drops the a @ tb term",
            _MATMUL_OPTIONS,
        ),
        (
            ScatterAddIndexCopy.apply,
            "index_copy where index_add belongs: wrong only for duplicate indices",
            _SCATTER_ADD_OPTIONS,
        ),
    ]
]
