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
