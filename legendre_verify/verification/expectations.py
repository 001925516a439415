"""What a correct Function returns at a sample, and whether it did.

For one question about one sample (its ``outputs``, its ``vjp``, ``jvp`` or ``vhp``) and one
oracle, :func:`expect` gives the truth in float64, the allowed error of each tensor (the one
tolerance model: :mod:`~legendre_verify.verification.tolerances`) and, per element, the
slack where the question has more than one right answer; :func:`judge` compares the
Function's answer with it. One rule for every check:

- **Kinks** (a derivative that jumps: ReLU at 0, a clamp's bounds): the truth is also asked at
  the inputs' neighbouring floats; where the one-sided answers differ by more than the
  rounding tolerance, anything between them is right (a subgradient).
- **Ties and near-ties** (two values equal in the tested dtype: a sort, a top-k, a nearest
  neighbour, a max): when the Function's answer differs from the truth, the truth is asked
  again at the inputs moved at random within the tested dtype's rounding (normwise:
  ``VERIFY_FACTOR * eps(dtype) * max|x|``). An index the truth itself returns at one of those
  points is right; so is an index that selects, from the input the truth's index selects from,
  a value equal to the truth's selected value within the tolerance. A float answer within the
  spread of the truth's answers there is right where that spread exceeds the rounding
  tolerance (a jump: another valid assignment of a gradient at a tie).
- **NaN** never compares equal to anything: NaN where the truth has a number is the
  Function's failure; a NaN in the truth where the Function has a number is the oracle's
  error (the derived oracle's: the Function's own forward); where neither is finite (both
  overflowed, both outside the maths' domain) that element is not judged. Infinities must
  meet the same infinity, and a value beyond the dtype's range may be the same-signed
  infinity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from legendre_verify.verification.oracles import (
    Oracle,
    OracleError,
    as_float64,
    floats_of,
    unit,
    with_floats,
)
from legendre_verify.verification.replay import digest, note_answer, note_scales, recording_now
from legendre_verify.verification.samples import Sample
from legendre_verify.verification.subject import Subject
from legendre_verify.verification.tolerances import (
    VERIFY_FACTOR,
    RoundingNoise,
    eps,
    finite_max_abs,
    ladder_scale,
    noise_scale,
    truth_tolerance,
    verify_tolerance,
)

__all__ = [
    "Expected",
    "compare",
    "exact",
    "expect",
    "judge",
    "max_abs",
    "tolerances",
    "within",
]

#: how many times the truth is asked again, at inputs moved within the tested dtype's
#: rounding, before a difference from it is reported (only when there is one)
ALTERNATIVES = 8

Failures = list[str]


def max_abs(t: torch.Tensor | None) -> float:
    """The largest |element| (0 for None or an empty tensor)."""
    if t is None or t.numel() == 0:
        return 0.0
    return float(t.detach().abs().max())


# ---------------------------------------------------------------------------------------------
# the allowed error


def tolerances(
    subject: Subject, oracle: Oracle, kind: str, sample: Sample, *, lower: bool = False
) -> list[float]:
    """The allowed error of each tensor ``oracle.ask(kind)`` returns for ``sample`` in its dtype
    (see :func:`scales`); ``lower=True``: a lower bound of it, measured nothing
    (:func:`_floor_scales`), for a first comparison (:func:`within`)."""
    own = 0.0 if oracle.exact else 1.0
    found = (_floor_scales if lower else scales)(subject, oracle, kind, sample)
    return [verify_tolerance(sample.dtype, s) + own * truth_tolerance(s) for s in found]


def _lower_first(subject: Subject) -> bool:
    """Compare with the lower bounds first? Not in a replay (its scales are recorded) nor while
    a failure is recorded for its snippet (every scale it uses is noted)."""
    return not getattr(subject, "recorded_scales", None) and not recording_now()


def within(
    subject: Subject,
    oracle: Oracle,
    questions: Sequence[tuple[str, Sample]],
    compare_with: Callable[..., Failures],
) -> Failures:
    """``compare_with(allowed_1, allowed_2, ...)``, one list of allowed errors per
    ``(kind, sample)`` question, first with their lower bounds (nothing measured), then, only
    if that finds a difference, with the full model (whose verdict stands). Every comparison is
    monotone in its tolerance, so what passes the lower bounds passes the model: the rounding
    noise is measured only where an answer is not within the truth's plain rounding. The
    answers compared are the same in both (the Function is not run again)."""
    if _lower_first(subject):
        failures = compare_with(
            *(tolerances(subject, oracle, k, s, lower=True) for k, s in questions)
        )
        if not failures:
            return failures
    return compare_with(*(tolerances(subject, oracle, k, s) for k, s in questions))


def scales(subject: Subject, oracle: Oracle, kind: str, sample: Sample) -> list[float]:
    """The scale of each tensor ``oracle.ask(kind)`` returns for ``sample`` (see
    :mod:`~legendre_verify.verification.tolerances` for the model): the allowed error is
    ``verify_tolerance(dtype, scale)`` plus the truth's own float64 rounding
    (``truth_tolerance``, for truths computed by torch), with the scale the largest of

    - the domain's grid (elementwise oracles: the derivative's size and sensitivity anywhere
      in the domain);
    - for every other oracle, and where the domain touches a singularity of the derivative,
      :func:`noise_scale` measured on the sample: the normwise sensitivity to its inputs and
      the rounding noise of the computation itself (what rounding at each of its steps does
      to the result, terms that cancel included).

    Computed once per oracle, question and sample values (shared between checks); a replay
    (:mod:`~legendre_verify.verification.replay`) uses the scales verify recorded."""
    recorded = getattr(subject, "recorded_scales", None)
    if recorded:
        if (kind, digest(sample)) in recorded:
            return recorded[(kind, digest(sample))]
        # a question the failing run never reached (it stopped at the Function's error): the
        # largest scale recorded for it, a tolerance at least as wide as verify's
        same = [v for (k, _), v in recorded.items() if k == kind]
        if same:
            return [max(column) for column in zip(*same, strict=False)]
    found = subject.cached(
        _scales_key(oracle, kind, sample), lambda: _scales(subject, oracle, kind, sample)
    )
    note_scales(oracle, kind, sample, found)
    return found


def in_float32(s64: Sample) -> Sample:
    """``s64`` with every floating tensor (inputs, constants, cotangents) in float32."""

    def cast(v: Any) -> Any:
        return v.float() if isinstance(v, torch.Tensor) and v.is_floating_point() else v

    return replace(
        s64,
        args=tuple(cast(a) for a in s64.args),
        kwargs={k: cast(v) for k, v in s64.kwargs.items()},
        grad_outputs=tuple(cast(g) for g in s64.grad_outputs),
        tangents=tuple(cast(u) for u in s64.tangents),
    )


def _scales_key(oracle: Oracle, kind: str, sample: Sample) -> tuple:
    """Where :func:`scales` keeps a sample's measured scales in the subject's cache."""
    return ("scales", id(oracle), kind, sample.fingerprint())


def _grid_scales(subject: Subject, oracle: Oracle, kind: str, sample: Sample) -> list[float] | None:
    """The domain grid's scales (an elementwise oracle of an elementwise Function), or None."""
    if not (oracle.elementwise and subject.elementwise):
        return None
    a, dom = subject.arity, subject.domain
    g = max_abs(sample.grad_outputs[0]) if sample.grad_outputs else 0.0

    def times(factor: float, scale: float) -> float:
        return 0.0 if factor == 0 else factor * scale

    if kind == "outputs":
        return [oracle.scale((0,) * a, dom)]
    if kind == "vjp":
        return [times(g, oracle.scale(unit(i, a), dom)) for i in range(a)]
    if kind == "jvp":
        return [
            sum(
                times(max_abs(u), oracle.scale(unit(i, a), dom))
                for i, u in enumerate(sample.tangents)
            )
        ]
    return [
        sum(
            times(g * max_abs(u), oracle.scale(unit(i, a, unit(j, a)), dom))
            for i, u in enumerate(sample.tangents)
        )
        for j in range(a)
    ]


def _scales(subject: Subject, oracle: Oracle, kind: str, sample: Sample) -> list[float]:
    grid = _grid_scales(subject, oracle, kind, sample)
    if grid is not None and not getattr(oracle, "singular", None):
        return grid
    s64 = as_float64(sample)
    base = answer(subject, oracle, kind, s64)
    found = noise_scale(lambda fl: oracle.ask(kind, with_floats(s64, fl)), floats_of(s64), base)
    if oracle.independent:  # a reference: the precision ladder too
        lower = ladder_scale(lambda: oracle.ask(kind, in_float32(s64)), base)
        found = [max(a, b) for a, b in zip(found, lower, strict=True)]
    if grid is not None:
        found = [max(a, b) for a, b in zip(grid, found, strict=True)]
    return found


def _floor_scales(subject: Subject, oracle: Oracle, kind: str, sample: Sample) -> list[float]:
    """A lower bound of :func:`_scales` without its measurements: every scale the model
    measures is at least the truth's own size, max |Q| (:func:`noise_scale` starts from it),
    and at least the grid's (where there is one); where the grid alone is the model, or the
    sample's scales are measured already, those."""
    known = subject.cache.get(_scales_key(oracle, kind, sample))
    if known is not None:
        return known
    grid = _grid_scales(subject, oracle, kind, sample)
    if grid is not None and not getattr(oracle, "singular", None):
        return grid
    sizes = [finite_max_abs(q) for q in answer(subject, oracle, kind, as_float64(sample))]
    return sizes if grid is None else [max(a, b) for a, b in zip(grid, sizes, strict=True)]


# ---------------------------------------------------------------------------------------------
# what is expected


@dataclass
class Expected:
    """The truth's answer to one question at one sample: float64 values (integers for index
    outputs), the per-element slack where several answers are right (kinks), and the allowed
    error of each tensor in the sample's dtype."""

    kind: str
    oracle: Oracle
    values: tuple[torch.Tensor | None, ...]
    slack: tuple[torch.Tensor | None, ...]
    allowed: list[float]


def answer(
    subject: Subject, oracle: Oracle, kind: str, s64: Sample
) -> tuple[torch.Tensor | None, ...]:
    """``oracle.ask(kind, s64)``, once per sample values (shared between checks)."""
    value = subject.cached(
        ("answer", id(oracle), kind, s64.fingerprint()), lambda: oracle.ask(kind, s64)
    )
    note_answer(oracle, kind, s64, value)
    return value


def _all_requiring_grad(kind: str, sample: Sample) -> Sample:
    """The sample with every input requiring grad, for a question whose answer for a subset is
    the same answer (values, jvp) or it with the others left out (a vjp): asked once for every
    subset. (A vhp is not: its contraction runs over the inputs that require grad.)"""
    if kind != "vhp" and not all(sample.requires_grad):
        return replace(sample, requires_grad=(True,) * len(sample.requires_grad))
    return sample


def _masked(kind: str, sample: Sample, values: Sequence[Any]) -> tuple[Any, ...]:
    if kind != "vjp":
        return tuple(values)
    return tuple(v if rg else None for v, rg in zip(values, sample.requires_grad, strict=True))


def expect(
    subject: Subject, oracle: Oracle, kind: str, sample: Sample, *, lower: bool = False
) -> Expected:
    """The truth's answer to ``kind`` at ``sample`` and its tolerance (``lower``: its lower
    bound; no slack yet: kinks and ties are looked for only where the Function's answer
    differs, by :func:`widen`)."""
    full = _all_requiring_grad(kind, sample)
    values = _masked(kind, sample, answer(subject, oracle, kind, as_float64(full)))
    allowed = tolerances(subject, oracle, kind, full, lower=lower)
    return Expected(kind, oracle, values, (None,) * len(values), allowed)


def widen(subject: Subject, oracle: Oracle, kind: str, sample: Sample, truth: Expected) -> Expected:
    """``truth`` with the slack of kinks: the truth asked at the inputs' neighbouring floats
    too; where the one-sided answers differ by more than the tolerance, anything between them
    is right (answers within the tolerance of each other are rounding, not a kink)."""
    if kind == "outputs" or not (oracle.may_have_kinks or oracle.derivative_error):
        return truth
    full = _all_requiring_grad(kind, sample)
    s64 = as_float64(full)
    middles, slacks = subject.cached(
        ("kinks", id(oracle), kind, s64.fingerprint()), lambda: oracle.expect(kind, s64)
    )
    values = _masked(kind, sample, middles)
    kept = tuple(
        None if s is None else torch.where(s > a, s, torch.zeros_like(s))
        for s, a in zip(_masked(kind, sample, slacks), truth.allowed, strict=True)
    )
    if any(x is not None and bool((x > 0).any()) for x in kept):  # a replay needs only kinks
        note_answer(oracle, f"kinks:{kind}", s64, (middles, slacks))
    return Expected(kind, oracle, values, kept, truth.allowed)


def alternatives(
    subject: Subject,
    oracle: Oracle,
    kind: str,
    sample: Sample,
    draws: int = ALTERNATIVES,
    centre: Sequence[torch.Tensor | None] | None = None,
) -> list[tuple[torch.Tensor | None, ...]]:
    """The truth's answers at the sample's differentiable inputs moved at random within the
    tested dtype's rounding (each input by ``VERIFY_FACTOR * eps(dtype)`` times its largest
    element, or the domain's size where it is all zero), with every step of the truth's own
    computation rounded likewise (:class:`RoundingNoise` of that size: two distances the
    dtype cannot tell apart may come out either way): the other right answers where the
    sample sits on a tie or a kink. Answers the truth cannot give there are left out."""
    s64 = as_float64(sample)
    lo, hi = subject.domain
    size = max(abs(lo), abs(hi), 1e-300)
    step = VERIFY_FACTOR * eps(sample.dtype)
    generator = torch.Generator().manual_seed(3)
    found = []
    for draw in range(draws):
        moved = []
        for x in s64.inputs:
            scale = max_abs(x) or size
            if draw < 2:  # ordered moves: break every tie by index, one way and the other
                ramp = torch.linspace(-1.0, 1.0, x.numel(), dtype=torch.float64).reshape(x.shape)
                direction = ramp if draw == 0 else -ramp
            else:
                direction = torch.rand(x.shape, generator=generator, dtype=torch.float64) * 2 - 1
            moved.append(x + step * scale * direction)
        around = s64.with_inputs(moved)
        try:  # the truth's own steps rounded as the tested dtype would round them, too
            with RoundingNoise(draw, size=step):
                found.append(oracle.ask(kind, around))
        except OracleError:
            continue
        if _jumps(found[-1], centre):  # a replay needs only the answers that differ
            note_answer(oracle, kind, around, found[-1])
    return found


def _jumps(
    answer: Sequence[torch.Tensor | None], centre: Sequence[torch.Tensor | None] | None
) -> bool:
    """Does ``answer`` differ from ``centre`` by more than float64 rounding (an index that
    differs, a value that moved by more than 2^-30 of its size)?"""
    if centre is None:
        return True
    size = max((max_abs(c) for c in centre if c is not None and c.is_floating_point()), default=0)
    size = size + 2.0**-1000
    for a, c in zip(answer, centre, strict=False):
        if a is None or c is None or a.shape != c.shape:
            continue
        if not a.is_floating_point():
            if not torch.equal(a, c):
                return True
            continue
        if bool(((a - c).abs() > 2.0**-30 * size).any()) or not torch.equal(a.isnan(), c.isnan()):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# comparing


def compare(
    what: str,
    got: torch.Tensor | None,
    expected: torch.Tensor | None,
    allowed: float,
    slack: torch.Tensor | None = None,
    *,
    oracle: Oracle | None = None,
) -> Failures:
    """|got - expected| <= allowed (+ ``slack`` per element: half the interval of valid values
    at a kink or a tie). A NaN never compares equal to anything: NaN where a number is
    expected is a difference, and a NaN in the truth (``oracle``) is the oracle's failure
    (:class:`OracleError`), or, for the derived oracle, the Function's own forward's. Without
    a truthful ``oracle`` (``expected`` is another run of the Function: a self-consistency
    check) NaN must meet NaN. An infinity must meet the same infinity; where the expected
    value is beyond ``got``'s dtype's range (or within the allowed error of its end), the
    same-signed infinity is right too."""
    if expected is None:
        return []
    if got is None:
        return [f"{what}: got None, expected a tensor"]
    if tuple(got.shape) != tuple(expected.shape):
        return [f"{what}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}"]
    if not got.is_floating_point() or not expected.is_floating_point():
        return exact(what, got, expected)
    values = got.detach().cpu().double()
    expected = expected.detach().cpu().double()
    truth = oracle is not None and oracle.truthful
    # a NaN in the truth where the Function is finite: the truth's failure; where the Function
    # is not finite either (both overflowed, both outside the maths' domain) nothing is judged
    unjudged = expected.isnan() & ~values.isfinite()
    if truth and bool((expected.isnan() & values.isfinite()).any()):
        return _nan_truth(what, oracle, values, expected)
    limit = torch.full_like(expected, allowed)
    if slack is not None:
        limit = limit + slack.detach().cpu().double().reshape(expected.shape).nan_to_num(0.0)
    biggest = float(torch.finfo(got.dtype).max)
    close = (values - expected).abs() <= limit
    overflows = expected.isinf() | (expected.abs() + limit > biggest)
    same_infinity = values.isinf() & (values.sign() == expected.sign()) & overflows
    both_nan = unjudged if truth else values.isnan() & expected.isnan()
    bad = ~(close | same_infinity | both_nan)
    if not bool(bad.any()):
        return []
    index = tuple(int(i) for i in bad.nonzero()[0])
    g, e = values[index].item(), expected[index].item()
    width = limit[index].item() - allowed
    if width > 0:
        expected_text = (
            f"{e - width!r} to {e + width!r} (between the truth's one-sided values: a kink or "
            "a tie here)"
        )
    else:
        expected_text = repr(e)
    return [
        f"{what} at index {index}: expected {expected_text}, got {g!r} "
        f"(|difference| {abs(g - e):.3g} > allowed {limit[index].item():.3g}; "
        f"{int(bad.sum())} of {bad.numel()} elements off)"
    ]


def _nan_truth(
    what: str, oracle: Oracle | None, values: torch.Tensor, expected: torch.Tensor
) -> Failures:
    """A NaN in the truth where the Function gives a number: never a pass. The derived oracle
    is the Function's own forward (its failure); any other oracle's NaN is the oracle's
    error, raised."""
    index = tuple(int(i) for i in (expected.isnan() & values.isfinite()).nonzero()[0])
    got = values[index].item()
    if oracle is not None and oracle.blames_function:
        return [
            f"{what} at index {index}: the Function's own forward (run outside it, in float64) "
            f"gives NaN here, and the Function {got!r}: its maths is not finite at this sample"
        ]
    name = oracle.name if oracle is not None else "the"
    raise OracleError(
        f"the {name} oracle gives NaN for {what} at index {index} (the Function gives "
        f"{got!r}): the truth is undefined at this sample, so nothing can be checked there. "
        "Keep the drawn values inside the function's domain (domain=, e.g. '(0, 4]' for an open "
        "end) or fix the oracle."
    )


def exact(what: str, got: torch.Tensor, expected: torch.Tensor) -> Failures:
    """Integer/bool outputs: equal values, dtype kind and shape."""
    if tuple(got.shape) != tuple(expected.shape):
        return [f"{what}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}"]
    if got.is_floating_point() != expected.is_floating_point():
        return [
            f"{what}: dtype {got.dtype}, but the truth's is {expected.dtype} "
            f"({'an index' if got.is_floating_point() else 'a floating'} output)"
        ]
    g, e = got.detach().cpu(), expected.detach().cpu().to(got.dtype)
    if torch.equal(g, e):
        return []
    index = tuple(int(i) for i in (g != e).nonzero()[0])
    return [f"{what} at index {index}: expected {e[index].item()!r}, got {g[index].item()!r}"]


def _selection(
    index: torch.Tensor,
    truth_outputs: Sequence[torch.Tensor | None],
    inputs: Sequence[torch.Tensor],
) -> tuple[torch.Tensor, int, int] | None:
    """Where the truth's ``index`` output selects from: an input and a dimension such that
    gathering the input with the index gives one of the truth's floating outputs (a sort's,
    a top-k's, a max's values): (input, dim, that output's position). None if none does."""
    for x in inputs:
        for d in range(x.dim()):
            idx = index if index.dim() == x.dim() else index.unsqueeze(d)
            if idx.dim() != x.dim() or any(
                a != b for j, (a, b) in enumerate(zip(idx.shape, x.shape, strict=True)) if j != d
            ):
                continue
            try:
                picked = x.gather(d, idx.long()).reshape(index.shape)
            except (RuntimeError, IndexError):
                continue
            for k, o in enumerate(truth_outputs):
                if (
                    o is not None
                    and o.is_floating_point()
                    and o.shape == picked.shape
                    and torch.equal(picked, o)
                ):
                    return x, d, k
    return None


def _index_ties(
    what: str,
    got: torch.Tensor,
    expected: torch.Tensor,
    others: Sequence[torch.Tensor],
    selection: tuple[torch.Tensor, int, int] | None,
    selected: torch.Tensor | None,
    allowed: float,
) -> Failures:
    """An index output where it differs from the truth: right where the truth itself returns
    that index at inputs moved within rounding (``others``), or where it selects, from the
    input the truth's index selects from, a value within ``allowed`` of the truth's."""
    if got.is_floating_point() or tuple(got.shape) != tuple(expected.shape):
        return exact(what, got, expected)
    g = got.detach().cpu().long()
    right = g == expected.long()
    for other in others:
        if other is not None and other.shape == g.shape:
            right |= g == other.long()
    if selection is not None and selected is not None and not bool(right.all()):
        x, d, _ = selection
        idx = g if g.dim() == x.dim() else g.unsqueeze(d)
        if bool((idx >= 0).all()) and bool((idx < x.shape[d]).all()):
            picked = x.gather(d, idx).reshape(g.shape)
            right |= (picked - selected).abs() <= allowed
    if bool(right.all()):
        return []
    index = tuple(int(i) for i in (~right).nonzero()[0])
    return [
        f"{what} at index {index}: expected {int(expected[index])!r}, got {int(g[index])!r} "
        f"(not a tie: the truth gives {int(expected[index])!r} at this sample and at inputs "
        "moved within the tested dtype's rounding)"
    ]


def judge(
    subject: Subject,
    oracle: Oracle,
    kind: str,
    sample: Sample,
    got: Sequence[torch.Tensor | None],
    names: Sequence[str],
    modes: Sequence[object] | None = None,
) -> Failures:
    """The Function's answer ``got`` to ``kind`` at ``sample`` against ``oracle`` (each tensor
    named ``names[k]`` in failures; ``modes[k]`` as ``compare=`` says for outputs), under the
    module's one rule for kinks, ties and non-finite values. The truth is asked again at the
    inputs' neighbours and around the sample only when the first comparison finds a
    difference."""
    modes = modes or ["close"] * len(got)
    if _lower_first(subject):  # within the lower bound of the tolerance: right (see within())
        truth = expect(subject, oracle, kind, sample, lower=True)
        if not _compare_all(subject, sample, truth, got, names, modes, others=None):
            return []
    truth = expect(subject, oracle, kind, sample)
    failures = _compare_all(subject, sample, truth, got, names, modes, others=None)
    if not failures:
        return failures
    truth = widen(subject, oracle, kind, sample, truth)
    around = (
        None if oracle.exact else alternatives(subject, oracle, kind, sample, centre=truth.values)
    )
    return _compare_all(subject, sample, truth, got, names, modes, others=around)


def _compare_all(
    subject: Subject,
    sample: Sample,
    truth: Expected,
    got: Sequence[torch.Tensor | None],
    names: Sequence[str],
    modes: Sequence[object],
    others: list[tuple[torch.Tensor | None, ...]] | None,
) -> Failures:
    failures: Failures = []
    s64 = None
    for k, (g, e) in enumerate(zip(got, truth.values, strict=True)):
        mode, what = modes[k], names[k]
        if e is None or mode == "ignore":
            continue
        if callable(mode):
            failures += list(mode(g, e, sample) or [])
            continue
        if g is None:
            failures.append(f"{what}: got None, expected a tensor")
            continue
        if g.is_floating_point() != e.is_floating_point() or tuple(g.shape) != tuple(e.shape):
            failures += exact(what, g, e)
            continue
        if not e.is_floating_point():
            if g.dtype != e.dtype:
                failures.append(f"{what}: dtype {g.dtype}, expected {e.dtype} (the truth's)")
            if mode == "exact" or others is None:
                failures += exact(what, g, e)
                continue
            if s64 is None:
                s64 = as_float64(sample)
            selection = _selection(e, truth.values, list(s64.inputs))
            selected = None if selection is None else truth.values[selection[2]]
            allowed = 0.0 if selection is None else truth.allowed[selection[2]]
            failures += _index_ties(
                what, g, e, [o[k] for o in others], selection, selected, allowed
            )
            continue
        slack = truth.slack[k]
        expected = e
        if others is not None and mode != "exact":
            expected, slack = _spread(e, slack, [o[k] for o in others], truth.allowed[k])
        failures += compare(what, g, expected, truth.allowed[k], slack, oracle=truth.oracle)
    return failures


def _spread(
    centre: torch.Tensor,
    slack: torch.Tensor | None,
    others: Sequence[torch.Tensor | None],
    allowed: float,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The expected value and slack widened, element by element, to the spread of the truth's
    answers around the sample, where that spread exceeds the rounding tolerance (a jump: a
    tie or a kink within the dtype's rounding); elsewhere as they were."""
    values = [centre]
    for o in others:
        if o is not None and o.shape == centre.shape and o.is_floating_point():
            values.append(torch.where(torch.isfinite(o), o, centre))
    if len(values) == 1:
        return centre, slack
    stacked = torch.stack(values)
    lo, hi = stacked.min(0).values, stacked.max(0).values
    half = (hi - lo) / 2
    jump = torch.isfinite(centre) & (half > allowed)
    if not bool(jump.any()):
        return centre, slack
    base = torch.zeros_like(centre) if slack is None else slack
    if slack is not None:  # the kink interval already found stays inside
        lo = torch.minimum(lo, centre - slack)
        hi = torch.maximum(hi, centre + slack)
        half = (hi - lo) / 2
    middle = torch.where(jump, (lo + hi) / 2, centre)
    return middle, torch.where(jump, half * (1 + 2.0**-40), base)
