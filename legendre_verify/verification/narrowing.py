"""Narrowing an elementwise Function's failing sample to one failing element, by bisection.

Hypothesis shrinks a draw by editing its choices, and an array's shape is hard for it to
shrink: removing a dimension shifts every element drawn after it. A 4-D draw of a few hundred
elements could take it 500 candidates (a minute) and still come back 4-D. For an elementwise
Function every element is its own call, so the failing element can be found directly: halve
the flattened sample and keep a half that still fails, about 2·log2(n) runs of the check on
ever smaller samples, then the single element as 0-d tensors. Layout-dependent failures do not
survive flattening; those are left to Hypothesis.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from legendre_verify.verification.samples import Sample

#: at most this many check runs on halves (a bound, far above 2·log2 of any drawn size)
MAX_RUNS = 64


def _flat(sample: Sample) -> tuple[list[torch.Tensor | None], int] | None:
    """The sample's tensors broadcast to one shape and flattened (args, grad_outputs,
    tangents, in that order), with the element count; None where they do not broadcast or a
    non-tensor argument sits among them."""
    tensors = [a for a in sample.args if isinstance(a, torch.Tensor)]
    if len(tensors) != len(sample.args) or len(tensors) != len(sample.diff):
        return None
    pieces = [*tensors, *sample.grad_outputs, *sample.tangents]
    present = [p for p in pieces if p is not None]
    try:
        shape = torch.broadcast_shapes(*(p.shape for p in present))
    except RuntimeError:
        return None
    flat = [None if p is None else p.detach().broadcast_to(shape).reshape(-1) for p in pieces]
    return flat, int(torch.Size(shape).numel())


def _part(sample: Sample, flat: list[torch.Tensor | None], lo: int, hi: int) -> Sample:
    n_args, n_grads = len(sample.args), len(sample.grad_outputs)

    def take(t: torch.Tensor | None) -> torch.Tensor | None:
        if t is None:
            return None
        piece = t[lo:hi].clone()
        return piece.reshape(()) if hi - lo == 1 else piece

    parts = [take(t) for t in flat]
    loop = () if hi - lo == 1 else (hi - lo,)
    return Sample(
        tuple(parts[:n_args]),
        sample.diff,
        tuple(parts[n_args : n_args + n_grads]),
        tuple(parts[n_args + n_grads :]),
        sample.requires_grad,
        dict(sample.kwargs),
        dict(sample.sizes),
        loop,
    )


def one_element(sample: Sample, fails: Callable[[Sample], bool]) -> Sample | None:
    """A 0-d sample made of one element of ``sample`` (an elementwise call) at which
    ``fails`` still holds, found by bisection; None where no single element fails alone."""
    found = _flat(sample)
    if found is None:
        return None
    flat, n = found
    if n <= 1 and all(t is None or t.dim() == 0 for t in sample.args):
        return None  # already one element
    lo, hi, runs = 0, n, 0
    while hi - lo > 1 and runs < MAX_RUNS:
        mid = (lo + hi) // 2
        runs += 1
        if fails(_part(sample, flat, lo, mid)):
            hi = mid
            continue
        runs += 1
        if fails(_part(sample, flat, mid, hi)):
            lo = mid
            continue
        return None  # the failure needs elements of both halves (or a layout, flattened away)
    if hi - lo != 1:
        return None
    single = _part(sample, flat, lo, hi)
    return single if fails(single) else None
