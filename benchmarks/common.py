"""Shared by the asv benchmarks: devices, sizes, seeded inputs, CUDA-aware skipping and sync.

``ASV_SMOKE=1`` (the ``bench_smoke`` nox session) shrinks sizes so CI proves every benchmark
imports and runs in seconds; ``ASV_SIZES=2000,1000000`` picks sizes for a quicker history run
(leaving 10M out saves most of a commit's time), ``ASV_DEGREES`` likewise for degrees. Real
runs use the full sets.
"""

from __future__ import annotations

import itertools
import os

import torch
from asv_runner.benchmarks.mark import skip_params_if

DEVICES = ["cpu", "cuda"]
HAS_CUDA = torch.cuda.is_available()
SMOKE = os.environ.get("ASV_SMOKE") == "1"
SIZES = (
    [2_000]
    if SMOKE
    else [int(s) for s in os.environ.get("ASV_SIZES", "2000,1000000,10000000").split(",")]
)
DTYPES = ["float32", "float64"]
# "P3" is LegendrePolynomial3; integers are legendre_p(x, n); ASV_DEGREES=P3,3,10 picks some
DEGREES = [
    d if d == "P3" else int(d) for d in os.environ.get("ASV_DEGREES", "P3,3,10,32,100").split(",")
]
SEED = 0


def without_cuda(params: tuple[list, ...] | list[list], device_axis: int = -1):
    """Skip every parameter combination on CUDA when this machine has no GPU (asv's own skip:
    no setup runs, unlike raising NotImplementedError under spawn)."""
    combos = [c for c in itertools.product(*params) if c[device_axis] == "cuda"]
    return skip_params_if(combos, not HAS_CUDA)


def dtype_of(name: str) -> torch.dtype:
    return getattr(torch, name)


def make_input(
    size: int, dtype: str, device: str, low: float = -1.0, high: float = 1.0
) -> torch.Tensor:
    """Seeded uniform values on [low, high], on the device."""
    generator = torch.Generator().manual_seed(SEED)
    x = torch.rand(size, generator=generator, dtype=torch.float64) * (high - low) + low
    return x.to(device=device, dtype=dtype_of(dtype))


def sync(device: str) -> None:
    """Wait for queued CUDA work, so a GPU timing covers the work and not just its launch."""
    if device == "cuda":
        torch.cuda.synchronize()
