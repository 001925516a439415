"""Every comparison is made first against the lower bound of its tolerance (no rounding-noise
measurement) and against the full tolerance model only where that finds a difference
(``expectations.within``, ``judge``). That is a speed-up only if it never changes a verdict:
on correct Functions whose tolerances the noise model earns (cancellation in a norm, a
softmax, a GELU) and on mutants whose bugs are small, every check gives, at every drawn
sample, the verdict of the full model alone."""

from __future__ import annotations

import os

import pytest

from legendre_verify.verification import expectations
from legendre_verify.verification.checks.base import NotApplicable, run_check
from legendre_verify.verification.driver import make_plan
from legendre_verify.verification.expectations import tolerances
from legendre_verify.verification.mutants.general import GENERAL_CORRECT, GENERAL_MUTANTS
from legendre_verify.verification.mutants.public import PUBLIC_CORRECT, PUBLIC_MUTANTS
from legendre_verify.verification.oracles import MissingDerivative
from legendre_verify.verification.search import explore

#: samples per group: few in CI, more locally (as test_general.py's EXAMPLES)
SAMPLES = {"ci": 3, "dev": 4, "thorough": 12}.get(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"), 4
)

_PICKED = {
    # correct, with cancellation or ties the noise model is there for
    ("correct", "RMSNorm"),
    ("correct", "LogSumExp"),
    ("correct", "bias_gelu"),
    ("correct", "Attention"),
    ("correct", "KNN"),
    ("correct", "LayerNormFunction"),
    ("correct", "SoftmaxFunction"),
    ("correct", "SortFunction"),
    # small, planted bugs
    ("bug", "RMSNormMissingProjection"),
    ("bug", "LayerNormUnbiasedVariance"),
    ("bug", "AttentionSoftmaxGradMissingTerm"),
    ("bug", "LinearBiasGradMean"),
    ("bug", "bias_gelu_erf_backward"),
}
_SUBJECTS = [
    m
    for m in GENERAL_CORRECT + PUBLIC_CORRECT + GENERAL_MUTANTS + PUBLIC_MUTANTS
    if ("correct" if m.bug == "correct" else "bug", m.name) in _PICKED
]


def _verdict(check, subject, sample):  # type: ignore[no-untyped-def]
    subject.cache.clear()  # nothing measured for one run is seen by the other
    try:
        return bool(run_check(check, subject, sample.copy()))
    except (NotApplicable, MissingDerivative) as reason:
        return type(reason).__name__


def _each_sample(strategy, examples, visit):  # type: ignore[no-untyped-def]
    """``visit(sample, choices)`` on the strategy's first (derandomized) draws."""
    explore(
        strategy, examples, visit, derandomize=True, seed=None, database=None, key=b"lower-bounds"
    )


def test_every_picked_function_is_there():
    assert len(_SUBJECTS) == len(_PICKED)


@pytest.mark.parametrize("mutant", _SUBJECTS, ids=lambda m: f"{m.name}-{m.bug[:7]}")
def test_lower_bounds_first_never_change_a_verdict(mutant, monkeypatch):
    plan = make_plan(mutant.fn, max_examples=SAMPLES, derandomize=True, **mutant.options)
    subject = plan.subject
    compared = failed = 0
    for group in plan.groups:

        def visit(sample, _choices, group=group):  # type: ignore[no-untyped-def]
            nonlocal compared, failed
            for check in group.checks:
                first = _verdict(check, subject, sample)
                with monkeypatch.context() as only_the_model:
                    only_the_model.setattr(expectations, "_lower_first", lambda subject: False)
                    full = _verdict(check, subject, sample)
                assert first == full, (check.name, sample.describe())
                compared += 1
                failed += full is True

        _each_sample(group.strategy, min(group.total, SAMPLES), visit)
    assert compared >= 5 * SAMPLES
    if mutant.bug != "correct":
        assert failed, "the planted bug should fail some check at these samples"


@pytest.mark.parametrize("mutant", _SUBJECTS[:3], ids=lambda m: m.name)
def test_a_lower_bound_is_never_above_the_model(mutant):
    plan = make_plan(mutant.fn, max_examples=4, derandomize=True, **mutant.options)
    subject, oracle = plan.subject, plan.subject.yardstick
    seen = 0

    def visit(sample, _choices):  # type: ignore[no-untyped-def]
        nonlocal seen
        for kind in ("outputs", "vjp"):
            subject.cache.clear()
            low = tolerances(subject, oracle, kind, sample, lower=True)
            full = tolerances(subject, oracle, kind, sample)
            assert all(a <= b for a, b in zip(low, full, strict=True)), (kind, low, full)
            seen += 1

    _each_sample(plan.groups[0].strategy, 4, visit)
    assert seen >= 4
