"""verify(): passes correct Functions, rejects every mutant with a shrunk counterexample,
and refuses misuse at once."""

from __future__ import annotations

import math
import re

import pytest
import sympy
import torch
from hypothesis import given
from snippets import assert_caught_and_replayable

from legendre_verify import (
    LegendrePolynomial3,
    VerificationError,
    checks,
    legendre_p,
    verification_tests,
    verify,
)
from legendre_verify import strategies as lst
from legendre_verify.cli import main
from legendre_verify.verification.mutants.elementwise import ELEMENTWISE_MUTANTS, NaNAtEnds


class Exp(torch.autograd.Function):
    """A correct user Function: exp, with forward-mode AD and vmap."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return torch.exp(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)
        ctx.save_for_forward(output)

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y

    @staticmethod
    def jvp(ctx, t):
        (y,) = ctx.saved_tensors
        return t * y


class Mul(torch.autograd.Function):
    """A correct two-input Function without jvp or vmap support."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return g * y if ctx.needs_input_grad[0] else None, g * x if ctx.needs_input_grad[
            1
        ] else None


class StraightThroughRound(torch.autograd.Function):
    """round() with the identity as its gradient: not the mathematical derivative."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return torch.round(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, g):
        return g


def test_skips_say_why():
    report = verify(
        StraightThroughRound.apply,
        reference=lambda x: x + (torch.round(x) - x).detach(),
        domain=(-3.0, 3.0),
        skip=["gradcheck"],
        checks=["gradcheck", "cuda", "values"],
    )
    skipped = {r.name: r.message for r in report.results if r.status == "skipped"}
    assert skipped["gradcheck"] == "skipped by the caller"
    if not torch.cuda.is_available():
        assert skipped["cuda"] == "CUDA is not available here"
    assert [r.name for r in report.results if r.status == "passed"] == ["values"]


def test_capabilities_are_probed():
    report = verify(Mul.apply, symbolic=lambda x, y: x * y)
    skipped = {r.name: r.message for r in report.results if r.status == "skipped"}
    assert "jvp" in skipped["forward_ad"] and "vmap" in skipped["vmap"]


@pytest.mark.parametrize("mutant", ELEMENTWISE_MUTANTS, ids=[m.name for m in ELEMENTWISE_MUTANTS])
def test_every_mutant_is_rejected_and_its_snippet_refails(mutant, tmp_path):
    assert hasattr(mutant.fn, "__self__")  # a Function class: its correct base is replayed too
    error = assert_caught_and_replayable(mutant, tmp_path)
    assert isinstance(error, AssertionError)
    assert not error.report.passed


def test_failure_names_check_sample_and_how_to_reproduce():
    with pytest.raises(VerificationError) as info:
        verify(NaNAtEnds.apply, symbolic=lambda x: sympy.legendre(3, x), checks=["gradients"])
    message = str(info.value)
    assert "check 'gradients' failed" in message
    assert "dtype=torch.float64, device=cpu" in message
    assert "shape=() strides=()" in message and "got nan" in message  # shrunk to a 0-d tensor
    assert "values=1.0" in message or "values=-1.0" in message  # exactly at an end
    # the snippet in the message runs as printed (it imports the Function) and re-fails
    snippet = message.split("this check):\n")[1].split("\n\n")[0]
    assert "from legendre_verify.verification.mutants.elementwise import NaNAtEnds" in snippet
    code = "\n".join(line[2:] for line in snippet.splitlines())
    with pytest.raises(AssertionError, match=r"expected .*, got nan"):
        exec(code, {})
    exec(code.replace("NaNAtEnds", "_P3"), {})  # the Function without the bug passes it


@pytest.mark.parametrize(
    ("kwargs", "error", "shown"),
    [
        ({"fn": 3, "symbolic": sympy.exp}, TypeError, "fn must be callable"),
        ({"symbolic": "exp(x)"}, TypeError, "symbolic must be callable"),
        ({"fn": lambda x: x}, TypeError, "needs an oracle"),
        ({"symbolic": lambda x, y: x * y}, TypeError, "does not take 2 tensor"),
        ({"symbolic": sympy.exp, "domain": (1.0, -1.0)}, ValueError, "lo < hi"),
        ({"symbolic": sympy.exp, "domain": (0.5, 0.5)}, ValueError, "non-empty"),
        ({"symbolic": sympy.exp, "domain": ("a", 1)}, TypeError, "pair of numbers"),
        ({"symbolic": sympy.exp, "domain": (0, math.inf)}, ValueError, "finite"),
        ({"symbolic": sympy.exp, "dtypes": ["float8"]}, ValueError, "'float8'"),
        ({"symbolic": sympy.exp, "dtypes": [torch.int32]}, ValueError, "torch.int32"),
        ({"symbolic": sympy.exp, "devices": ["tpu"]}, ValueError, "'tpu'"),
        ({"symbolic": sympy.exp, "max_examples": 0}, ValueError, "max_examples=0"),
        ({"symbolic": sympy.exp, "checks": ["valuez"]}, ValueError, "valuez"),
        ({"symbolic": sympy.exp, "arity": 0}, ValueError, "arity=0"),
    ],
)
def test_misuse_is_refused_at_once(kwargs, error, shown):
    kwargs = {"fn": Exp.apply, **kwargs}
    with pytest.raises(error) as info:
        verify(kwargs.pop("fn"), **kwargs)
    assert not isinstance(info.value, VerificationError)
    assert shown in str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the refusal where CUDA is absent")
def test_cuda_device_refused_where_absent():
    with pytest.raises(ValueError, match="CUDA is not available"):
        verify(Exp.apply, symbolic=sympy.exp, devices=["cuda"])


# The README's example of using the checks one by one from your own Hypothesis test:
@given(lst.samples(dtype=lst.dtypes(), layout=lst.layouts()))
def test_checks_one_by_one_from_a_users_given_test(sample):
    checks.assert_passes("gradients", Exp.apply, sample, symbolic=sympy.exp)
    checks.assert_passes(
        "layouts", LegendrePolynomial3.apply, sample, symbolic=lambda x: sympy.legendre(3, x)
    )


# one item per command line (not one test running all three): each runs every check, compile
# included, ~9 s here; split, they keep pytest -n's last worker from finishing ~20 s alone
@pytest.mark.parametrize(
    ("args", "status", "shown"),
    [
        pytest.param(
            ["legendre_verify:LegendrePolynomial3", "--symbolic", "legendre(3, x)"],
            0,
            "PASSED",
            id="passes",
        ),
        pytest.param(
            [
                *("legendre_verify:legendre_p", "--n", "4", "--symbolic", "legendre(n, x)"),
                *("--domain", "-2", "2"),
            ],
            0,
            "PASSED",
            id="passes-with-n-and-domain",
        ),
        pytest.param(
            [
                "legendre_verify.verification.mutants.elementwise:ForwardOffset",
                *("--symbolic", "legendre(3, x)"),
            ],
            1,
            "check 'values' failed",
            id="fails",
        ),
    ],
)
def test_cli_check_passes_and_fails(capsys, args, status, shown):
    assert main(["check", *args]) == status
    captured = capsys.readouterr()
    assert re.search(r"^gradients +(passed|failed) +\d+ ", captured.out, re.M)  # a row per check
    assert shown in (captured.out if status == 0 else captured.err)


def test_cli_default_verifies_the_project(capsys):
    assert main(["--max-examples", "2"]) == 0
    out = capsys.readouterr().out
    assert "LegendrePolynomial3" in out and "legendre_p(x, 10)" in out and "all verified" in out


def test_cli_mutants_prints_both_kill_rates(capsys, monkeypatch):
    import legendre_verify.verification.mutants.elementwise as zoo

    monkeypatch.setattr(zoo, "ELEMENTWISE_MUTANTS", zoo.ELEMENTWISE_MUTANTS[:2])
    assert main(["mutants", "--zoo", "elementwise"]) == 0
    out = capsys.readouterr().out
    assert (
        "kill rate (elementwise): verify() 2/2 (100%), plain gradcheck + gradgradcheck 0/2 (0%)"
        in out
    )


class Nondeterministic(torch.autograd.Function):
    """Right on every other call only, like a kernel racing or reading uninitialised memory."""

    calls = 0

    @staticmethod
    def forward(ctx, x):
        Nondeterministic.calls += 1
        return 0.5 * (5 * x**3 - 3 * x) + (1e-3 if Nondeterministic.calls % 2 else 0.0)

    @staticmethod
    def backward(ctx, g):
        return None


def test_nondeterministic_function_is_a_clear_failure():
    with pytest.raises(VerificationError, match="check 'values' failed") as caught:
        verify(Nondeterministic.apply, symbolic=lambda x: sympy.legendre(3, x), checks=["values"])
    assert "random generator" not in str(caught.value)  # it draws nothing: no such hint


class Dropout(torch.autograd.Function):
    """A correct dropout: random on purpose."""

    @staticmethod
    def forward(ctx, x, p):
        mask = (torch.rand_like(x) >= p).to(x.dtype) / (1 - p)
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None


class DropoutUnscaledGrad(Dropout):
    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * (mask != 0), None  # forgets the 1 / (1 - p)


def _seeded(f):
    def call(*args):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return f(*args)

    return call


def _dropout(x, p):
    return x * (torch.rand_like(x) >= p).to(x.dtype) / (1 - p)


DROPOUT_EXAMPLE = (torch.linspace(-0.9, 0.8, 12).reshape(3, 4), 0.25)


def test_a_random_function_fails_and_says_it_draws_random_numbers():
    with pytest.raises(VerificationError) as caught:
        verify(Dropout.apply, example=DROPOUT_EXAMPLE, checks=["values", "repeatable"])
    assert "fn draws from torch's random generator" in str(caught.value)
    assert "Random Functions" in str(caught.value)


def test_a_seeded_random_function_is_verified_and_its_bug_caught():
    options = dict(example=DROPOUT_EXAMPLE, reference=_seeded(_dropout), dtypes=["float64"])
    assert verify(_seeded(Dropout.apply), **options, checks=["values", "gradients"]).passed
    with pytest.raises(VerificationError, match="check 'gradients' failed"):
        verify(_seeded(DropoutUnscaledGrad.apply), **options, checks=["values", "gradients"])


# One pytest item per check (verification_tests): `pytest -k gradients` runs that check of
# every Function here; a failure's text is the shrunk sample and its reproduction. Defined last:
# pytest -n hands out items in this order, and ~170 short items after the long single tests
# above (mutants, CLI, each ~5-25 s with torch.compile's first call in a worker) keep the last
# worker from finishing alone.
test_p3 = verification_tests(LegendrePolynomial3.apply, symbolic=lambda x: sympy.legendre(3, x))
test_p7 = verification_tests(
    lambda x: legendre_p(x, 7), symbolic=lambda x: sympy.legendre(7, x), name="legendre_p(x, 7)"
)
test_p0 = verification_tests(
    lambda x: legendre_p(x, 0), symbolic=lambda x: sympy.legendre(0, x), name="legendre_p(x, 0)"
)
test_exp_symbolic = verification_tests(Exp.apply, symbolic=sympy.exp, domain=(-3.0, 3.0))
test_exp_reference = verification_tests(Exp.apply, reference=torch.exp, domain=(-3.0, 3.0))
test_mul_two_inputs = verification_tests(
    Mul.apply, symbolic=lambda x, y: x * y, reference=torch.mul
)
test_straight_through = verification_tests(
    StraightThroughRound.apply,
    reference=lambda x: x + (torch.round(x) - x).detach(),
    domain=(-3.0, 3.0),
    skip=["gradcheck", "gradgradcheck"],
)
