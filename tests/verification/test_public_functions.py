"""verify() on the public zoo: public-style, non-elementwise Functions in the form a user writes
first (constant buffers, drawn index arguments, size bounds, implicit loop dimensions, index
outputs without compare=) pass, and every planted bug in them is caught (issues 16 and 18)."""

from __future__ import annotations

import os
import time

import pytest
from snippets import assert_caught_and_replayable

from legendre_verify import VerificationError, verify
from legendre_verify.verification.mutants import zoos
from legendre_verify.verification.mutants.public import (
    HANG_TIMEOUT,
    HANGS,
    PUBLIC_CORRECT,
    PUBLIC_MUTANTS,
    SCATTER_ADD_FIXED_INDEX_OPTIONS,
    MatMul,
    MatMulJvpMissingTerm,
    ScatterAdd,
    ScatterAddIndexCopy,
)

#: examples per check in these tests, as in test_general.py: few in CI, more locally
EXAMPLES = {"ci": 8, "dev": 12, "thorough": 60}.get(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"), 12
)

_RETURNING = [m for m in PUBLIC_MUTANTS if m.name not in HANGS]
_HANGING = [m for m in PUBLIC_MUTANTS if m.name in HANGS]


def test_the_zoo_is_registered_and_large_enough():
    assert zoos()["public"] is PUBLIC_MUTANTS
    assert len(PUBLIC_CORRECT) >= 14 and len(PUBLIC_MUTANTS) >= 30
    names = [m.name for m in PUBLIC_CORRECT + PUBLIC_MUTANTS]
    assert len(names) == len(set(names))
    assert {m.name for m in PUBLIC_MUTANTS} >= HANGS


def test_index_outputs_are_left_to_the_verifier():
    # ties in index outputs (knn, Chamfer, argmax) are the verifier's business, not the user's
    assert not [m.name for m in PUBLIC_CORRECT + PUBLIC_MUTANTS if "compare" in m.options]


@pytest.mark.parametrize("mutant", PUBLIC_CORRECT, ids=[m.name for m in PUBLIC_CORRECT])
def test_correct_public_functions_pass(mutant):
    report = verify(mutant.fn, **mutant.verify_kwargs(), max_examples=EXAMPLES)
    assert report.passed, str(report)
    ran = {r.name for r in report.results if r.status == "passed"}
    assert {"meta", "values", "gradients", "dtypes", "no_mutation"} <= ran


def test_a_classic_jvp_is_tested_not_skipped():
    (case,) = [m for m in PUBLIC_CORRECT if m.fn == MatMul.apply]
    report = verify(case.fn, **case.verify_kwargs(), max_examples=EXAMPLES)
    status = {r.name: r.status for r in report.results}
    assert status["forward_ad"] == "passed" and status["transposition"] == "passed"


@pytest.mark.parametrize("mutant", _RETURNING, ids=[m.name for m in _RETURNING])
def test_every_public_mutant_is_rejected_and_its_snippet_refails(mutant, tmp_path):
    assert_caught_and_replayable(mutant, tmp_path, max_examples=EXAMPLES)


def test_the_wrong_classic_jvp_is_caught_by_forward_mode_checks():
    (mutant,) = [m for m in PUBLIC_MUTANTS if m.fn == MatMulJvpMissingTerm.apply]
    report = verify(
        mutant.fn, **mutant.verify_kwargs(), raise_on_failure=False, max_examples=EXAMPLES
    )
    failed = {r.name for r in report.failures}
    # gradcheck runs the jvp too (check_forward_ad): no check of reverse mode alone fails
    assert "forward_ad" in failed and failed <= {"forward_ad", "transposition", "gradcheck"}


@pytest.mark.parametrize("mutant", _HANGING, ids=[m.name for m in _HANGING])
def test_a_hanging_forward_is_reported_within_its_timeout(mutant):
    assert mutant.options["timeout"] == HANG_TIMEOUT
    start = time.monotonic()
    with pytest.raises(VerificationError) as info:
        verify(mutant.fn, **mutant.verify_kwargs(), fail_fast=True, max_examples=EXAMPLES)
    assert time.monotonic() - start < 4 * HANG_TIMEOUT + 30
    message = str(info.value).lower()
    assert "timed out" in message or "timeout" in message or "hang" in message


def test_scatter_add_with_index_copy_passes_on_a_fixed_index_without_duplicates():
    # the example's own index has no duplicates: the bug cannot show there
    assert verify(ScatterAdd.apply, **SCATTER_ADD_FIXED_INDEX_OPTIONS, max_examples=EXAMPLES).passed
    report = verify(
        ScatterAddIndexCopy.apply, **SCATTER_ADD_FIXED_INDEX_OPTIONS, max_examples=EXAMPLES
    )
    assert report.passed


def test_scatter_add_with_index_copy_is_caught_through_drawn_indices():
    (mutant,) = [m for m in PUBLIC_MUTANTS if m.fn == ScatterAddIndexCopy.apply]
    with pytest.raises(VerificationError):
        verify(mutant.fn, **mutant.verify_kwargs(), fail_fast=True, max_examples=EXAMPLES)
