"""P_n and its derivatives meet the error bounds of legendre_verify.legendre.bounds, measured
against the exact truth on a fixed sample that includes -1, 0, 1 and points within 1e-12 of +-1.
(`legendre-verify accuracy` runs the same measurement on 10,000 points for the README.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from legendre_verify.legendre import accuracy, kernels


@pytest.mark.parametrize(
    "dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16], ids=str
)
def test_every_degree_and_order_within_its_bound(dtype):
    rows = accuracy.measure(
        orders=(0, 1, 2), dtypes=(dtype,), points=accuracy.sample_points(2_000, seed=1)
    )
    failing = [row for row in rows if not row.passed]
    assert not failing, accuracy.format_table(failing)


def test_half_precision_values_within_two_ulps():
    rows = accuracy.measure(
        orders=(0,),
        dtypes=(torch.float16, torch.bfloat16),
        points=accuracy.sample_points(2_000, seed=2),
    )
    assert max(row.max_ulps for row in rows) <= 2.0


def _near_the_ends() -> np.ndarray:
    """Points 1e-7 .. 1e-3 from +-1: for n ~ 100-200, just outside the endpoint series, where
    the float32 recurrence's error for P_n' grows past its bound."""
    t = np.geomspace(1e-7, 1e-3, 300)
    return np.concatenate([1 - t, t - 1, accuracy.sample_points(500, seed=3)])


HIGH_DEGREES = (101, 128, 200)


def test_float32_high_degrees_within_bound():
    rows = accuracy.measure(
        degrees=HIGH_DEGREES, orders=(0, 1, 2), dtypes=(torch.float32,), points=_near_the_ends()
    )
    failing = [row for row in rows if not row.passed]
    assert not failing, accuracy.format_table(failing)


def test_float32_recurrence_alone_fails_there(monkeypatch):
    """Why float32 is computed in float64 above FLOAT32_MAX_DEGREE: without it, the test
    above fails (so its points do reach the bad region)."""
    monkeypatch.setattr(kernels, "FLOAT32_MAX_DEGREE", 10_000)
    rows = accuracy.measure(
        degrees=HIGH_DEGREES, orders=(1,), dtypes=(torch.float32,), points=_near_the_ends()
    )
    assert not all(row.passed for row in rows)
