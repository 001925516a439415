"""Checks of torch.library custom ops."""

from __future__ import annotations

import torch

from legendre_verify.verification.checks.base import DtypeDraw, Failures, register
from legendre_verify.verification.samples import Sample
from legendre_verify.verification.subject import Capability, Subject


@register(dtypes=DtypeDraw.ALL, needs=[Capability.CUSTOM_OP], cost=4)
def opcheck(subject: Subject, sample: Sample) -> Failures:
    """torch.library.opcheck on the drawn call: schema (no undeclared mutation or aliasing),
    autograd registration, fake-tensor kernel, AOT dispatch (catches a register_fake that
    disagrees with the real kernel, a schema that hides a mutation, autograd registered for the
    wrong dispatch key)."""
    args, _ = sample.fresh_args()
    results = torch.library.opcheck(
        subject.fn, tuple(args), dict(sample.kwargs), raise_exception=False
    )
    return [
        f"opcheck {name}: {outcome}" for name, outcome in results.items() if outcome != "SUCCESS"
    ]
