"""The ratios report (``legendre-verify bench``): every case is timed, ratios are per round."""

from __future__ import annotations

import math

from legendre_verify import bench


def test_report_times_every_case_and_derives_the_ratios():
    rows = bench.run(size=4096, degrees=(3, 5), min_run_time=0.01, rounds=2)
    names = {(r.name, r.kind) for r in rows}
    for case in bench.cases((3, 5), scipy=False):
        assert (case.name, case.kind) in names
    clone = next(r for r in rows if r.name == "x.clone()")
    assert clone.vs_clone == 1.0  # each round's clone over itself
    for r in rows:
        assert r.seconds > 0 and math.isfinite(r.vs_clone) and math.isfinite(r.vs_tutorial)
        if r.name.startswith("tutorial"):
            assert r.vs_tutorial == 1.0
    speedups = bench.speedups_over_special(rows)
    assert set(speedups) == {("cpu", 3), ("cpu", 5)}
    table = bench.format_table(rows, "title")
    assert table.startswith("title") and "legendre_p n=5 | forward+backward" in table
    assert "vs torch.special forward alone: cpu n=3:" in table


def test_rounds_must_be_positive():
    import pytest

    with pytest.raises(ValueError, match="rounds=0"):
        bench.run(size=16, rounds=0)


def test_a_fresh_process_that_calls_once_never_compiles():
    run = bench.cold_start("tiered", n=10, size=1 << 17, calls=1)
    assert run.states == ["eager"] and run.build_seconds is None
    assert run.first_compiled_call is None
    assert 0 < run.calls[0] < run.process_seconds


def test_a_hot_kernel_is_built_in_the_background_and_then_used():
    # hot by HOT_ANY_CALLS at the latest; waiting after call 35 stands for other work meanwhile
    run = bench.cold_start("tiered", n=10, size=1 << 17, calls=40, wait_after=35)
    assert run.states[0] == "eager"  # the first call never waits for a compiler
    assert run.first_compiled_call is not None and run.first_compiled_call <= 36
    assert set(run.states[run.first_compiled_call - 1 :]) == {"compiled"}
    assert run.build_seconds > 0
    assert f"compiled from call {run.first_compiled_call}" in run.summary()


def test_cli_cold_start_compares_the_modes(capsys):
    from legendre_verify.cli import main

    assert main(["bench", "--cold", "--size", "100000", "--degrees", "10"]) == 0
    eager, tiered, compiled = capsys.readouterr().out.strip().splitlines()
    assert eager.startswith("mode eager: process") and "compiled from" not in eager
    assert tiered.startswith("mode tiered: process") and "compiled from" not in tiered
    assert compiled.startswith("mode compiled: process") and "compiled from call 1" in compiled
