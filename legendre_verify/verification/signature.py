"""How a Function is called: which arguments are differentiable tensors, which are index
tensors, constants, sizes or plain values, and the shapes of its tensors (fixed, or named sizes
from a gufunc signature).

``signature="(m,n),(k,n),(k)->(m,k)"`` is numpy's gufunc syntax over the call's *drawn tensor*
arguments in argument order (the floating-point tensors, and the integer tensors marked with
:func:`~legendre_verify.verification.arguments.index`), then its tensor outputs. Named sizes
are drawn; numbers are fixed; a name may carry bounds: ``n>=1``, ``n<=8``, ``1<=n<=8`` (once
is enough: a bound holds wherever the name appears). As in numpy, dimensions of the example
beyond the core ones are *loop* dimensions: they are drawn too (none, one or several, size 0
included), broadcast between the arguments that have them (size 1, or missing in front), and
lead every output. Without a signature every shape is the example's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CallSpec", "Dim", "Signature", "parse_signature"]

#: one dimension: a name (drawn) or an int (fixed)
Dim = str | int

_SHAPE = re.compile(r"\(\s*([^()]*?)\s*\)")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")
_BOUNDED = re.compile(
    r"^(?:(?P<lo>\d+)\s*<=\s*)?(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
    r"(?:\s*>=\s*(?P<ge>\d+))?(?:\s*<=\s*(?P<le>\d+))?$"
)


@dataclass(frozen=True)
class Signature:
    """Core shapes of the drawn tensor arguments and of the tensor outputs, and the named
    sizes' bounds.

    ``loop`` (``batch=True``, and elementwise Functions) says that every floating input gets
    the same leading loop dimensions; otherwise loop dimensions follow the example (see the
    module docstring).
    """

    inputs: tuple[tuple[Dim, ...], ...]
    outputs: tuple[tuple[Dim, ...], ...]
    loop: bool = False
    text: str | None = None
    #: name -> (lowest, highest or None) size allowed
    bounds: dict[str, tuple[int, int | None]] = field(default_factory=dict)

    #: sizes named outside the shapes (an index argument's range, a size() argument)
    extra_names: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        """The named sizes, in order of first appearance."""
        seen: list[str] = []
        for shape in self.inputs + self.outputs:
            for d in shape:
                if isinstance(d, str) and d not in seen:
                    seen.append(d)
        return seen + [n for n in self.extra_names if n not in seen]

    def bound(self, name: str) -> tuple[int, int | None]:
        """The sizes ``name`` may take: (lowest, highest or None)."""
        return self.bounds.get(name, (0, None))

    def shape(self, core: tuple[Dim, ...], sizes: dict[str, int], loop: tuple[int, ...]) -> tuple:
        """The concrete shape of one tensor for drawn ``sizes`` and ``loop`` dimensions."""
        return (*loop, *(sizes[d] if isinstance(d, str) else d for d in core))

    def sizes_of(
        self, shapes: list[tuple[int, ...]], *, loops: bool = False
    ) -> tuple[dict[str, int], list[int]]:
        """The named sizes that concrete input ``shapes`` give, and how many leading loop
        dimensions each has (0 unless ``loops``: then any dimensions in front of the core
        ones). A ValueError where two uses of one name disagree, a fixed size or a bound is
        not met, or a shape has fewer dimensions than its core."""
        sizes: dict[str, int] = {}
        extra: list[int] = []
        for i, (core, shape) in enumerate(zip(self.inputs, shapes, strict=True)):
            if len(shape) < len(core) or (len(shape) != len(core) and not loops):
                raise ValueError(
                    f"signature={self.text!r}: tensor argument {i} has shape {tuple(shape)}, but "
                    f"the signature gives it {len(core)} dimension(s) {core}"
                )
            n_loop = len(shape) - len(core)
            extra.append(n_loop)
            for d, n in zip(core, shape[n_loop:], strict=True):
                if isinstance(d, int) and d != n:
                    raise ValueError(
                        f"signature={self.text!r}: tensor argument {i} has size {n} where the "
                        f"signature fixes {d}"
                    )
                if isinstance(d, str) and sizes.setdefault(d, n) != n:
                    raise ValueError(
                        f"signature={self.text!r}: size {d!r} is {sizes[d]} in one argument "
                        f"and {n} in argument {i} of the example"
                    )
        for name, n in sizes.items():
            lo, hi = self.bound(name)
            if n < lo or (hi is not None and n > hi):
                raise ValueError(
                    f"signature={self.text!r}: size {name!r} is {n} in the example, outside "
                    f"its bounds {_bound_text(name, lo, hi)}"
                )
        return sizes, extra


def _bound_text(name: str, lo: int, hi: int | None) -> str:
    if hi is None:
        return f"{name}>={lo}"
    return f"{lo}<={name}<={hi}"


def _parse_side(
    text: str, side: str, full: str, bounds: dict[str, tuple[int, int | None]]
) -> tuple[tuple[Dim, ...], ...]:
    stripped = _SHAPE.sub("", text).replace(",", "").strip()
    if stripped:
        raise ValueError(
            f"signature must look like '(m,n),(n)->(m)', got signature={full!r} "
            f"(unexpected {stripped!r} in the {side})"
        )
    shapes = []
    for group in _SHAPE.findall(text):
        dims: list[Dim] = []
        for part in [p.strip() for p in group.split(",")] if group.strip() else []:
            if part.isdigit():
                dims.append(int(part))
                continue
            match = _BOUNDED.match(part)
            if not match:
                raise ValueError(
                    f"signature dimension must be a name, a number or a bounded name (n>=1, "
                    f"n<=8, 1<=n<=8), got {part!r} in signature={full!r}"
                )
            name = match["name"]
            lows = [int(v) for v in (match["lo"], match["ge"]) if v is not None]
            high = int(match["le"]) if match["le"] is not None else None
            if lows or high is not None:
                old_lo, old_hi = bounds.get(name, (0, None))
                lo = max([old_lo, *lows])
                hi = high if old_hi is None else (old_hi if high is None else min(old_hi, high))
                if hi is not None and hi < lo:
                    raise ValueError(
                        f"signature={full!r}: the bounds on {name!r} leave no size "
                        f"({_bound_text(name, lo, hi)})"
                    )
                bounds[name] = (lo, hi)
            dims.append(name)
        shapes.append(tuple(dims))
    return tuple(shapes)


def parse_signature(text: str, *, loop: bool = False, known: tuple[str, ...] = ()) -> Signature:
    """Parse a gufunc signature such as ``"(m,n),(k,n),(k)->(m,k)"`` (bounds allowed:
    ``"(b,n>=1,3),(b,m>=1,3)->(b,n),(b,m)"``); ``known``: sizes named elsewhere (an index
    argument's range, a ``size()`` argument) that outputs may use."""
    if not isinstance(text, str):
        raise TypeError(f"signature must be a str such as '(m,n),(n)->(m)', got {text!r}")
    if text.count("->") != 1:
        raise ValueError(f"signature must have one '->' between inputs and outputs, got {text!r}")
    left, right = text.split("->")
    bounds: dict[str, tuple[int, int | None]] = {}
    inputs = _parse_side(left, "inputs", text, bounds)
    outputs = _parse_side(right, "outputs", text, bounds)
    if not outputs:
        raise ValueError(f"signature must name at least one output, got {text!r}")
    named = {d for shape in inputs for d in shape if isinstance(d, str)} | set(known)
    unknown = sorted({d for s in outputs for d in s if isinstance(d, str)} - named)
    if unknown:
        raise ValueError(f"signature={text!r}: output sizes {unknown} appear in no input")
    return Signature(inputs, outputs, loop, text, bounds, tuple(known))


@dataclass(frozen=True)
class CallSpec:
    """One call described: the example's arguments (values, markers, or strategies drawn per
    example), which of them are differentiable tensors and which the signature describes, the
    shapes' signature, and the outputs' structure (probed once from the example).

    ``drawn`` lists the positions of the arguments the signature's inputs describe, in order
    (the floating tensors ``diff`` and the ``index()`` markers); ``loops[j]`` is how many loop
    dimensions ``drawn[j]`` has in the example (gufunc loop dimensions; with
    ``signature.loop`` every floating input has the drawn loop dimensions).
    """

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    diff: tuple[int, ...]
    signature: Signature
    example_sizes: dict[str, int]
    elementwise: bool = False
    #: how many tensors the Function returns, and whether as a tuple
    n_outputs: int = 1
    returns_tuple: bool = False
    #: indices of the outputs that carry gradients (floating, not marked non-differentiable)
    differentiable_outputs: tuple[int, ...] = (0,)
    #: dtype of each output in the example call (float outputs follow the inputs' dtype)
    output_dtypes: tuple[Any, ...] = ()
    drawn: tuple[int, ...] = ()
    loops: tuple[int, ...] = ()
    #: the example's own loop shape (its broadcast), for the edges check
    example_loop: tuple[int, ...] = ()

    @property
    def has_loops(self) -> bool:
        """Loop dimensions are drawn (elementwise, ``batch=True``, or the example's)."""
        return self.signature.loop or any(self.loops)

    def core_of(self, position: int) -> tuple[Dim, ...]:
        """The core shape the signature gives argument ``position``."""
        return self.signature.inputs[self.drawn.index(position)]

    def output_shapes(
        self,
        input_shapes: list[tuple[int, ...]],
        loop: tuple[int, ...] | None = None,
        sizes: dict[str, int] | None = None,
    ) -> list[tuple[int, ...]]:
        """Each output's shape for a call whose floating tensors have ``input_shapes`` (and
        whose loop shape and named sizes are ``loop`` and ``sizes``, where known: a size only
        an index argument's range names is in no tensor's shape)."""
        sig = self.signature
        cores = [self.core_of(i) for i in self.diff] if self.drawn else list(sig.inputs)
        sizes = dict(sizes or {})
        loops: list[tuple[int, ...]] = []
        for core, shape in zip(cores, input_shapes, strict=True):
            n_loop = len(shape) - len(core)
            loops.append(tuple(shape[:n_loop]))
            for d, n in zip(core, shape[n_loop:], strict=True):
                if isinstance(d, str):
                    sizes.setdefault(d, n)
        for name in sig.names:  # sizes only an index argument carries: from the drawn call
            sizes.setdefault(name, self.example_sizes.get(name, 0))
        if loop is None:
            loop = _broadcast(loops)
        return [sig.shape(core, sizes, loop) for core in sig.outputs]


def _broadcast(shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    """numpy's broadcast of loop shapes (the sizes are known to broadcast)."""
    n = max((len(s) for s in shapes), default=0)
    out = []
    for j in range(n):
        sizes = [s[len(s) - n + j] for s in shapes if len(s) - n + j >= 0]
        big = [v for v in sizes if v != 1]
        out.append(big[0] if big else 1)
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# reading an example


def _default_size(signature: Signature, name: str) -> int:
    """The example's value of a size no example tensor fixes: 3, or its lower bound."""
    lo, hi = signature.bound(name)
    value = max(lo, 3)
    return value if hi is None else min(value, hi)


def describe_call(
    example: tuple[Any, ...], kwargs: dict[str, Any], signature: str | None, batch: bool
) -> CallSpec:
    """Which arguments of ``example`` are drawn and how (the outputs' structure is filled in by
    the subject, which calls the Function): floating tensors are the differentiable inputs
    (``constant()`` ones are not), ``index()`` markers are drawn integer tensors, ``size()``
    markers plain ints. A ValueError/TypeError naming the argument where they do not fit the
    signature."""
    import torch

    from legendre_verify.verification.arguments import Index, Size

    diff = tuple(
        i for i, a in enumerate(example) if isinstance(a, torch.Tensor) and a.is_floating_point()
    )
    if not diff:
        raise ValueError(
            "example has no floating-point tensor argument, so nothing to differentiate: "
            f"example={example!r:.200}"
        )
    markers = [*example, *kwargs.values()]
    indexes = tuple(i for i, a in enumerate(example) if isinstance(a, Index))
    if any(isinstance(v, Index) for v in kwargs.values()):
        raise TypeError("index() arguments must be positional (in example=), not in kwargs=")
    named = [
        v for m in markers if isinstance(m, Index) for v in (m.high, m.low) if isinstance(v, str)
    ] + [m.name for m in markers if isinstance(m, Size)]
    if (indexes or named) and signature is None:
        raise ValueError(
            "index() and size() arguments take their shapes and sizes from signature=: give one "
            "that lists the floating tensors and the index arguments, in argument order, e.g. "
            "signature='(n,d),(n)->(m,d)'"
        )
    drawn = tuple(sorted(diff + indexes))
    if signature is None:
        shapes = tuple(tuple(example[i].shape) for i in diff)
        sig = Signature(shapes, (), loop=batch)
        return CallSpec(
            tuple(example), dict(kwargs), diff, sig, {}, drawn=drawn, loops=(0,) * len(drawn)
        )
    sig = parse_signature(signature, loop=batch, known=tuple(dict.fromkeys(named)))
    if len(sig.inputs) != len(drawn):
        what = f"{len(diff)} floating-point tensor argument(s) (positions {list(diff)})"
        if indexes:
            what += f" and {len(indexes)} index() argument(s) (positions {list(indexes)})"
        raise ValueError(
            f"signature={signature!r} lists {len(sig.inputs)} input(s), but the example has {what}"
        )
    known = []  # (signature input, the example's shape) where the example has a tensor
    for j, i in enumerate(drawn):
        tensor = example[i].example if isinstance(example[i], Index) else example[i]
        if tensor is not None:
            known.append((j, tuple(tensor.shape)))
    partial = Signature(tuple(sig.inputs[j] for j, _ in known), (), text=sig.text)
    sizes, extra = partial.sizes_of([s for _, s in known], loops=not batch)
    loops = [0] * len(drawn)
    for (j, _), n in zip(known, extra, strict=True):
        loops[j] = n
    for j, i in enumerate(drawn):
        if loops[j] and i not in diff:
            raise ValueError(
                f"signature={signature!r}: the index() argument at position {i} has loop "
                "dimensions in its example; give index arguments their core shape only"
            )
    for m in markers:  # a size given by size(example=), or implied by an index's example
        if isinstance(m, Size) and m.example is not None:
            sizes.setdefault(m.name, m.example)
    for m in markers:
        given = m.example if isinstance(m, Index) and isinstance(m.high, str) else None
        if given is not None and given.numel():
            sizes.setdefault(m.high, int(given.max()) + 1)
    for name in sig.names:
        sizes.setdefault(name, _default_size(sig, name))
    for m in markers:
        if isinstance(m, Index):
            for what, v in (("high", m.high), ("low", m.low)):
                if isinstance(v, str) and v not in sizes:
                    raise ValueError(f"index({what}={v!r}) names a size the signature lacks")
    example_loops = [
        tuple(example[i].shape[: loops[j]]) for j, i in enumerate(drawn) if loops[j] and i in diff
    ]
    try:
        example_loop = tuple(torch.broadcast_shapes(*example_loops)) if example_loops else ()
    except RuntimeError as error:
        raise ValueError(
            f"signature={signature!r}: the example's loop dimensions {example_loops} do not "
            f"broadcast: {error}"
        ) from error
    return CallSpec(
        tuple(example),
        dict(kwargs),
        diff,
        sig,
        sizes,
        drawn=drawn,
        loops=tuple(loops),
        example_loop=example_loop,
    )


def index_bounds(marker: Any, sizes: dict[str, int]) -> tuple[int, int]:
    """An ``index()`` marker's value range [low, high) for the named ``sizes``."""
    low = sizes[marker.low] if isinstance(marker.low, str) else marker.low
    high = sizes[marker.high] if isinstance(marker.high, str) else marker.high
    return low, high


def example_args(spec: CallSpec) -> tuple[list[Any], dict[str, Any]]:
    """The example as one concrete call in float64 (what probes run outside Hypothesis):
    floating tensors and constants in float64, ``index()`` markers as their example tensor or
    ``arange`` over their range (duplicates where it is shorter than the tensor), ``size()``
    markers as their example size, strategies as their simplest value."""
    import torch
    from hypothesis import find, settings
    from hypothesis import strategies as st

    from legendre_verify.verification.arguments import Constant, Index, Size

    def concrete(value: Any, position: int | None) -> Any:
        if isinstance(value, st.SearchStrategy):
            return find(value, lambda _: True, settings=settings(database=None, max_examples=50))
        if isinstance(value, Constant):
            return value.value(torch.float64, "cpu")
        if isinstance(value, Size):
            return spec.example_sizes[value.name]
        if isinstance(value, Index):
            if value.example is not None:
                return value.example.detach().to(value.dtype)
            core = spec.core_of(position) if position is not None else ()
            shape = spec.signature.shape(core, spec.example_sizes, ())
            low, high = index_bounds(value, spec.example_sizes)
            count = 1
            for n in shape:
                count *= n
            span = max(high - low, 1)
            return (torch.arange(count) % span + low).reshape(shape).to(value.dtype)
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return value.detach().to("cpu", torch.float64).clone()
        return value

    args = [concrete(a, i) for i, a in enumerate(spec.args)]
    kwargs = {k: concrete(v, None) for k, v in spec.kwargs.items()}
    return args, kwargs
