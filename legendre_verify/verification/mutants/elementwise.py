"""The elementwise zoo: deliberately wrong versions of P3 (the tutorial's Function, written
here on its own: test data, not the Legendre library), one per bug class that real projects
shipped. ``verify`` must reject every one."""

from __future__ import annotations

from typing import Any

import sympy
import torch

from legendre_verify.verification.mutants.base import Mutant

__all__ = ["ELEMENTWISE_MUTANTS"]


def p3(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (5 * x**3 - 3 * x)


def dp3(x: torch.Tensor) -> torch.Tensor:
    return 1.5 * (5 * x**2 - 1)


class _P3(torch.autograd.Function):
    """A correct P3 in the setup_context style; each mutant overrides one piece."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        return p3(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return g * dp3(x)

    @staticmethod
    def jvp(ctx: Any, t: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return t * dp3(x)


class ForwardOffset(_P3):
    @staticmethod
    def forward(x):
        return p3(x) + 1e-3


class DerivativeOff1e4(_P3):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * dp3(x) * (1 + 1e-4)


class NaNAtEnds(_P3):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * dp3(x) * (1 - x**2) / (1 - x**2)


class NaNAtZero(_P3):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * dp3(x) * x / x


class WrongNearEnds(_P3):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.where(x.abs() > 0.999, 0.9 * dp3(x), dp3(x))


class AssumesContiguousInput(_P3):
    @staticmethod
    def forward(x):
        flat = x.as_strided((x.numel(),), (1,))  # reads memory in storage order
        return p3(flat).reshape(x.shape)


class AssumesContiguousGradOutput(_P3):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g.as_strided(g.shape, x.contiguous().stride()) * dp3(x)


class SqueezesOutput(_P3):
    @staticmethod
    def forward(x):
        return p3(x).squeeze()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g.reshape(x.shape) * dp3(x)

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return (t * dp3(x)).squeeze()


class CrashesOn0d(_P3):
    @staticmethod
    def forward(x):
        out = x.new_empty(x.size(0), *x.shape[1:])
        return out.copy_(p3(x))


class CrashesOnEmpty(_P3):
    @staticmethod
    def forward(x):
        scale = x.abs().max().clamp(min=1.0)  # "for stability": max() of an empty tensor raises
        return p3(x) * (scale / scale)


class WrongOutputDtype(_P3):
    @staticmethod
    def forward(x):
        return p3(x.float())


class LowPrecisionInternally(_P3):
    @staticmethod
    def forward(x):
        return p3(x.to(torch.bfloat16)).to(x.dtype)


class OverflowsInFloat16(_P3):
    @staticmethod
    def forward(x):
        big = x * 1e3  # fine in float32/64; 1e9 > 65504 overflows float16
        return (0.5 * (5 * big**3 * 1e-9 - 3 * x)).to(x.dtype)


class WrongJvp(_P3):
    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return t * 1.5 * (5 * x**2 + 1)


class MutatesInput(_P3):
    @staticmethod
    def forward(x):
        out = p3(x.clone())
        x.mul_(0.5)  # "scratch space"
        return out


class MutatesGradOutput(_P3):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g.mul_(dp3(x))


class MutatesSavedTensor(_P3):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        x2 = x.detach().mul_(x.detach())  # reuses the saved buffer
        return g * 1.5 * (5 * x2 - 1)


class NonlinearInGradOutput(_P3):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * g.abs() * dp3(x)


class NonzeroForZeroGradOutput(_P3):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return (g + 1e-9) * dp3(x)


class DetachedBackward(_P3):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * dp3(x.detach())


class _DP3Off(torch.autograd.Function):
    @staticmethod
    def forward(x):
        return dp3(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 15 * x * (1 + 1e-4)


class SecondDerivativeOff1e4(_P3):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * _DP3Off.apply(x)


class StatefulBackward(_P3):
    @staticmethod
    def setup_context(ctx, inputs, output):
        _P3.setup_context(ctx, inputs, output)
        ctx.calls = 0

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        ctx.calls += 1
        return g * dp3(x) * (1.0 if ctx.calls == 1 else 1.5)


class WrongUnderCompile(_P3):
    @staticmethod
    def forward(x):
        return p3(x) * (1.01 if torch.compiler.is_compiling() else 1.0)


class WrongVmapRule(_P3):
    generate_vmap_rule = False

    @staticmethod
    def vmap(info, in_dims, x):
        (dim,) = in_dims
        return p3(x.flip(dim) if dim is not None else x), dim


class _TwoInputs(torch.autograd.Function):
    """f(x, y) = P3(x) * y."""

    @staticmethod
    def forward(x, y):
        return p3(x) * y

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return g * dp3(x) * y, g * p3(x)


class SavesOnlyWhatNeedsGrad(_TwoInputs):
    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*(t for t in inputs if t.requires_grad))  # "saves memory"


def _p3_symbolic(x):
    return sympy.legendre(3, x)


ELEMENTWISE_MUTANTS: list[Mutant] = [
    Mutant(cls.__name__, bug, cls.apply, {"symbolic": _p3_symbolic})
    for cls, bug in [
        (ForwardOffset, "forward off by a constant (finite differences agree with backward)"),
        (DerivativeOff1e4, "derivative off by 1e-4 relative (under gradcheck's rtol)"),
        (NaNAtEnds, "NaN only at exactly x = +-1"),
        (NaNAtZero, "NaN only at exactly x = 0"),
        (WrongNearEnds, "derivative wrong only within 1e-3 of the domain's ends"),
        (AssumesContiguousInput, "wrong for non-contiguous or expanded inputs"),
        (AssumesContiguousGradOutput, "wrong for non-contiguous grad_output"),
        (SqueezesOutput, "drops size-1 dimensions"),
        (CrashesOn0d, "crashes on 0-d tensors"),
        (CrashesOnEmpty, "crashes on empty tensors"),
        (WrongOutputDtype, "output dtype differs from the input's"),
        (LowPrecisionInternally, "computes in bfloat16 whatever the input dtype"),
        (OverflowsInFloat16, "intermediate overflow in float16 only"),
        (WrongJvp, "wrong jvp (forward-mode AD)"),
        (MutatesInput, "modifies its input in place"),
        (MutatesGradOutput, "modifies grad_output in place"),
        (MutatesSavedTensor, "modifies a saved tensor in backward"),
        (NonlinearInGradOutput, "backward not linear in grad_output"),
        (NonzeroForZeroGradOutput, "nonzero gradient for a zero grad_output"),
        (DetachedBackward, "backward not differentiable (second derivative zero)"),
        (SecondDerivativeOff1e4, "second derivative off by 1e-4 relative"),
        (StatefulBackward, "backward gives a different answer the second time"),
        (WrongUnderCompile, "wrong only under torch.compile"),
        (WrongVmapRule, "wrong vmap rule"),
    ]
] + [
    Mutant(
        "SavesOnlyWhatNeedsGrad",
        "crashes when only some inputs require grad",
        SavesOnlyWhatNeedsGrad.apply,
        {"symbolic": lambda x, y: sympy.legendre(3, x) * y},
    )
]
