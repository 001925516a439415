"""Accuracy in the same history as speed: max |error| of P_n over 2,000 points of [-1, 1]
(with -1, 0, 1 and points near +-1) against the exact truth, in ulps of 1.0 (P_n's scale on
[-1, 1]). Lower is better."""

from __future__ import annotations

import torch

from legendre_verify.legendre import accuracy


class Accuracy:
    params = ([3, 10, 32, 100], ["float32", "float64"])
    param_names = ["n", "dtype"]
    unit = "ulp"
    processes = 1
    timeout = 300

    def track_max_error_ulps(self, n, dtype):
        dt = getattr(torch, dtype)
        (row,) = accuracy.measure(
            degrees=[n], orders=(0,), dtypes=(dt,), points=accuracy.sample_points(2_000)
        )
        return row.max_abs_error / torch.finfo(dt).eps
