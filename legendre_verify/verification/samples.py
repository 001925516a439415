"""The one record a check receives: everything that was run, and how to run it again."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch

__all__ = ["LAYOUTS", "Sample", "clone_like", "tensor_source", "value_source", "with_layout"]


def _layout(t: torch.Tensor) -> str:
    # a size-1 dimension's stride is arbitrary (torch may leave it 0 in a contiguous tensor):
    # only a stride 0 over two or more elements is an expansion
    if any(st == 0 and n > 1 for n, st in zip(t.shape, t.stride(), strict=True)):
        return "expanded"
    if t.is_contiguous():
        return "contiguous"
    return "non-contiguous"


def _values(t: torch.Tensor) -> list | float | int | bool:
    if t.is_floating_point():
        return t.detach().cpu().double().tolist()
    return t.detach().cpu().tolist()


def _literal(values: Any) -> str:
    """A nested list of numbers as Python source (NaN and infinities spelled so they run)."""
    if isinstance(values, list):
        return "[" + ", ".join(_literal(v) for v in values) + "]"
    if isinstance(values, float) and not math.isfinite(values):
        if math.isnan(values):
            return "float('nan')"
        return "float('inf')" if values > 0 else "-float('inf')"
    return repr(values)


def tensor_source(t: torch.Tensor) -> str:
    """Python that rebuilds ``t`` with the same values, dtype, device and strides."""
    args = f"dtype={t.dtype}" + ("" if t.device.type == "cpu" else f", device={str(t.device)!r}")
    if _layout(t) == "expanded":
        base = t[tuple(slice(0, 1) if s == 0 else slice(None) for s in t.stride())]
        base = base.clone(memory_format=torch.contiguous_format)
        return f"{tensor_source(base)}.expand({tuple(t.shape)})"
    host = t.detach().cpu()
    values = host.double().tolist() if t.is_floating_point() else host.tolist()
    if t.numel() == 0:  # a nested list cannot say (0, 3): the shape is spelled out
        dense = f"torch.tensor([], {args}).reshape({tuple(t.shape)})"
    else:
        dense = f"torch.tensor({_literal(values)}, {args})"
    if t.numel() == 0 or t.is_contiguous():
        return dense
    # the same strides: a buffer large enough, with the values copied into a strided view
    return f"strided({dense}, {tuple(t.stride())})"


def value_source(value: Any) -> str:
    """Python for one argument: tensors rebuilt exactly, anything else by its repr."""
    if isinstance(value, torch.Tensor):
        return tensor_source(value)
    if isinstance(value, tuple | list):
        inner = ", ".join(value_source(v) for v in value)
        return (
            f"({inner},)"
            if isinstance(value, tuple) and len(value) == 1
            else (f"({inner})" if isinstance(value, tuple) else f"[{inner}]")
        )
    return repr(value)


#: memory layouts a tensor can be given: ``contiguous``; ``transposed`` (dims reversed, >= 2-D);
#: ``strided`` (every other element of a larger buffer); ``expanded`` (a stride-0 dimension)
LAYOUTS: tuple[str, ...] = ("contiguous", "transposed", "strided", "expanded")


def with_layout(values: torch.Tensor, layout: str) -> torch.Tensor:
    """A tensor equal to ``values`` stored in ``layout`` (``expanded`` needs a size-1 dimension
    to broadcast; where there is none, or too few dims to transpose, it stays as it is)."""
    if layout == "contiguous":
        return values.contiguous()
    if layout == "transposed":
        return values.mT.contiguous().mT if values.dim() >= 2 else values
    if layout == "strided":
        if values.dim() == 0:
            return values
        # the gaps hold NaN, not uninitialised memory: a kernel that reads them fails the same
        # way every time
        buffer = torch.full(
            (*values.shape[:-1], 2 * values.shape[-1]),
            float("nan"),
            dtype=values.dtype,
            device=values.device,
        )
        view = buffer[..., ::2]
        view.copy_(values)
        return view
    if layout == "expanded":
        return values  # expanded tensors are built by tensors(), which chooses the shape
    raise ValueError(f"layout must be one of {LAYOUTS}, got layout={layout!r}")


def clone_like(t: torch.Tensor) -> torch.Tensor:
    """A private copy of ``t`` with the same values, dtype, device, shape and strides (gaps of
    a strided view hold NaN; an expanded tensor stays an expansion of a copied base)."""
    if _layout(t) == "expanded":
        base = t[tuple(slice(0, 1) if s == 0 else slice(None) for s in t.stride())]
        return base.detach().clone(memory_format=torch.contiguous_format).expand(t.shape)
    if t.is_contiguous() or t.numel() == 0:
        return t.detach().clone(memory_format=torch.contiguous_format)
    size = 1 + sum((n - 1) * s for n, s in zip(t.shape, t.stride(), strict=True))
    fill = float("nan") if t.is_floating_point() else 0
    buffer = torch.full((size,), fill, dtype=t.dtype, device=t.device)
    return buffer.as_strided(t.shape, t.stride()).copy_(t.detach())


def _copy(value: Any) -> Any:
    return clone_like(value) if isinstance(value, torch.Tensor) else value


@dataclass
class Sample:
    """One call of the Function under test and the vectors its derivatives are checked with.

    ``args``/``kwargs``: the call, with the differentiable (floating) tensors at positions
    ``diff`` of ``args``; ``requires_grad``: which of those require grad; ``grad_outputs``: one
    cotangent per differentiable output (``None``: left undefined); ``tangents``: one direction
    per differentiable input (forward-mode AD, and the double-backward contraction);
    ``sizes``/``loop``: the signature's named sizes and the loop shape this call was drawn
    with (what its outputs' shapes follow).
    """

    args: tuple[Any, ...]
    diff: tuple[int, ...]
    grad_outputs: tuple[torch.Tensor | None, ...]
    tangents: tuple[torch.Tensor, ...]
    requires_grad: tuple[bool, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    loop: tuple[int, ...] | None = None

    @classmethod
    def elementwise(
        cls,
        inputs: Sequence[torch.Tensor],
        grad_output: torch.Tensor,
        tangents: Sequence[torch.Tensor],
        requires_grad: Sequence[bool],
    ) -> Sample:
        """A sample for a Function of tensors alone, with one output."""
        return cls(
            tuple(inputs),
            tuple(range(len(inputs))),
            (grad_output,),
            tuple(tangents),
            tuple(requires_grad),
        )

    @property
    def inputs(self) -> tuple[torch.Tensor, ...]:
        """The differentiable tensor arguments, in order."""
        return tuple(self.args[i] for i in self.diff)

    @property
    def grad_output(self) -> torch.Tensor | None:
        """The first output's cotangent (the only one for single-output Functions)."""
        return self.grad_outputs[0] if self.grad_outputs else None

    @property
    def dtype(self) -> torch.dtype:
        return self.inputs[0].dtype if self.diff else torch.float64

    @property
    def device(self) -> torch.device:
        return self.inputs[0].device if self.diff else torch.device("cpu")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.inputs[0].shape) if self.diff else ()

    def copy(self) -> Sample:
        """A private copy: every tensor cloned with its layout (see :func:`clone_like`)."""
        return Sample(
            tuple(_copy(a) for a in self.args),
            self.diff,
            tuple(None if g is None else clone_like(g) for g in self.grad_outputs),
            tuple(clone_like(u) for u in self.tangents),
            self.requires_grad,
            {k: _copy(v) for k, v in self.kwargs.items()},
            dict(self.sizes),
            self.loop,
        )

    def fingerprint(self) -> tuple:
        """A hashable digest of everything the truth's answers depend on (values, dtypes and
        shapes of every tensor, the other arguments, which inputs require grad): samples
        with equal fingerprints get equal answers, so answers can be shared between checks."""

        def key(value: Any) -> Any:
            if isinstance(value, torch.Tensor):
                t = value.detach().cpu().contiguous()
                return (
                    "t",
                    str(t.dtype),
                    tuple(t.shape),
                    t.numpy().tobytes()
                    if t.dtype != torch.bfloat16
                    else t.float().numpy().tobytes(),
                )
            if isinstance(value, tuple | list):
                return (type(value).__name__, tuple(key(v) for v in value))
            try:
                hash(value)
                return value
            except TypeError:
                return repr(value)

        return (
            key(self.args),
            self.diff,
            key(self.grad_outputs),
            key(self.tangents),
            self.requires_grad,
            tuple(sorted((k, key(v)) for k, v in self.kwargs.items())),
        )

    def with_inputs(self, inputs: Sequence[torch.Tensor]) -> Sample:
        """The same call with other differentiable tensors (same order)."""
        args = list(self.args)
        for i, x in zip(self.diff, inputs, strict=True):
            args[i] = x
        return replace(self, args=tuple(args))

    def mapped(self, convert: Any) -> Sample:
        """Every floating tensor (inputs, grad_outputs, tangents) passed through ``convert``;
        non-floating tensors moved to the converted tensors' device."""
        inputs = [convert(x) for x in self.inputs]
        device = inputs[0].device if inputs else torch.device("cpu")
        args = [
            a.to(device) if isinstance(a, torch.Tensor) and i not in self.diff else a
            for i, a in enumerate(self.args)
        ]
        moved = replace(self, args=tuple(args)).with_inputs(inputs)
        return replace(
            moved,
            grad_outputs=tuple(None if g is None else convert(g) for g in self.grad_outputs),
            tangents=tuple(convert(u) for u in self.tangents),
        )

    def fresh_args(
        self, *, clone: bool = False, private: bool = True
    ) -> tuple[list[Any], list[torch.Tensor]]:
        """The call's arguments with the differentiable tensors as new leaves requiring grad as
        the sample says, and those leaves. ``private``: the leaves are copies with the same
        strides (a Function that writes into its inputs cannot change the sample: the mutation
        check alone, which passes the sample's own storage, reports it). ``clone``: pass
        non-leaf clones of the leaves (for Functions that write into inputs they declare with
        ctx.mark_dirty)."""
        args = [clone_like(a) if private and isinstance(a, torch.Tensor) else a for a in self.args]
        leaves = []
        for i, rg in zip(self.diff, self.requires_grad, strict=True):
            leaf = (clone_like(self.args[i]) if private else self.args[i].detach()).requires_grad_(
                rg
            )
            leaves.append(leaf)
            args[i] = leaf.clone() if clone else leaf
        return args, leaves

    def describe(self) -> str:
        """Dtype, device, and every argument and cotangent with its strides and values."""
        lines = [f"dtype={self.dtype}, device={self.device}"]
        diff = dict(zip(self.diff, self.requires_grad, strict=True))
        for i, a in enumerate(self.args):
            if isinstance(a, torch.Tensor):
                rg = f", requires_grad={diff[i]}" if i in diff else " (not differentiable)"
                lines.append(
                    f"argument {i}: {a.dtype} shape={tuple(a.shape)} strides={tuple(a.stride())} "
                    f"({_layout(a)}){rg}, values={_values(a)!r}"
                )
            else:
                lines.append(f"argument {i}: {a!r}")
        for name, value in self.kwargs.items():
            lines.append(f"keyword {name}={value!r}")
        for k, g in enumerate(self.grad_outputs):
            label = "grad_output" if len(self.grad_outputs) == 1 else f"grad_output {k}"
            if g is None:
                lines.append(f"{label}: None (undefined)")
            else:
                lines.append(
                    f"{label}: shape={tuple(g.shape)} strides={tuple(g.stride())} "
                    f"({_layout(g)}), values={_values(g)!r}"
                )
        return "\n".join(lines)

    def reproduce(
        self,
        call: str = "fn",
        *,
        preamble: Sequence[str] = (),
        differentiable_outputs: Sequence[int] = (0,),
    ) -> str:
        """A Python snippet that runs ``call`` forward and backward on exactly this sample;
        ``preamble`` binds ``call`` (imports, or a note to bind it by hand)."""
        lines = [
            "import torch",
            *preamble,
            "def _strided(values, strides):",
            "    size = 1 + sum((n - 1) * s for n, s in zip(values.shape, strides))",
            "    return values.new_empty(size).as_strided(values.shape, strides).copy_(values)",
        ]
        names = []
        diff = dict(zip(self.diff, self.requires_grad, strict=True))
        for i, a in enumerate(self.args):
            names.append(f"x{i}")
            source = value_source(a)
            if i in diff:
                source += f".requires_grad_({diff[i]})"
            lines.append(f"x{i} = {source}")
        names += [f"{k}={value_source(v)}" for k, v in self.kwargs.items()]
        lines.append(f"out = {call}({', '.join(names)})")
        wanted = [f"x{i}" for i, rg in diff.items() if rg]
        pairs = [
            (f"outs[{k}]", value_source(g))
            for k, g in zip(differentiable_outputs, self.grad_outputs, strict=False)
            if g is not None
        ]
        if wanted and pairs:
            lines.append("outs = out if isinstance(out, tuple) else (out,)")
            outs = ", ".join(p[0] for p in pairs)
            grads = ", ".join(p[1] for p in pairs)
            lines.append(
                f"grads = torch.autograd.grad([{outs}], [{', '.join(wanted)}], [{grads}], "
                "allow_unused=True)"
            )
        return "\n".join(lines)
