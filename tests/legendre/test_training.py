"""The tutorial's training run, as a function and as `legendre-verify train`."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from conftest import broken_compile

from legendre_verify import training
from legendre_verify.cli import main
from legendre_verify.legendre import dispatch


@pytest.fixture(scope="module")
def tutorial_fit() -> training.FitResult:
    return training.fit()


def test_default_fit_reproduces_the_tutorial(tutorial_fit):
    # The tutorial's own float32 CPU run ends near these (issue #2): b = -2.2085, d = 0.2555,
    # a and c ~1e-9, last loss ~8.94. Four printed digits give the tolerance: half a unit in the
    # last printed place.
    assert tutorial_fit.b == pytest.approx(-2.2085, abs=5e-5)
    assert tutorial_fit.d == pytest.approx(0.2555, abs=5e-5)
    assert abs(tutorial_fit.a) < 1e-6 and abs(tutorial_fit.c) < 1e-6
    assert tutorial_fit.losses[-1] == pytest.approx(8.94, abs=5e-3)
    assert len(tutorial_fit.losses) == 2000
    # plain SGD at this rate descends monotonically from the tutorial's start
    assert all(b <= a for a, b in itertools.pairwise(tutorial_fit.losses))


def test_train_prints_the_tutorial_log(capsys, tutorial_fit):
    assert main(["train", "--method", "eager"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 21
    for line, t in zip(lines[:-1], range(99, 2000, 100), strict=True):
        step, loss = line.split()
        assert int(step) == t
        assert float(loss) == tutorial_fit.losses[t]  # the very same run, printed in full
    assert lines[-1] == tutorial_fit.result_line()
    assert (
        lines[-1].startswith("Result: y = ") and " * P3(" in lines[-1] and lines[-1].endswith(" x)")
    )


def test_options_change_the_run(capsys):
    argv = ["train", "--steps", "250", "--lr", "1e-6", "--dtype", "float64", "--method", "eager"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [int(line.split()[0]) for line in lines[:-1]] == [99, 199]
    expected = training.fit(steps=250, lr=1e-6, dtype=torch.float64)
    assert lines[-1] == expected.result_line()


def test_float64_fit_lands_on_the_same_coefficients_as_float32(tutorial_fit):
    result = training.fit(dtype=torch.float64)
    for got, want in zip(result.coefficients, tutorial_fit.coefficients, strict=True):
        # float32's run carries rounding of ~2000 steps of ~eps32 relative size
        assert got == pytest.approx(want, abs=1e-4)


def test_plot_is_written(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "fit.png"
    assert main(["train", "--steps", "100", "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(path) in capsys.readouterr().err


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="tests the message shown where CUDA is absent"
)
def test_cuda_asked_for_but_absent_is_a_clear_error(capsys):
    assert main(["train", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "CUDA is not available" in err and "'cuda'" in err


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="CUDA is not available here: CUDA case skipped"
)
def test_fit_on_cuda_matches_cpu(tutorial_fit):
    result = training.fit(device="cuda")
    for got, want in zip(result.coefficients, tutorial_fit.coefficients, strict=True):
        assert got == pytest.approx(want, abs=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "error", "shown"),
    [
        ({"steps": -1}, ValueError, "steps=-1"),
        ({"steps": 2.0}, ValueError, "steps=2.0"),
        ({"lr": 0.0}, ValueError, "lr=0.0"),
        ({"lr": math.nan}, ValueError, "lr=nan"),
        ({"dtype": torch.int32}, TypeError, "torch.int32"),
        ({"device": "nonsense"}, ValueError, "'nonsense'"),
    ],
)
def test_bad_training_arguments_are_named(kwargs, error, shown):
    with pytest.raises(error) as info:
        training.fit(**kwargs)
    assert shown in str(info.value)


@pytest.mark.parametrize("method", ["compiled", "fused"])
def test_fast_methods_end_on_the_tutorial_coefficients(method, tutorial_fit):
    from legendre_verify.baselines import TutorialP3

    tutorial = training.fit(function=TutorialP3.apply)  # the tutorial's own Function
    result = training.fit(method=method)
    for got, want in zip(result.coefficients, tutorial.coefficients, strict=True):
        assert got == pytest.approx(want, abs=1e-6)
    assert len(result.losses) == 2000
    # the same trajectory: every logged loss within float32 rounding of the sum (2000 terms)
    for t in range(99, 2000, 100):
        assert result.losses[t] == pytest.approx(tutorial.losses[t], rel=2000 * 2**-24)


def test_cli_default_and_fused_print_the_tutorial_log(capsys):
    for argv in (["train"], ["train", "--fused"]):
        assert main(argv) == 0
        captured = capsys.readouterr()
        lines = captured.out.splitlines()
        assert [int(line.split()[0]) for line in lines[:-1]] == list(range(99, 2000, 100))
        assert lines[-1].startswith("Result: y = ")
        assert "steps/s" in captured.err


def test_compiled_method_falls_back_to_eager_when_the_compiler_fails(monkeypatch):
    monkeypatch.setattr(training.torch, "compile", broken_compile)
    monkeypatch.setattr(dispatch, "DISPATCHER", dispatch.Dispatcher())
    with pytest.warns(RuntimeWarning, match="torch.compile failed"):
        result = training.fit(method="compiled", steps=200)
    assert result.method == "eager"
    assert result.coefficients == training.fit(steps=200, method="eager").coefficients
    assert dispatch.compile_status().kernels[0].state == "failed"


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="method='adam'"):
        training.fit(method="adam")


def test_auto_picks_eager_for_the_tutorial_run_and_says_why(tutorial_fit):
    assert tutorial_fit.method == "eager"
    assert "eager ~" in tutorial_fit.reason and "nothing compiled cached" in tutorial_fit.reason


def test_choose_method_weighs_compile_time_against_steps(monkeypatch, tmp_path):
    monkeypatch.setenv("LEGENDRE_VERIFY_CACHE_DIR", str(tmp_path))
    x = torch.zeros(2000)
    eager_step = 1e-3
    # nothing cached: 12 s of compiling is not worth it for 2,000 steps, it is for 100,000
    assert training.choose_method(2000, eager_step, x)[0] == "eager"
    assert training.choose_method(100_000, eager_step, x)[0] == "compiled"
    # a compiled run recorded here (its inductor cache still present) makes compiling cheap
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    training._remember(x, first_call=12.0, step=1e-4)
    training._remember(x, first_call=0.5, step=1e-4)  # a later run found the caches warm
    method, reason = training.choose_method(2000, eager_step, x)
    assert method == "compiled" and "cached on disk" in reason
    assert training.choose_method(100, eager_step, x)[0] == "eager"
    # the record does not count once inductor's cache is gone
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "wiped"))
    assert training.choose_method(2000, eager_step, x)[0] == "eager"


def test_cli_train_says_which_method_and_why(capsys):
    assert main(["train", "--steps", "300"]) == 0
    err = capsys.readouterr().err
    assert "method eager (auto): 280 steps: eager ~" in err
