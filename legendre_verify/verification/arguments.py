"""Markers for ``example=`` positions that are neither differentiable inputs nor plain values.

- :func:`constant` — a float tensor passed as given (a buffer, a mask, a positional table):
  never drawn, never differentiated, cast to each sample's floating dtype and device unless
  its dtype is pinned;
- :func:`index` — an integer tensor whose shape follows the signature and whose values are
  drawn in ``[low, high)`` (``high`` may name a signature dimension), duplicates, sorted and
  unsorted patterns, empty segments and both ends drawn on purpose;
- :func:`size` — a plain ``int`` argument equal to a named size of the signature (a
  ``dim_size`` or ``num_segments`` argument).

Imports torch alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["Constant", "Index", "Size", "constant", "index", "size"]


@dataclass(frozen=True, eq=False)
class Constant:
    """A float tensor the Function takes but that is not an input (see :func:`constant`)."""

    tensor: torch.Tensor
    dtype: torch.dtype | None = None

    def value(self, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
        """The tensor for a sample of floating ``dtype`` on ``device``."""
        target = self.dtype or (dtype if self.tensor.is_floating_point() else self.tensor.dtype)
        return self.tensor.detach().to(device=device, dtype=target)

    def __repr__(self) -> str:
        pinned = "" if self.dtype is None else f", dtype={self.dtype}"
        return f"constant(<{self.tensor.dtype} {tuple(self.tensor.shape)}>{pinned})"


@dataclass(frozen=True)
class Index:
    """An integer tensor argument drawn to follow the signature (see :func:`index`)."""

    high: int | str
    low: int | str = 0
    dtype: torch.dtype = torch.int64
    example: torch.Tensor | None = None

    def __repr__(self) -> str:
        low = "" if self.low == 0 else f", low={self.low!r}"
        return f"index(high={self.high!r}{low})"


@dataclass(frozen=True)
class Size:
    """A plain int argument equal to a named size of the signature (see :func:`size`)."""

    name: str
    example: int | None = None

    def __repr__(self) -> str:
        extra = "" if self.example is None else f", example={self.example}"
        return f"size({self.name!r}{extra})"


def constant(tensor: torch.Tensor, dtype: torch.dtype | None = None) -> Constant:
    """Mark a float tensor in ``example=`` as a constant of the call, not an input.

    It is passed as given (its values are never drawn), never differentiated, and cast to
    each sample's floating dtype and device, so that a float16 sample gets a float16 buffer;
    ``dtype=`` pins its dtype instead. The reference receives the same tensor. Rotary
    embeddings' ``cos``/``sin`` tables, masks, positional tables and precomputed scales are
    constants.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"constant() takes a tensor, got {type(tensor).__name__}: {tensor!r:.200}")
    if dtype is not None and not isinstance(dtype, torch.dtype):
        raise TypeError(f"constant(dtype=) must be a torch.dtype, got dtype={dtype!r}")
    return Constant(tensor, dtype)


def _bound(value: Any, what: str) -> int | str:
    if isinstance(value, str):
        if not value.isidentifier():
            raise ValueError(
                f"index({what}=) must be an int or a signature size name, got {value!r}"
            )
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"index({what}=) must be an int or a signature size name, got {value!r}")
    return value


def index(
    high: int | str,
    *,
    low: int | str = 0,
    dtype: torch.dtype = torch.int64,
    example: torch.Tensor | None = None,
) -> Index:
    """Mark an integer tensor argument whose values are drawn in ``[low, high)``.

    Its shape is given by the ``signature``, which lists the call's floating tensors and its
    ``index()`` arguments in argument order (constants, sizes and plain values take no place
    in it); ``high`` and ``low`` are ints or names of signature sizes (``index(high="n")``: a
    valid index into a dimension of size n). Draws include duplicates, sorted and unsorted
    patterns, values missing from the range (empty segments) and both ends of the range,
    because that is where scatter, gather and segment bugs live. ``example``: the tensor the
    example call uses (else one is made: ``arange`` over the range, repeated).
    """
    high, low = _bound(high, "high"), _bound(low, "low")
    if not isinstance(dtype, torch.dtype) or dtype.is_floating_point or dtype.is_complex:
        raise TypeError(f"index(dtype=) must be an integer torch.dtype, got dtype={dtype!r}")
    if dtype == torch.bool:
        raise TypeError("index(dtype=) must be an integer torch.dtype, got dtype=torch.bool")
    if isinstance(high, int) and isinstance(low, int) and not low < high:
        raise ValueError(f"index() needs low < high, got low={low!r}, high={high!r}")
    if example is not None and not isinstance(example, torch.Tensor):
        raise TypeError(f"index(example=) must be a tensor, got {example!r:.200}")
    return Index(high, low, dtype, example)


def size(name: str, example: int | None = None) -> Size:
    """Mark a plain int argument as equal to the signature's size ``name`` for each sample.

    ``example``: its value in the example call, where no example tensor fixes it (by default
    one more than the largest value of an ``index(high=name, example=...)``, else 3, or the
    size's lower bound)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"size() takes a signature size name such as 'm', got {name!r}")
    if example is not None and (
        isinstance(example, bool) or not isinstance(example, int) or example < 0
    ):
        raise ValueError(f"size(example=) must be an int >= 0, got example={example!r}")
    return Size(name, example)
