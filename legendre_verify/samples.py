"""The one record a check receives: everything that was run, and how to run it again."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Sample"]


def _layout(t: torch.Tensor) -> str:
    if t.dim() and 0 in t.stride() and t.numel() > 1:
        return "expanded"
    if t.is_contiguous():
        return "contiguous"
    return "non-contiguous"


def _tensor_source(t: torch.Tensor) -> str:
    """Python that rebuilds ``t`` with the same values, dtype, device and strides."""
    args = f"dtype={t.dtype}, device={str(t.device)!r}"
    if _layout(t) == "expanded":
        base = t[tuple(slice(0, 1) if s == 0 else slice(None) for s in t.stride())]
        return f"{_tensor_source(base.contiguous())}.expand({tuple(t.shape)})"
    values = t.detach().cpu().double().contiguous().reshape(-1).tolist()
    dense = f"torch.tensor({values!r}, {args}).reshape({tuple(t.shape)})"
    if t.numel() == 0 or t.is_contiguous():
        return dense
    # the same strides: a buffer large enough, with the values copied into a strided view
    return f"_strided({dense}, {tuple(t.stride())})"


@dataclass
class Sample:
    """Inputs (one tensor per argument of the Function), the cotangent for backward, the vectors
    for double backward, and which inputs require grad."""

    inputs: tuple[torch.Tensor, ...]
    grad_output: torch.Tensor
    second: tuple[torch.Tensor, ...]
    requires_grad: tuple[bool, ...]

    @property
    def dtype(self) -> torch.dtype:
        return self.inputs[0].dtype

    @property
    def device(self) -> torch.device:
        return self.inputs[0].device

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.inputs[0].shape)

    def fresh_inputs(self) -> list[torch.Tensor]:
        """The inputs as leaves, requiring grad as the sample says (same storage and strides)."""
        return [
            x.detach().requires_grad_(rg)
            for x, rg in zip(self.inputs, self.requires_grad, strict=True)
        ]

    def describe(self) -> str:
        lines = [
            f"dtype={self.dtype}, device={self.device}, shape={self.shape}",
        ]
        for i, x in enumerate(self.inputs):
            lines.append(
                f"input {i}: strides={tuple(x.stride())} ({_layout(x)}), "
                f"requires_grad={self.requires_grad[i]}, values={x.detach().cpu().double().tolist()!r}"
            )
        g = self.grad_output
        lines.append(
            f"grad_output: strides={tuple(g.stride())} ({_layout(g)}), values={g.detach().cpu().double().tolist()!r}"
        )
        return "\n".join(lines)

    def reproduce(self, fn_name: str = "fn") -> str:
        """A Python snippet that runs ``fn_name`` forward and backward on exactly this sample."""
        lines = [
            "import torch",
            "def _strided(values, strides):",
            "    size = 1 + sum((n - 1) * s for n, s in zip(values.shape, strides))",
            "    return values.new_empty(size).as_strided(values.shape, strides).copy_(values)",
        ]
        names = []
        for i, x in enumerate(self.inputs):
            names.append(f"x{i}")
            lines.append(f"x{i} = {_tensor_source(x)}.requires_grad_({self.requires_grad[i]})")
        lines.append(f"g = {_tensor_source(self.grad_output)}")
        lines.append(f"out = {fn_name}({', '.join(names)})")
        wanted = [n for n, rg in zip(names, self.requires_grad, strict=True) if rg]
        if wanted:
            lines.append(f"grads = torch.autograd.grad(out, [{', '.join(wanted)}], g)")
        return "\n".join(lines)
