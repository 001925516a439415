"""A failure that re-fails when run: the reproduce snippet and what it calls.

When a check fails, its minimal sample is run once more with a :class:`Recorder` listening:
every answer the truth gave (its values and derivatives at the sample, at the inputs'
neighbouring floats, around the sample) and every tolerance scale used are kept. The snippet
(:func:`snippet`) writes the sample, those answers and those scales as literals, and calls
:func:`replay`, which runs the same check on the same sample against the recorded truth with
the same tolerances: it raises (exit status 1 as a script) exactly when the Function still
fails the check, and passes once it is fixed. It needs the Function and nothing else (not the
oracle: a sympy expression or a lambda cannot be printed; its answers can). Where the truth is
the Function's own forward (the derived oracle) it is asked again, live: a fixed forward moves
it.
"""

from __future__ import annotations

import contextvars
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from legendre_verify.verification.oracles import Oracle, OracleError
from legendre_verify.verification.samples import Sample, tensor_source, value_source

__all__ = [
    "RecordedOracle",
    "Recorder",
    "digest",
    "recording",
    "recording_now",
    "replay",
    "snippet",
    "strided",
]


def strided(values: torch.Tensor, strides: Sequence[int]) -> torch.Tensor:
    """``values`` stored with ``strides`` in a buffer of its own (the gaps hold NaN)."""
    size = 1 + sum((n - 1) * s for n, s in zip(values.shape, strides, strict=True))
    fill = float("nan") if values.is_floating_point() else 0
    buffer = torch.full((max(size, 0),), fill, dtype=values.dtype, device=values.device)
    return buffer.as_strided(values.shape, tuple(strides)).copy_(values)


def digest(sample: Sample) -> str:
    """A short, stable name for a sample's values (what a recorded answer is filed under)."""
    return hashlib.sha1(repr(sample.fingerprint()).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# recording


@dataclass
class Recorder:
    """The truth's answers (``kind`` -> digest -> answer) and the scales (``kind`` -> digest ->
    scales) one run of a check used."""

    answers: dict[tuple[str, str], Any] = field(default_factory=dict)
    scales: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    oracle: Oracle | None = None


RECORDER: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar(
    "legendre_verify_recorder", default=None
)


@contextmanager
def recording() -> Iterator[Recorder]:
    """Record what the truth answers and which scales are used inside the block."""
    recorder = Recorder()
    token = RECORDER.set(recorder)
    try:
        yield recorder
    finally:
        RECORDER.reset(token)


def recording_now() -> bool:
    """Is a failure being recorded for its snippet (inside :func:`recording`)?"""
    return RECORDER.get() is not None


def note_answer(oracle: Oracle, kind: str, sample: Sample, value: Any) -> None:
    """Called by :mod:`expectations` for every answer of a truth (a no-op unless recording)."""
    recorder = RECORDER.get()
    if recorder is not None and oracle.truthful:
        recorder.oracle = recorder.oracle or oracle
        recorder.answers[(kind, digest(sample))] = value


def note_scales(oracle: Oracle, kind: str, sample: Sample, scales: list[float]) -> None:
    """Called by :mod:`expectations` for every scale of a truth (a no-op unless recording)."""
    recorder = RECORDER.get()
    if recorder is not None and oracle.truthful:
        recorder.scales[(kind, digest(sample))] = list(scales)


class RecordedOracle(Oracle):
    """A truth that answers from a recording (what :func:`replay` judges against)."""

    def __init__(
        self,
        name: str,
        answers: dict[tuple[str, str], Any],
        *,
        exact: bool,
        blames_function: bool,
        may_have_kinks: bool,
        derivative_error: float,
    ) -> None:
        self.name = name
        self.recorded = answers
        self.exact = exact
        self.blames_function = blames_function
        self.may_have_kinks = may_have_kinks
        self.derivative_error = derivative_error

    def ask(self, kind: str, s: Sample) -> Any:
        key = (kind, digest(s))
        if key not in self.recorded:
            raise OracleError(
                f"the recorded truth holds no {kind} for this sample ({key[1]}): the snippet "
                "replays the check as verify ran it"
            )
        return self.recorded[key]

    def expect(self, kind: str, s: Sample) -> Any:
        key = (f"kinks:{kind}", digest(s))
        if key in self.recorded:
            return self.recorded[key]
        values = self.ask(kind, s)  # no kink was recorded here: no slack
        return values, tuple(None for _ in values)


# ---------------------------------------------------------------------------------------------
# the snippet


def _tensors_source(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, torch.Tensor):
        return tensor_source(value)
    if isinstance(value, tuple | list):
        inner = ", ".join(_tensors_source(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def _spec_literal(spec: Any) -> dict[str, Any]:
    compare = {k: v for k, v in (spec.compare_modes or {}).items() if isinstance(v, str)}
    return {
        "diff": spec.diff,
        "drawn": spec.drawn,
        "loops": spec.loops,
        "signature": spec.signature.text,
        "cores": spec.signature.inputs,
        "outputs": spec.signature.outputs,
        "batch": spec.signature.loop,
        "elementwise": spec.elementwise,
        "n_outputs": spec.n_outputs,
        "differentiable_outputs": spec.differentiable_outputs,
        "output_dtypes": tuple(None if d is None else str(d) for d in spec.output_dtypes),
        "compare": compare,
    }


def snippet(
    subject: Any, check: str, sample: Sample, recorder: Recorder | None
) -> tuple[str, list[str]]:
    """The reproduce snippet for ``check`` failing at ``sample`` (a script that raises while
    the Function fails it), and notes on what it cannot carry (a callable ``compare=``)."""
    notes = []
    callables = [k for k, v in subject.compare.items() if callable(v)]
    if callables:
        notes.append(f"compare= callables for outputs {callables} are left out of the snippet")
    lines = ["import torch", "from legendre_verify.verification.replay import replay, strided"]
    lines += [line for line in subject.preamble]
    args = []
    for i, a in enumerate(sample.args):
        lines.append(f"x{i} = {value_source(a)}")
        args.append(f"x{i}")
    grads = []
    for k, g in enumerate(sample.grad_outputs):
        if g is not None:
            lines.append(f"g{k} = {tensor_source(g)}")
        grads.append("None" if g is None else f"g{k}")
    tangents = []
    for j, u in enumerate(sample.tangents):
        lines.append(f"u{j} = {tensor_source(u)}")
        tangents.append(f"u{j}")
    kwargs = "{" + ", ".join(f"{k!r}: {value_source(v)}" for k, v in sample.kwargs.items()) + "}"
    truth = "None"
    scales = "None"
    oracle = "None"
    derived = (
        recorder is not None and recorder.oracle is not None and recorder.oracle.name == "derived"
    )
    if derived:  # the Function's own forward: asked again live (a fixed forward moves it)
        oracle = repr({"derived": True})
    elif recorder is not None and recorder.oracle is not None:
        entries = [
            f"        ({kind!r}, {key!r}): {_tensors_source(value)},"
            for (kind, key), value in recorder.answers.items()
        ]
        truth = "{\n" + "\n".join(entries) + "\n    }"
        o = recorder.oracle
        oracle = repr(
            {
                "name": o.name,
                "exact": o.exact,
                "blames_function": o.blames_function,
                "may_have_kinks": o.may_have_kinks,
                "derivative_error": o.derivative_error,
            }
        )
    if recorder is not None and recorder.scales and not derived:
        scales = (
            "{\n"
            + "\n".join(f"        ({k!r}, {d!r}): {v!r}," for (k, d), v in recorder.scales.items())
            + "\n    }"
        )
    capabilities = sorted(c.name for c in subject.capabilities)
    lines += [
        "replay(",
        f"    {check!r},",
        f"    {subject.call},",
        f"    args=({', '.join(args)}{',' if len(args) == 1 else ''}),",
        f"    kwargs={kwargs},",
        f"    grad_outputs=({', '.join(grads)}{',' if len(grads) == 1 else ''}),",
        f"    tangents=({', '.join(tangents)}{',' if len(tangents) == 1 else ''}),",
        f"    requires_grad={sample.requires_grad!r},",
        f"    sizes={dict(sample.sizes)!r},",
        f"    loop={sample.loop!r},",
        f"    spec={_spec_literal(_SpecView(subject))!r},",
        f"    capabilities={capabilities!r},",
        f"    domain={subject.domain!r},",
        f"    dirty={subject.dirty!r},",
        f"    kinks={subject.kinks!r},",
        f"    oracle={oracle},",
        f"    truth={truth},",
        f"    scales={scales},",
        f"    timeout={subject.timeout!r},",
        ")",
    ]
    return "\n".join(lines), notes


class _SpecView:
    """The spec fields a snippet carries (with the subject's compare modes)."""

    def __init__(self, subject: Any) -> None:
        spec = subject.spec
        self.diff = spec.diff
        self.drawn = spec.drawn
        self.loops = spec.loops
        self.signature = spec.signature
        self.elementwise = spec.elementwise
        self.n_outputs = spec.n_outputs
        self.differentiable_outputs = spec.differentiable_outputs
        self.output_dtypes = spec.output_dtypes
        self.compare_modes = subject.compare


# ---------------------------------------------------------------------------------------------
# replaying


def replay(
    check: str,
    fn: Any,
    *,
    args: tuple[Any, ...],
    kwargs: dict[str, Any] | None = None,
    grad_outputs: tuple[torch.Tensor | None, ...] = (),
    tangents: tuple[torch.Tensor, ...] = (),
    requires_grad: tuple[bool, ...] = (),
    sizes: dict[str, int] | None = None,
    loop: tuple[int, ...] | None = None,
    spec: dict[str, Any],
    capabilities: Sequence[str] = (),
    domain: tuple[float, float] = (-1.0, 1.0),
    dirty: bool = False,
    kinks: Sequence[float] = (),
    oracle: dict[str, Any] | None = None,
    truth: dict[tuple[str, str], Any] | None = None,
    scales: dict[tuple[str, str], list[float]] | None = None,
    timeout: float | None = 60.0,
) -> None:
    """Run ``check`` on one sample as verify ran it (the recorded truth and tolerances) and
    raise ``AssertionError`` with verify's message if ``fn`` fails it; print a line if not."""
    from legendre_verify.verification.checks import CHECKS, run_check
    from legendre_verify.verification.signature import CallSpec, Signature
    from legendre_verify.verification.subject import Capability, Subject

    signature = Signature(
        tuple(spec["cores"]), tuple(spec["outputs"]), spec["batch"], spec["signature"]
    )
    call = CallSpec(
        args,
        dict(kwargs or {}),
        tuple(spec["diff"]),
        signature,
        dict(sizes or {}),
        elementwise=spec["elementwise"],
        n_outputs=spec["n_outputs"],
        returns_tuple=spec["n_outputs"] > 1,
        differentiable_outputs=tuple(spec["differentiable_outputs"]),
        output_dtypes=tuple(
            None if d is None else getattr(torch, d.removeprefix("torch."))
            for d in spec["output_dtypes"]
        ),
        drawn=tuple(spec["drawn"]),
        loops=tuple(spec["loops"]),
    )
    oracles: list[Oracle] = []
    if oracle is not None and oracle.get("derived"):
        from legendre_verify.verification.oracles import DerivedOracle
        from legendre_verify.verification.subject import function_class

        derived = DerivedOracle(function_class(fn))
        derived.differentiable_outputs = tuple(spec["differentiable_outputs"])
        derived.timeout = timeout
        oracles.append(derived)
    elif oracle is not None and truth is not None:
        oracles.append(
            RecordedOracle(
                oracle["name"],
                truth,
                exact=oracle["exact"],
                blames_function=oracle["blames_function"],
                may_have_kinks=oracle["may_have_kinks"],
                derivative_error=oracle["derivative_error"],
            )
        )
    subject = Subject(
        fn,
        call,
        oracles,
        tuple(domain),
        getattr(fn, "__qualname__", "fn"),
        capabilities=frozenset(Capability[c] for c in capabilities),
        dirty=dirty,
        compare=dict(spec["compare"]),
        kinks=tuple(kinks),
        timeout=timeout,
    )
    subject.recorded_scales = dict(scales or {})
    subject.replaying = True
    sample = Sample(
        tuple(args),
        tuple(spec["diff"]),
        tuple(grad_outputs),
        tuple(tangents),
        tuple(requires_grad),
        dict(kwargs or {}),
        dict(sizes or {}),
        loop,
    )
    failures = run_check(CHECKS[check], subject, sample)
    if failures:
        raise AssertionError(f"check {check!r} fails on this sample:\n" + "\n".join(failures))
    print(f"check {check!r} passes on this sample")
