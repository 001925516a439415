"""Process-wide settings ``verify()`` changes for its own run and restores afterwards.

verify's tensors are a few dozen elements and its work is many small Python steps (Hypothesis,
the Function, dynamo's tracing in the compile check), so two of torch's and Python's defaults,
right for a training loop, only cost it time:

- torch's intra-op threads (:func:`one_thread`);
- the cyclic garbage collector's full passes over every object of the process
  (:func:`old_objects_frozen`).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

import torch

__all__ = ["old_objects_frozen", "one_thread", "verify_settings"]


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch on one intra-op thread for the block, then as it was. verify's samples are a few
    dozen elements: a parallel operation on them only waits for the other threads' time
    slices, and with one other busy program on a 2-core machine an attention verify took
    24-32 s warm on two threads against 1.4-1.5 s on one."""
    before = torch.get_num_threads()
    if before > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before > 1:
            torch.set_num_threads(before)


@contextlib.contextmanager
def old_objects_frozen() -> Iterator[None]:
    """The objects that exist when the block starts left out of the garbage collector's passes
    until it ends (:func:`gc.freeze`, then :func:`gc.unfreeze`); objects made inside the block
    are collected as usual, and a cycle of old objects dropped inside it is collected at the
    first full pass after it.

    A process's first verify imports torch._dynamo (the compile check, functorch's grad), which
    makes the full passes that walk every object of torch, sympy and Hypothesis: 0.6-0.7 s of
    LinearFunction's 3.0-3.4 s first verify on the 2-core development machine, 0.3 s with the
    old objects frozen. A process that froze objects itself (:func:`gc.get_freeze_count`) is
    left as it is: unfreezing would undo its freeze."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def verify_settings() -> Iterator[None]:
    """Both of the module's settings for the block (nested blocks change nothing more)."""
    with one_thread(), old_objects_frozen():
        yield
