"""Hypothesis profiles and device parametrisation shared by the tests.

Profiles: ``ci`` (derandomized, modest example counts: CI and ``nox -s tests`` under CI=true),
``dev`` (the default locally) and ``thorough`` (many examples, for a long local run).
Choose with ``HYPOTHESIS_PROFILE=thorough nox -s tests``.
"""

from __future__ import annotations

import os
import tempfile

import pytest
import torch
from hypothesis import HealthCheck, settings

_COMMON = dict(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.register_profile("ci", max_examples=25, derandomize=True, print_blob=True, **_COMMON)
settings.register_profile("dev", max_examples=50, **_COMMON)
settings.register_profile("thorough", max_examples=1000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# built kernels and training records go to a cache of this test process, not the user's
os.environ["LEGENDRE_VERIFY_CACHE_DIR"] = tempfile.mkdtemp(prefix="legendre-verify-cache-")

CUDA_REASON = "CUDA is not available here (torch.cuda.is_available() is False): CUDA case skipped"

#: every device parametrisation: the CUDA one skips with a reason where there is no GPU
DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param(
        "cuda",
        id="cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason=CUDA_REASON),
    ),
]


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    return request.param


def broken_compile(fn, **kwargs):
    """Stands in for torch.compile on a machine without a working compiler: the returned
    function fails when first called, as inductor does there."""

    def call(*args):
        raise RuntimeError("no C++ compiler here (simulated)")

    return call
