"""The ratios report: each implementation's time and its ratio to ``clone()`` and to the
tutorial's eager P3, measured side by side in one run (``legendre-verify bench``).

Timing is ``torch.utils.benchmark.Timer`` (median of blocked runs; CUDA synchronised).
The asv suite in ``benchmarks/`` follows the same cases across commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch.utils import benchmark

from legendre_verify import baselines
from legendre_verify.functions import LegendrePolynomial3, legendre_p

__all__ = ["Case", "Row", "cases", "format_table", "run"]


@dataclass(frozen=True)
class Case:
    """One timed call: ``make(x)`` returns the zero-argument function to time."""

    name: str
    kind: str  # "forward" or "backward": the tutorial row of the same kind is its baseline
    make: Callable[[torch.Tensor], Callable[[], object]]


@dataclass(frozen=True)
class Row:
    device: str
    name: str
    kind: str
    seconds: float
    vs_clone: float
    vs_tutorial: float


def _forward(
    f: Callable[[torch.Tensor], torch.Tensor],
) -> Callable[[torch.Tensor], Callable[[], object]]:
    return lambda x: lambda: f(x)


def _backward(
    f: Callable[[torch.Tensor], torch.Tensor],
) -> Callable[[torch.Tensor], Callable[[], object]]:
    """Backward alone: one graph, run again and again (retain_graph)."""

    def make(x: torch.Tensor) -> Callable[[], object]:
        xr = x.detach().requires_grad_(True)
        y = f(xr)
        g = torch.ones_like(y)
        return lambda: torch.autograd.grad(y, xr, g, retain_graph=True)

    return make


def _scipy(n: int) -> Callable[[torch.Tensor], Callable[[], object]]:
    def make(x: torch.Tensor) -> Callable[[], object]:
        array = x.cpu().numpy()
        return lambda: baselines.scipy_legendre(array, n)

    return make


def cases(degrees: Iterable[int] = (3, 10, 32), scipy: bool = True) -> list[Case]:
    """The key cases: clone, tutorial P3, ours, torch.special and scipy at each degree."""
    found = [
        Case("x.clone()", "forward", _forward(baselines.clone)),
        Case("tutorial P3 (eager)", "forward", _forward(baselines.TutorialP3.apply)),
        Case("tutorial P3 (eager)", "backward", _backward(baselines.TutorialP3.apply)),
        Case("LegendrePolynomial3", "forward", _forward(LegendrePolynomial3.apply)),
        Case("LegendrePolynomial3", "backward", _backward(LegendrePolynomial3.apply)),
    ]
    for n in degrees:
        found += [
            Case(f"legendre_p n={n}", "forward", _forward(lambda x, n=n: legendre_p(x, n))),
            Case(f"legendre_p n={n}", "backward", _backward(lambda x, n=n: legendre_p(x, n))),
            Case(
                f"torch.special n={n}",
                "forward",
                _forward(lambda x, n=n: baselines.special_legendre(x, n)),
            ),
        ]
        if scipy:
            found.append(Case(f"scipy eval_legendre n={n}", "forward", _scipy(n)))
    return found


def _time(fn: Callable[[], object], min_run_time: float) -> float:
    fn()  # warm up (allocator, lazy init, first-call compile)
    # Timer runs single-threaded unless told otherwise: time with every thread torch uses
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time).median


def run(
    devices: Iterable[str] = ("cpu",),
    size: int | None = None,
    dtype: torch.dtype = torch.float32,
    degrees: Iterable[int] = (3, 10, 32),
    min_run_time: float = 0.5,
    progress: Callable[[str], None] | None = None,
) -> list[Row]:
    """Time every case on each device; CPU 10M elements, CUDA 100M unless ``size`` is given."""
    rows = []
    for device in devices:
        n_elements = size or (100_000_000 if device.startswith("cuda") else 10_000_000)
        x = torch.rand(n_elements, generator=torch.Generator().manual_seed(0)).mul_(2).sub_(1)
        x = x.to(device=device, dtype=dtype)
        try:
            import scipy  # noqa: F401

            with_scipy = device == "cpu"
        except ImportError:
            with_scipy = False
        timed = []
        for case in cases(degrees, scipy=with_scipy):
            seconds = _time(case.make(x), min_run_time)
            timed.append((case, seconds))
            if progress is not None:
                progress(f"{device}: {case.name} {case.kind}: {seconds * 1e3:.2f} ms")
        clone_s = next(s for c, s in timed if c.name == "x.clone()")
        tutorial = {c.kind: s for c, s in timed if c.name.startswith("tutorial")}
        rows += [
            Row(device, c.name, c.kind, s, s / clone_s, s / tutorial[c.kind]) for c, s in timed
        ]
    return rows


def format_table(rows: list[Row], title: str = "") -> str:
    """A markdown table of times and ratios."""
    lines = [title] if title else []
    lines += [
        "| device | implementation | pass | time (ms) | × clone | × tutorial P3 (same pass) |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.device} | {r.name} | {r.kind} | {r.seconds * 1e3:.2f} | {r.vs_clone:.2f} | "
            f"{r.vs_tutorial:.2f} |"
        )
    return "\n".join(lines)
