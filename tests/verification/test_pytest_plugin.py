"""verification_tests() in a user's own test file, run with plain pytest: one item per check,
a planted bug fails exactly the items of the checks that catch it, skips say why, failing
samples are replayed from Hypothesis's database, --hypothesis-seed runs repeat (issue #11)."""

from __future__ import annotations

import importlib.util
import re
import textwrap

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = textwrap.dedent(
    """
    import sympy, torch
    from legendre_verify import verification_tests


    class Swish(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * torch.sigmoid(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            s = torch.sigmoid(x)
            return g * s * (1 + x * (1 - s)) * SCALE


    SCALE = {scale}
    test_swish = verification_tests(
        Swish.apply, symbolic=lambda x: x / (1 + sympy.exp(-x)), skip=["compile"], max_examples=8
    )
    """
)


def _run(pytester: pytest.Pytester, scale: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_user=USER_TESTS.format(scale=scale))
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rfs", *args)


def test_one_item_per_check_and_what_cannot_apply_is_left_out_with_one_line(pytester):
    result = _run(pytester, "1.0", "-v")
    # the 8 checks that cannot apply here (no CUDA, not a custom op, one output, no jvp, ...,
    # and compile, which the call skips) are no items: one summary line names them
    result.assert_outcomes(passed=16)
    result.stdout.fnmatch_lines(
        [
            "*test_swish?meta? PASSED*",
            "*test_swish?gradients? PASSED*",
            "*test_swish?second_order? PASSED*",
            "legendre-verify: 8 checks not applicable here were left out at collection*"
            "cuda (CUDA is not available here)*",
        ]
    )
    assert "compile (skipped by the caller)" in result.stdout.str()


SKIPPING_TESTS = textwrap.dedent(
    """
    import torch
    import torch.nn.functional as F
    from legendre_verify import verification_tests


    class HardSigmoid(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return F.relu6(x + 3) / 6

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * ((x > -3) & (x < 3)) / 6


    test_hard_sigmoid = verification_tests(
        HardSigmoid.apply,
        reference=F.hardsigmoid,
        reference_error=1e-7,
        domain=(-4, 4),
        checks=["values", "second_order"],
        max_examples=4,
    )
    """
)


def test_a_skip_found_while_running_is_reported_at_the_users_line(pytester):
    pytester.makepyfile(test_skips=SKIPPING_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    written = (pytester.path / "test_skips.py").read_text().splitlines()
    line = written.index("test_hard_sigmoid = verification_tests(") + 1
    # F.hardsigmoid has no double backward: second_order cannot run, said at the user's line
    result.stdout.fnmatch_lines([f"SKIPPED [[]1[]] test_skips.py:{line}: *second derivatives*"])


def test_a_planted_bug_fails_exactly_the_checks_that_catch_it(pytester):
    result = _run(pytester, "1.0001")
    failed = set(re.findall(r"FAILED test_user.py::test_swish\[(\w+)\]", result.stdout.str()))
    # a derivative off by 1e-4: caught against the truth in float64 (dtypes catches it too
    # where its few draws hold a float32 sample: not every random run), missed by finite
    # differences; and no check that does not compare derivatives fails
    assert {"gradients", "second_order"} <= failed
    assert not failed & {"meta", "values", "gradcheck", "no_mutation", "layouts"}
    out = result.stdout.str()
    assert "minimal failing sample (" in out and "reproduce (" in out
    assert "Traceback" not in out  # the failure text, not the driver's traceback


def test_only_one_check_runs_with_k(pytester):
    result = _run(pytester, "1.0", "-k", "gradients")
    result.assert_outcomes(passed=1)


def test_failing_samples_are_replayed_first_from_the_database(pytester):
    # a random profile with the default example database (named: under CI=true, Hypothesis's
    # own defaults have none)
    pytester.makeconftest(
        "from hypothesis import settings\n"
        "from hypothesis.database import DirectoryBasedExampleDatabase\n"
        "settings.register_profile('r', derandomize=False,"
        " database=DirectoryBasedExampleDatabase('.hypothesis/examples'))\n"
        "settings.load_profile('r')\n"
    )
    first = _run(pytester, "1.0001", "-k", "gradients", "--hypothesis-seed=1")
    second = _run(pytester, "1.0001", "-k", "gradients", "--hypothesis-seed=2")
    sample = re.compile(r"minimal failing sample.*?\nreproduce", re.S)
    assert sample.search(first.stdout.str()).group(0) == sample.search(second.stdout.str()).group(0)
    assert (pytester.path / ".hypothesis" / "examples").is_dir()


def test_hypothesis_seed_makes_random_runs_reproducible(pytester):
    pytester.makeconftest(
        "from hypothesis import settings\n"
        "settings.register_profile('r', derandomize=False, database=None)\n"
        "settings.load_profile('r')\n"
    )
    runs = [_run(pytester, "1.0001", "-k", "gradients", "--hypothesis-seed=7") for _ in range(2)]
    texts = [
        re.search(r"minimal failing sample.*?reproduce", r.stdout.str(), re.S).group(0)
        for r in runs
    ]
    assert texts[0] == texts[1]


def _statistics(out: str) -> dict[str, str]:
    """Each item's block of the 'Hypothesis Statistics' section, by test id."""
    section = out.split("= Hypothesis Statistics =")[1].split("short test summary")[0]
    blocks = re.split(r"^test_user\.py::test_swish\[(\w+)\]:$", section, flags=re.M)
    return dict(zip(blocks[1::2], blocks[2::2], strict=True))


@pytest.mark.parametrize(
    "workers",
    [
        [],
        pytest.param(
            ["-n", "2"],
            marks=pytest.mark.skipif(
                importlib.util.find_spec("xdist") is None, reason="needs pytest-xdist"
            ),
        ),
    ],
    ids=["serial", "xdist"],
)
def test_show_statistics_lists_each_checks_draws(pytester, workers):
    result = _run(
        pytester,
        "1.0001",
        "-k",
        "values or gradients or cuda",
        "--hypothesis-show-statistics",
        *workers,
    )
    result.assert_outcomes(passed=1, failed=1)  # cuda cannot apply here: no item
    stats = _statistics(result.stdout.str())
    assert set(stats) == {"values", "gradients"}
    # a passing check: the 8 draws its group made (each judged by every check of the group),
    # and why Hypothesis stopped
    assert "- during generate phase" in stats["values"]
    assert "- 8 passing, 0 failing, and 0 invalid test cases" in stats["values"]
    assert "Typical runtimes: " in stats["values"]
    assert "- Stopped because settings.max_examples=8" in stats["values"]
    assert "shrinks" not in stats["values"]
    # a failing check: its group's draws, then its shrinking: an elementwise Function's
    # failing draw of several elements is narrowed to one by bisection, outside Hypothesis (no
    # shrink phase to show); a draw of one element already is shrunk by Hypothesis
    assert "- during generate phase" in stats["gradients"]
    assert "- Stopped because" in stats["gradients"]
    if "by bisection" in result.stdout.str():
        assert "shrinks" not in stats["gradients"]
    else:
        assert re.search(r"Tried \d+ shrinks of which \d+ were successful", stats["gradients"])


def test_no_statistics_without_the_option(pytester):
    result = _run(pytester, "1.0", "-k", "values")
    result.assert_outcomes(passed=1)
    assert "Hypothesis Statistics" not in result.stdout.str()
    assert "during generate phase" not in result.stdout.str()


def test_a_plan_restricted_to_the_kept_items_runs_those_checks_on_the_same_draws():
    # what `pytest -k gradients` runs: the gradients check alone, judging the draws it judges
    # in the whole plan (a bug it catches there, it catches here)
    import sympy

    from legendre_verify.verification.driver import make_plan, restrict, run_plan
    from legendre_verify.verification.mutants.elementwise import ELEMENTWISE_MUTANTS

    mutant = next(m for m in ELEMENTWISE_MUTANTS if m.name == "DerivativeOff1e4")
    plan = make_plan(mutant.fn, symbolic=lambda x: sympy.legendre(3, x), max_examples=8)
    whole = {r.name: r for r in run_plan(plan).results}
    only = run_plan(restrict(plan, ["gradients", "values"])).results
    assert [r.name for r in only] == ["values", "gradients"]
    for result in only:
        assert (result.status, result.examples) == (
            whole[result.name].status,
            whole[result.name].examples,
        )
        assert result.details == whole[result.name].details  # the same failing sample
    assert whole["gradients"].status == "failed"
