"""How a Function is called: which arguments are differentiable tensors, which are plain values
or strategies, and the shapes of its tensors (fixed, or named sizes from a gufunc signature).

``signature="(m,n),(k,n),(k)->(m,k)"`` is numpy's gufunc syntax (as Hypothesis's
``mutually_broadcastable_shapes`` reads it) over the *floating-point tensor* arguments, in
order, and the tensor outputs. Named sizes are drawn; numbers are fixed. Without a signature
every shape is the example's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["CallSpec", "Dim", "Signature", "parse_signature"]

#: one dimension: a name (drawn) or an int (fixed)
Dim = str | int

_SHAPE = re.compile(r"\(\s*([^()]*?)\s*\)")
_NAME = re.compile(r"^(?:[A-Za-z_][A-Za-z_0-9]*|\d+)$")


@dataclass(frozen=True)
class Signature:
    """Core shapes of the floating tensor inputs and of the tensor outputs.

    ``loop`` says whether leading loop dimensions (the same for every tensor) are drawn in
    front of the core shapes: true for elementwise Functions, and with ``batch=True``.
    """

    inputs: tuple[tuple[Dim, ...], ...]
    outputs: tuple[tuple[Dim, ...], ...]
    loop: bool = False
    text: str | None = None

    @property
    def names(self) -> list[str]:
        """The named sizes, in order of first appearance."""
        seen: list[str] = []
        for shape in self.inputs + self.outputs:
            for d in shape:
                if isinstance(d, str) and d not in seen:
                    seen.append(d)
        return seen

    def shape(self, core: tuple[Dim, ...], sizes: dict[str, int], loop: tuple[int, ...]) -> tuple:
        """The concrete shape of one tensor for drawn ``sizes`` and ``loop`` dimensions."""
        return (*loop, *(sizes[d] if isinstance(d, str) else d for d in core))

    def sizes_of(self, shapes: list[tuple[int, ...]]) -> dict[str, int]:
        """The named sizes that concrete input ``shapes`` give (raises ValueError where two
        uses of one name disagree or a fixed size differs)."""
        sizes: dict[str, int] = {}
        for i, (core, shape) in enumerate(zip(self.inputs, shapes, strict=True)):
            if len(shape) != len(core):
                raise ValueError(
                    f"signature={self.text!r}: floating tensor argument {i} has shape "
                    f"{tuple(shape)}, but the signature gives it {len(core)} dimension(s) {core}"
                )
            for d, n in zip(core, shape, strict=True):
                if isinstance(d, int) and d != n:
                    raise ValueError(
                        f"signature={self.text!r}: floating tensor argument {i} has size {n} "
                        f"where the signature fixes {d}"
                    )
                if isinstance(d, str) and sizes.setdefault(d, n) != n:
                    raise ValueError(
                        f"signature={self.text!r}: size {d!r} is {sizes[d]} in one argument "
                        f"and {n} in argument {i} of the example"
                    )
        return sizes


def _parse_side(text: str, side: str, full: str) -> tuple[tuple[Dim, ...], ...]:
    stripped = _SHAPE.sub("", text).replace(",", "").strip()
    if stripped:
        raise ValueError(
            f"signature must look like '(m,n),(n)->(m)', got signature={full!r} "
            f"(unexpected {stripped!r} in the {side})"
        )
    shapes = []
    for group in _SHAPE.findall(text):
        dims: list[Dim] = []
        for part in [p.strip() for p in group.split(",")] if group.strip() else []:
            if not _NAME.match(part):
                raise ValueError(
                    f"signature dimension must be a name or a number, got {part!r} in "
                    f"signature={full!r}"
                )
            dims.append(int(part) if part.isdigit() else part)
        shapes.append(tuple(dims))
    return tuple(shapes)


def parse_signature(text: str, *, loop: bool = False) -> Signature:
    """Parse a gufunc signature such as ``"(m,n),(k,n),(k)->(m,k)"``."""
    if not isinstance(text, str):
        raise TypeError(f"signature must be a str such as '(m,n),(n)->(m)', got {text!r}")
    if text.count("->") != 1:
        raise ValueError(f"signature must have one '->' between inputs and outputs, got {text!r}")
    left, right = text.split("->")
    inputs, outputs = _parse_side(left, "inputs", text), _parse_side(right, "outputs", text)
    if not outputs:
        raise ValueError(f"signature must name at least one output, got {text!r}")
    known = {d for shape in inputs for d in shape if isinstance(d, str)}
    unknown = sorted({d for s in outputs for d in s if isinstance(d, str)} - known)
    if unknown:
        raise ValueError(f"signature={text!r}: output sizes {unknown} appear in no input")
    return Signature(inputs, outputs, loop, text)


@dataclass(frozen=True)
class CallSpec:
    """One call described: the example's arguments (values, or strategies drawn per example),
    which of them are differentiable tensors, the shapes' signature, and the outputs' structure
    (probed once from the example by the subject)."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    diff: tuple[int, ...]
    signature: Signature
    example_sizes: dict[str, int]
    elementwise: bool = False
    #: how many tensors the Function returns, and whether as a tuple
    n_outputs: int = 1
    returns_tuple: bool = False
    #: indices of the outputs that carry gradients (floating, not marked non-differentiable)
    differentiable_outputs: tuple[int, ...] = (0,)
    #: dtype of each output in the example call (float outputs follow the inputs' dtype)
    output_dtypes: tuple[Any, ...] = ()

    def output_shapes(self, input_shapes: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
        """Each output's shape for a call whose floating tensors have ``input_shapes``."""
        cores = self.signature.inputs
        loop: tuple[int, ...] = ()
        if self.signature.loop and input_shapes:
            loop = tuple(input_shapes[0][: len(input_shapes[0]) - len(cores[0])])
        core_shapes = [tuple(s[len(loop) :]) for s in input_shapes]
        sizes = self.signature.sizes_of(core_shapes)
        return [self.signature.shape(core, sizes, loop) for core in self.signature.outputs]
