"""Small named checks for custom autograd Functions, grouped by concern.

Each check is a function ``check(subject, sample) -> list[str]`` that runs the Function on one
:class:`~legendre_verify.verification.samples.Sample` and returns its failures (empty: passed).
A check knows nothing of Hypothesis: ``verify`` draws the samples and shrinks failures, and a
user's own ``@given`` test can call any check directly (:func:`assert_passes`). Each check's
docstring names the bug class it catches; what its samples need is declared in typed fields of
:class:`Check`. Tolerances come from :mod:`legendre_verify.verification.tolerances` alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from legendre_verify.verification.checks import custom_ops as _custom_ops  # noqa: F401
from legendre_verify.verification.checks import devices as _devices  # noqa: F401
from legendre_verify.verification.checks import gradients as _gradients  # noqa: F401
from legendre_verify.verification.checks import higher_order as _higher_order  # noqa: F401
from legendre_verify.verification.checks import layouts as _layouts  # noqa: F401
from legendre_verify.verification.checks import mutation as _mutation  # noqa: F401
from legendre_verify.verification.checks import transforms as _transforms  # noqa: F401

# registration order is the order verify() runs the checks
from legendre_verify.verification.checks import values as _values  # noqa: F401
from legendre_verify.verification.checks.base import CHECKS, Check, DtypeDraw, run_check
from legendre_verify.verification.samples import Sample

__all__ = ["CHECKS", "ORDER", "Check", "DtypeDraw", "assert_passes", "run_check"]

#: the order verify() runs the checks in: cheap structural checks first, then the truth, then
#: self-consistency, transforms and devices
ORDER = (
    "meta",
    "values",
    "gradients",
    "second_order",
    "forward_ad",
    "transposition",
    "gradcheck",
    "gradgradcheck",
    "dtypes",
    "zero_grad_output",
    "linearity",
    "undefined_grad_outputs",
    "repeatable",
    "no_mutation",
    "aliasing",
    "layouts",
    "shapes",
    "batch",
    "edges",
    "requires_grad_subsets",
    "vmap",
    "cuda",
    "compile",
    "inductor",
    "opcheck",
)
assert set(ORDER) == set(CHECKS), sorted(set(ORDER) ^ set(CHECKS))
CHECKS.update({name: CHECKS.pop(name) for name in ORDER})


def assert_passes(
    check: Check | str, fn: Callable[..., Any], sample: Sample, **options: Any
) -> None:
    """Run one check on one sample from a user's own test; raise AssertionError on failure.

    ``options`` are ``verify``'s (``symbolic=``, ``reference=``, ``example=``, ...); for an
    elementwise sample the arity is the sample's.
    """
    from legendre_verify.verification.subject import build_subject

    if "example" not in options:
        options.setdefault("arity", len(sample.inputs))
    subject = build_subject(fn, **options)
    failures = run_check(check, subject, sample)
    if failures:
        raise AssertionError("\n".join(failures) + "\n" + sample.describe())
