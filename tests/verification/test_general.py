"""verify() for any call: several tensors of different shapes, plain-value and drawn arguments,
tuple and index outputs, custom ops; the README's examples; misuse; the CLI; the verifier
standing alone."""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from snippets import assert_caught_and_replayable
from user_functions import CASES, ELEMENTWISE_CASES, LinearFunction, SortFunction

from legendre_verify import OracleError, VerificationError, verify
from legendre_verify.cli import main
from legendre_verify.verification import driver
from legendre_verify.verification.mutants import plain_gradcheck_kills
from legendre_verify.verification.mutants.general import GENERAL_CORRECT, GENERAL_MUTANTS

ROOT = Path(__file__).resolve().parents[2]
#: examples per check in these tests: few in CI (each verify() runs ~25 checks), more locally
EXAMPLES = {"ci": 8, "dev": 12, "thorough": 60}.get(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"), 12
)
LINEAR = dict(
    example=(torch.ones(3, 4), torch.ones(5, 4), torch.ones(5)),
    signature="(m,n),(k,n),(k)->(m,k)",
)


@pytest.mark.parametrize(
    ("fn", "options"),
    [pytest.param(fn, options, id=name) for name, fn, options in CASES + ELEMENTWISE_CASES],
)
def test_correct_public_style_functions_pass(fn, options):
    report = verify(fn, **options, max_examples=EXAMPLES)
    assert report.passed
    ran = {r.name for r in report.results if r.status == "passed"}
    assert {"meta", "dtypes", "layouts", "no_mutation"} <= ran
    if "reference" in options or "symbolic" in options:
        assert {"values", "gradients"} <= ran


@pytest.mark.parametrize("mutant", GENERAL_CORRECT, ids=[m.name for m in GENERAL_CORRECT])
def test_correct_bases_of_the_general_zoo_pass(mutant):
    assert verify(mutant.fn, **mutant.verify_kwargs(), max_examples=EXAMPLES).passed


@pytest.mark.parametrize("mutant", GENERAL_MUTANTS, ids=[m.name for m in GENERAL_MUTANTS])
def test_every_general_mutant_is_rejected_and_its_snippet_refails(mutant, tmp_path):
    assert hasattr(mutant.fn, "__self__")  # a Function class: its correct base is replayed too
    assert_caught_and_replayable(mutant, tmp_path, max_examples=EXAMPLES)


def test_general_zoo_beats_plain_gradcheck():
    caught = sum(plain_gradcheck_kills(m) is True for m in GENERAL_MUTANTS)
    assert caught < len(GENERAL_MUTANTS)  # the baseline misses some: the zoo is not trivial


def test_no_oracle_runs_what_needs_no_truth_and_names_what_it_skipped():
    report = verify(LinearFunction.apply, **LINEAR, derived=False, max_examples=EXAMPLES)
    assert report.passed
    status = {r.name: r.status for r in report.results}
    for name in ("values", "gradients", "second_order"):
        assert status[name] == "skipped"
    for name in ("gradcheck", "gradgradcheck", "dtypes", "layouts", "requires_grad_subsets"):
        assert status[name] == "passed"
    assert any("skipped for lack of a truth: values, gradients" in n for n in report.notes)


def test_derived_oracle_is_used_and_said():
    report = verify(LinearFunction.apply, **LINEAR, max_examples=EXAMPLES)
    assert report.passed
    assert any("derived from LinearFunction.forward" in n for n in report.notes)
    assert {r.name for r in report.results if r.status == "passed"} >= {"gradients", "second_order"}


class LinearWrongDoubleBackward(LinearFunction):
    """The LayerNorm-bug class: a backward from detached tensors, second derivative lost."""

    @staticmethod
    def backward(ctx, grad_output):
        input, weight, _ = ctx.saved_tensors
        return grad_output @ weight.detach(), grad_output.t() @ input.detach(), grad_output.sum(0)


def test_derived_oracle_finds_a_silently_wrong_second_derivative():
    with pytest.raises(VerificationError, match="check 'second_order' failed"):
        verify(LinearWrongDoubleBackward.apply, **LINEAR, checks=["second_order"])


class OnceDifferentiable(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**2

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g


def test_once_differentiable_is_a_skip_not_a_failure():
    report = verify(OnceDifferentiable.apply, example=(torch.ones(3),), max_examples=EXAMPLES)
    assert report.passed
    skipped = {r.name: r.message for r in report.results if r.status == "skipped"}
    assert "once_differentiable" in skipped["second_order"]
    assert "once_differentiable" in skipped["gradgradcheck"]


def test_strategy_arguments_are_drawn_and_printed_in_the_reproduction():
    class ScaleBug(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, alpha):
            ctx.alpha = alpha
            return x * alpha

        @staticmethod
        def backward(ctx, g):
            return g * (ctx.alpha if ctx.alpha < 1.5 else 1.0), None

    with pytest.raises(VerificationError) as info:
        verify(
            ScaleBug.apply,
            example=(torch.ones(2), st.floats(0, 2)),
            reference=lambda x, a: x * a,
            checks=["gradients"],
        )
    message = str(info.value)
    alpha = float(re.search(r"argument 1: ([0-9.e+-]+)", message).group(1))
    assert alpha >= 1.5  # the drawn value that shows the bug
    assert f"x1 = {alpha!r}" in message
    assert "fn = ...  # bind fn to the callable you passed to verify()" in message


@pytest.mark.parametrize(
    ("options", "error", "shown"),
    [
        ({"example": torch.ones(3)}, TypeError, "example must be a tuple"),
        ({"example": (torch.ones(3, 4),)}, TypeError, "does not accept the example"),
        ({"example": (torch.arange(3),)}, ValueError, "no floating-point tensor"),
        ({**LINEAR, "signature": "(m,n),(k,n)->(m,k)"}, ValueError, "lists 2 input"),
        ({**LINEAR, "signature": "(m,n),(k,m),(k)->(m,k)"}, ValueError, "size 'm' is 3"),
        ({**LINEAR, "signature": "(m,n),(k,n),(k)->(k,m)"}, ValueError, "gives output shapes"),
        ({**LINEAR, "signature": "(m,n),(k,n),(k)"}, ValueError, "one '->'"),
        ({**LINEAR, "signature": "(m,n),(k,n),(k)->(m,j)"}, ValueError, "appear in no input"),
        ({**LINEAR, "symbolic": lambda x: x}, TypeError, "symbolic= describes elementwise"),
        ({**LINEAR, "reference": lambda x, w, b: (F.linear(x, w, b), x)}, ValueError, "output"),
        ({**LINEAR, "reference": lambda x: x}, OracleError, "reference raised TypeError"),
        ({**LINEAR, "compare": {3: "ignore"}}, ValueError, "compare keys"),
        ({**LINEAR, "compare": {0: "loose"}}, ValueError, "compare[0]"),
        ({**LINEAR, "kwargs": ["x"]}, TypeError, "kwargs must be a dict"),
        ({**LINEAR, "arity": 3}, TypeError, "arity= is for the elementwise form"),
        ({"signature": "(n)->(n)"}, TypeError, "signature= needs example="),
    ],
)
def test_misuse_of_the_call_description_is_named(options, error, shown):
    with pytest.raises(error) as info:
        verify(LinearFunction.apply, **options)
    assert not isinstance(info.value, VerificationError)
    assert shown in str(info.value)


def test_an_oracle_that_raises_is_the_oracles_error():
    def broken(x, w, b):
        if x.shape[0] == 0:
            raise ZeroDivisionError("no rows")
        return F.linear(x, w, b)

    with pytest.raises(OracleError, match="the reference oracle raised ZeroDivisionError"):
        verify(LinearFunction.apply, **LINEAR, reference=broken, checks=["values"])


def test_sort_ties_compare_by_the_values_the_indices_select():
    report = verify(
        SortFunction.apply,
        example=(torch.zeros(2, 3),),
        signature="(m,n)->(m,n),(m,n)",
        reference=lambda x: torch.sort(x, dim=-1, stable=True, descending=False),
        compare={1: "ties"},
        checks=["values", "meta"],
        max_examples=EXAMPLES,
    )
    assert report.passed


def _readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Verify your own Function") : text.index("### Training")]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.mark.parametrize("index", range(len(_readme_blocks())))
def test_readme_verify_examples_run_as_written(index, monkeypatch, tmp_path):
    monkeypatch.setattr(driver, "DEFAULT_MAX_EXAMPLES", 4)  # as written, with fewer draws
    name = f"readme_block_{index}"
    path = tmp_path / f"{name}.py"
    path.write_text(_readme_blocks()[index])
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # a real module, as a user's file is
    spec.loader.exec_module(module)
    for attr, value in list(vars(module).items()):  # (dynamo adds globals to the module)
        if attr.startswith("test_") and callable(value):
            if "check" in inspect.signature(value).parameters:  # verification_tests' items
                for check in ("meta", "gradients"):
                    value(check)
            else:
                value()


MY_OPS = """
import torch


class LinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, weight, bias):
        ctx.save_for_backward(input, weight)
        return input @ weight.t() + bias

    @staticmethod
    def backward(ctx, g):
        input, weight = ctx.saved_tensors
        return g @ weight, g.t() @ input, g.sum(0) / max(1, g.shape[0])  # bias: mean, not sum
"""


def test_cli_check_a_file_with_reference_example_signature_and_json(tmp_path, capsys):
    path = tmp_path / "my_ops.py"
    path.write_text(textwrap.dedent(MY_OPS))
    out = tmp_path / "report.json"
    args = [
        "check",
        f"{path}:LinearFunction",
        "--reference",
        "F.linear",
        "--example",
        "(torch.ones(3, 4), torch.ones(5, 4), torch.ones(5))",
        "--signature",
        "(m,n),(k,n),(k)->(m,k)",
        "--json",
        str(out),
        "--max-examples",
        "5",
        "--skip",
        "compile",
    ]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "check 'gradients' failed" in captured.err and "argument 2" in captured.err
    report = json.loads(out.read_text())
    assert not report["passed"]
    assert {c["name"]: c["status"] for c in report["checks"]}["gradients"] == "failed"
    xml = tmp_path / "report.xml"
    assert main([*args, "--junit-xml", str(xml), "--quiet"]) == 1
    from xml.etree import ElementTree as ET

    suite = ET.parse(xml).getroot().find("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert cases["gradients"].find("failure") is not None
    assert cases["meta"].find("failure") is None and cases["compile"].find("skipped") is not None
    assert "minimal failing sample" in cases["gradients"].find("failure").text
    assert main([*args[:2], "--example", "(torch.ones(3, 4),"]) == 2  # misuse: exit 2
    assert "--example" in capsys.readouterr().err


def test_the_verifier_stands_alone():
    code = (
        "import sys, torch\n"
        "from legendre_verify import verify\n"
        "verify(torch.sin, example=(torch.ones(3),), checks=['values', 'gradients'],"
        " max_examples=2)\n"
        "loaded = [m for m in sys.modules if m.startswith('legendre_verify')]\n"
        "assert not [m for m in loaded if 'legendre_verify.legendre' in m or 'training' in m],"
        " loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


class SoftmaxOverEverything(torch.autograd.Function):
    """Normalises over the whole tensor, not each row: right only without batch dimensions."""

    @staticmethod
    def forward(ctx, x):
        y = torch.exp(x - x.max()) if x.numel() else x.clone()
        y = y / y.sum()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return y * (g - (g * y).sum())


def test_batch_dimensions_are_checked_against_a_loop():
    from legendre_verify.verification.mutants.general import SoftmaxFunction

    options = dict(example=(torch.zeros(4),), signature="(n)->(n)", batch=True)
    report = verify(
        SoftmaxFunction.apply,
        **options,
        reference=lambda x: torch.softmax(x, -1),
        max_examples=EXAMPLES,
    )
    assert report.passed and "batch" in {r.name for r in report.results if r.status == "passed"}
    # no oracle at all: the loop over the batch dimension alone shows the bug
    with pytest.raises(VerificationError, match="check 'batch' failed"):
        verify(SoftmaxOverEverything.apply, **options, derived=False, checks=["batch"])
