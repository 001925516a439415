"""P_n and its derivatives meet the error bounds of legendre_verify.tolerances, measured
against the exact truth on a fixed sample that includes -1, 0, 1 and points within 1e-12 of +-1.
(`legendre-verify accuracy` runs the same measurement on 10,000 points for the README.)"""

from __future__ import annotations

import pytest
import torch

from legendre_verify import accuracy


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
