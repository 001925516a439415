"""Checks across devices."""

from __future__ import annotations

from legendre_verify.verification.checks.base import DtypeDraw, Failures, register, same_run
from legendre_verify.verification.samples import Sample
from legendre_verify.verification.subject import Capability, Subject


@register(dtypes=DtypeDraw.ALL, needs=[Capability.CUDA])
def cuda(subject: Subject, sample: Sample) -> Failures:
    """The same call on CUDA gives what it gives on the CPU (catches device-specific kernels
    that disagree, tensors created on the wrong device)."""
    on_gpu = sample.mapped(lambda t: t.detach().cuda())
    return same_run(subject, on_gpu, sample, "CUDA run vs CPU run")
