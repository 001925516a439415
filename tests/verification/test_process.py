"""verify's process-wide settings: in force for its run only, then as they were."""

from __future__ import annotations

import gc
import weakref
from typing import ClassVar

import pytest
import torch

from legendre_verify import verify
from legendre_verify.verification.process import old_objects_frozen


class Observed(torch.autograd.Function):
    """x -> 2x, recording the garbage collector's freeze count and torch's threads it runs
    under."""

    seen: ClassVar[list[tuple[int, int]]] = []

    @staticmethod
    def forward(ctx, x):
        Observed.seen.append((gc.get_freeze_count(), torch.get_num_threads()))
        return 2 * x

    @staticmethod
    def backward(ctx, g):
        return 2 * g


def _verify_observed() -> list[tuple[int, int]]:
    Observed.seen = []
    verify(Observed.apply, reference=lambda x: 2 * x, checks=["values"])
    assert Observed.seen
    return Observed.seen


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("two_threads")
def test_verify_runs_with_old_objects_frozen_and_one_thread_then_restores_both():
    assert gc.get_freeze_count() == 0
    seen = _verify_observed()
    assert all(frozen > 0 and threads == 1 for frozen, threads in seen), seen
    assert gc.get_freeze_count() == 0
    assert torch.get_num_threads() == 2


def test_verify_leaves_a_freeze_of_the_process_as_it_was():
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        seen = _verify_observed()
        # frozen objects that die leave the count; verify neither froze more nor unfroze
        assert all(0 < frozen <= before for frozen, _ in seen), (before, seen)
        assert 0 < gc.get_freeze_count() <= before
    finally:
        gc.unfreeze()


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_an_old_cycle_dropped_inside_the_block_is_collected_after_it():
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    alive = weakref.ref(a)
    with old_objects_frozen():
        del a, b
        gc.collect()
        assert alive() is not None  # frozen: the passes inside the block leave it alone
    gc.collect()
    assert alive() is None


def test_a_cycle_made_inside_the_block_is_collected_inside_it():
    with old_objects_frozen():
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        alive = weakref.ref(a)
        del a, b
        gc.collect()
        assert alive() is None
