"""Hypothesis strategies for testing autograd Functions: tensors, dtypes, devices, layouts.

Built on ``hypothesis.extra.numpy``: values are drawn as numpy arrays (so they shrink like
numpy arrays do, towards small shapes and simple values) and then placed on the requested dtype,
device and memory layout. Edge values (the domain's ends, 0, a few ulps inside the ends) are
drawn often on purpose, because that is where hand-written derivatives go wrong.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from legendre_verify.verification.samples import LAYOUTS, Sample, with_layout
from legendre_verify.verification.signature import CallSpec

__all__ = [
    "FLOAT_DTYPES",
    "LAYOUTS",
    "available_devices",
    "calls",
    "devices",
    "dtypes",
    "edge_calls",
    "edge_values",
    "grad_outputs",
    "indices",
    "layouts",
    "overflow_magnitudes",
    "represents",
    "samples",
    "shapes",
    "tensors",
    "with_layout",
]

#: one call in this many is drawn empty (a size or a loop dimension 0)
EMPTY_ODDS = 8

#: every real floating dtype, lowest precision first
FLOAT_DTYPES: tuple[torch.dtype, ...] = (
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
)


def available_devices() -> list[torch.device]:
    """``cpu``, plus ``cuda`` when a CUDA device is usable here."""
    found = [torch.device("cpu")]
    if torch.cuda.is_available():
        found.append(torch.device("cuda"))
    return found


def _check_dtype(dtype: torch.dtype, name: str = "dtype") -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"{name} must be a real floating torch.dtype, got {name}={dtype!r}")
    return dtype


def _check_domain(domain: Sequence[float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in domain)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"domain must be a pair of numbers (lo, hi), got domain={domain!r}"
        ) from error
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"domain must be finite, got domain={domain!r}")
    if lo > hi:
        raise ValueError(f"domain must have lo <= hi, got domain={domain!r}")
    return lo, hi


def _inward(lo: float, hi: float, dtype: torch.dtype) -> tuple[float, float]:
    """The domain's ends rounded into ``dtype`` without leaving the domain."""
    ends = torch.tensor([lo, hi], dtype=torch.float64).to(dtype)
    lo_d, hi_d = ends.tolist()
    if lo_d < lo:
        lo_d = torch.nextafter(ends[0], ends[1]).item()
    if hi_d > hi:
        hi_d = torch.nextafter(ends[1], ends[0]).item()
    return lo_d, hi_d


def represents(domain: Sequence[float], dtype: torch.dtype) -> bool:
    """Does ``dtype`` hold a value inside the closed ``domain``? (float16 holds none of
    (1e-10, 1e-9); no dtype but float64 holds one of (0, 1e-300].)"""
    lo, hi = _check_domain(domain)
    lo_d, hi_d = _inward(lo, hi, _check_dtype(dtype))
    return lo <= lo_d <= hi_d <= hi


def _has_subnormals(lo: float, hi: float) -> bool:
    """Does [lo, hi] hold a float64 subnormal? (Hypothesis refuses ``allow_subnormal`` else.)"""
    tiny = float(torch.finfo(torch.float64).smallest_normal)
    return max(lo, -tiny) < min(hi, tiny)


def edge_values(domain: Sequence[float], dtype: torch.dtype, ulps: int = 3) -> list[float]:
    """The domain's ends, 0 when inside, and ``ulps`` values of ``dtype`` inside each end."""
    lo, hi = _inward(*_check_domain(domain), _check_dtype(dtype))
    values = {lo, hi}
    if lo <= 0.0 <= hi:
        values.add(0.0)
    for start, toward in ((lo, hi), (hi, lo)):
        current = torch.tensor(start, dtype=dtype)
        target = torch.tensor(toward, dtype=dtype)
        for _ in range(ulps):
            current = torch.nextafter(current, target)
            values.add(current.item())
    return sorted(values)


def dtypes(allowed: Sequence[torch.dtype] = FLOAT_DTYPES) -> st.SearchStrategy[torch.dtype]:
    """Floating dtypes, shrinking towards float64 (the dtype with the clearest failures)."""
    allowed = [_check_dtype(d, "allowed") for d in allowed]
    if not allowed:
        raise ValueError("allowed must name at least one dtype, got allowed=[]")
    return st.sampled_from(sorted(allowed, key=lambda d: -torch.finfo(d).bits))


def devices(allowed: Sequence[str | torch.device] | None = None) -> st.SearchStrategy[torch.device]:
    """Devices to run on: by default every available device (``cpu`` first)."""
    if allowed is None:
        return st.sampled_from(available_devices())
    resolved = [torch.device(d) for d in allowed]
    missing = [str(d) for d in resolved if d.type == "cuda" and not torch.cuda.is_available()]
    if missing:
        raise ValueError(f"devices {missing} were asked for, but CUDA is not available here")
    if not resolved:
        raise ValueError("allowed must name at least one device, got allowed=[]")
    return st.sampled_from(resolved)


def layouts(allowed: Sequence[str] = LAYOUTS) -> st.SearchStrategy[str]:
    """Memory layouts (see :data:`LAYOUTS`), shrinking towards ``contiguous``."""
    unknown = [a for a in allowed if a not in LAYOUTS]
    if unknown or not allowed:
        raise ValueError(f"allowed layouts must be among {LAYOUTS}, got {list(allowed)!r}")
    return st.sampled_from([a for a in LAYOUTS if a in allowed])


def shapes(
    *, min_dims: int = 0, max_dims: int = 3, min_side: int = 0, max_side: int = 5
) -> st.SearchStrategy[tuple[int, ...]]:
    """Shapes up to ``max_dims``-D, with empty (unless ``min_side`` > 0) and size-1 dims."""
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


@st.composite
def tensors(draw: st.DrawFn, **options: Any) -> torch.Tensor:
    """Tensors with values in the closed ``domain``, edge values included when ``edges``.

    Every argument takes a value or a strategy. Values are exactly representable in ``dtype``
    and never leave the domain. ``layout="expanded"`` yields a tensor with a stride-0 dimension.
    ``unique``: no two elements equal. ``cotangent``: values for grad_outputs and tangents,
    which shrink to simple numbers (multiples of 1/8 in [-2, 2], exact in every dtype) and are
    never subnormal: a failure shows 0, 1 or -0.5 rather than 1.2e-290 unless it needs
    another value. (Keywords: ``dtype``, ``shape``, ``device``, ``layout``, ``domain``,
    ``edges``, ``unique``, ``cotangent``.)
    """
    return draw_tensor(draw, **options)


def draw_tensor(
    draw: st.DrawFn,
    *,
    dtype: torch.dtype | st.SearchStrategy[torch.dtype] = torch.float64,
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]] | None = None,
    device: str | torch.device | st.SearchStrategy[torch.device] = "cpu",
    layout: str | st.SearchStrategy[str] = "contiguous",
    domain: Sequence[float] = (-1.0, 1.0),
    edges: bool = True,
    unique: bool = False,
    cotangent: bool = False,
) -> torch.Tensor:
    """:func:`tensors`' draw, callable inside another composite strategy without building a
    strategy object per draw (which costs Hypothesis more than the draw)."""
    lo, hi = _check_domain(domain)
    dtype = _check_dtype(draw(dtype) if isinstance(dtype, st.SearchStrategy) else dtype)
    device = torch.device(draw(device) if isinstance(device, st.SearchStrategy) else device)
    layout = draw(layout) if isinstance(layout, st.SearchStrategy) else layout
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got layout={layout!r}")
    if shape is None:
        shape = shapes()
    shape = tuple(draw(shape) if isinstance(shape, st.SearchStrategy) else shape)

    lo_d, hi_d = _inward(lo, hi, dtype)
    expand_dim = None
    if layout == "expanded" and shape:
        expand_dim = draw(_INTEGERS(len(shape) - 1))
    base_shape = tuple(1 if i == expand_dim else s for i, s in enumerate(shape))
    array = draw(_arrays(base_shape, dtype, lo_d, hi_d, edges, cotangent, unique))
    values = torch.from_numpy(array).to(dtype).clamp_(lo_d, hi_d).to(device)
    if expand_dim is not None:
        return values.expand(shape)
    return with_layout(values, layout)


@functools.lru_cache(maxsize=256)
def _INTEGERS(high: int) -> st.SearchStrategy[int]:
    return st.integers(0, high)


@functools.lru_cache(maxsize=256)
def _elements(
    dtype: torch.dtype, lo: float, hi: float, edges: bool, cotangent: bool
) -> st.SearchStrategy[float]:
    """The element strategy of :func:`tensors`, built once per dtype and range: building
    strategies anew for every draw costs Hypothesis more than the draw itself."""
    width = {torch.float16: 16, torch.float32: 32}.get(dtype, 64)
    if cotangent:
        return st.one_of(
            st.integers(-16, 16).map(lambda k: k / 8).filter(lambda v: lo <= v <= hi),
            st.floats(lo, hi, width=width, allow_subnormal=False),
        )
    elements = st.floats(
        lo, hi, width=width, allow_subnormal=width == 64 and _has_subnormals(lo, hi)
    )
    if edges:
        elements = st.one_of(elements, st.sampled_from(edge_values((lo, hi), dtype)))
    return elements


@functools.lru_cache(maxsize=4096)
def _arrays(
    shape: tuple[int, ...],
    dtype: torch.dtype,
    lo: float,
    hi: float,
    edges: bool,
    cotangent: bool,
    unique: bool,
) -> st.SearchStrategy[np.ndarray]:
    """numpy arrays of ``shape`` for :func:`tensors` (cached, as :func:`_elements`)."""
    return hnp.arrays(
        np.float64, shape, elements=_elements(dtype, lo, hi, edges, cotangent), unique=unique
    )


def grad_outputs(
    like: torch.Tensor, *, layout: str | st.SearchStrategy[str] = "contiguous"
) -> st.SearchStrategy[torch.Tensor]:
    """Cotangents for ``like``: same shape, dtype and device, values in [-2, 2] (zero included)."""
    return tensors(
        dtype=like.dtype,
        shape=tuple(like.shape),
        device=like.device,
        layout=layout,
        domain=(-2.0, 2.0),
        cotangent=True,
    )


@st.composite
def samples(
    draw: st.DrawFn,
    *,
    arity: int = 1,
    dtype: torch.dtype | st.SearchStrategy[torch.dtype] = torch.float64,
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]] | None = None,
    device: str | torch.device | st.SearchStrategy[torch.device] = "cpu",
    layout: str | st.SearchStrategy[str] = "contiguous",
    grad_layout: str | st.SearchStrategy[str] | None = None,
    domain: Sequence[float] = (-1.0, 1.0),
    edges: bool = True,
    requires_grad: tuple[bool, ...] | st.SearchStrategy[tuple[bool, ...]] | None = None,
) -> Sample:
    """A :class:`~legendre_verify.samples.Sample` for a Function of ``arity`` tensors: inputs of
    one shape, dtype and device (each with its own layout draw), a cotangent (``grad_layout``,
    default ``layout``) and double-backward vectors, values in [-2, 2]."""
    if isinstance(arity, bool) or not isinstance(arity, int) or arity < 1:
        raise ValueError(f"arity must be an int >= 1, got arity={arity!r}")
    dtype = draw(dtype) if isinstance(dtype, st.SearchStrategy) else dtype
    device = draw(device) if isinstance(device, st.SearchStrategy) else device
    shape = draw(shapes() if shape is None else shape) if not isinstance(shape, tuple) else shape
    common = dict(dtype=dtype, shape=shape, device=device)
    inputs = tuple(
        draw_tensor(draw, **common, layout=layout, domain=domain, edges=edges) for i in range(arity)
    )
    grad_output = draw_tensor(
        draw,
        **common,
        layout=layout if grad_layout is None else grad_layout,
        domain=(-2.0, 2.0),
        cotangent=True,
    )
    second = tuple(
        draw_tensor(draw, **common, domain=(-2.0, 2.0), cotangent=True) for i in range(arity)
    )
    if requires_grad is None:
        requires_grad = (True,) * arity
    elif isinstance(requires_grad, st.SearchStrategy):
        requires_grad = draw(requires_grad)
    return Sample.elementwise(inputs, grad_output, second, tuple(requires_grad))


def _value_or_draw(draw: st.DrawFn, value: Any, label: str) -> Any:
    return draw(value, label=label) if isinstance(value, st.SearchStrategy) else value


def _size_range(bound: tuple[int, int | None], small: bool) -> tuple[int, int]:
    """The range a named size is drawn from: 0 to 4 (``small``: 1 to 3, for finite
    differences), moved up to a lower bound and capped by an upper one."""
    low, high = (1, 3) if small else (0, 4)
    lo_b, hi_b = bound
    if lo_b > low:
        low, high = lo_b, max(high, lo_b + (1 if small else 2))
    if hi_b is not None:
        high = min(high, hi_b)
        low = min(low, high)
    return low, high


def _loop_variant(draw: st.DrawFn, full: tuple[int, ...], label: str) -> tuple[int, ...]:
    """One argument's loop shape that broadcasts to ``full``: all of it (most often), with
    some dimensions 1, or with leading dimensions missing."""
    how = draw(st.sampled_from(["full", "ones", "fewer"]), label=f"{label} broadcast")
    if how == "full" or not full:
        return full
    if how == "fewer":
        return full[draw(st.integers(1, len(full)), label=f"{label} dropped") :]
    ones = draw(st.lists(st.booleans(), min_size=len(full), max_size=len(full)), label=label)
    return tuple(1 if one else n for n, one in zip(full, ones, strict=True))


@st.composite
def indices(
    draw: st.DrawFn, shape: tuple[int, ...], low: int, high: int, dtype: torch.dtype
) -> torch.Tensor:
    """Integer index tensors with values in [low, high): duplicates, sorted and unsorted
    orders, a single repeated value, all-distinct values and both ends of the range are drawn
    on purpose (empty segments follow: values of the range no element takes)."""
    count = math.prod(shape)
    if count == 0:
        return torch.zeros(shape, dtype=dtype)
    if high <= low:
        from hypothesis import reject

        reject()  # no valid index into an empty range
    pattern = draw(
        st.sampled_from(["any", "sorted", "repeated", "distinct", "ends"]), label="index pattern"
    )
    if pattern == "distinct" and count <= high - low:
        values = draw(st.permutations(range(low, high)), label="index values")[:count]
    else:
        values = draw(
            st.lists(st.integers(low, high - 1), min_size=count, max_size=count),
            label="index values",
        )
        if pattern == "sorted":
            values = sorted(values)
        elif pattern == "repeated":
            values = [values[0]] * count
        elif pattern == "ends":
            values = [low if v % 2 == low % 2 else high - 1 for v in values]
    return torch.tensor(values, dtype=torch.int64).reshape(shape).to(dtype)


@st.composite
def calls(
    draw: st.DrawFn,
    spec: CallSpec,
    *,
    dtype: torch.dtype | st.SearchStrategy[torch.dtype] = torch.float64,
    device: str | torch.device | st.SearchStrategy[torch.device] = "cpu",
    layout: str | st.SearchStrategy[str] = "contiguous",
    domain: Sequence[float] = (-1.0, 1.0),
    edges: bool = True,
    small: bool = False,
    requires_grad: tuple[bool, ...] | st.SearchStrategy[tuple[bool, ...]] | None = None,
) -> Sample:
    """A :class:`~legendre_verify.verification.samples.Sample` of a call described by ``spec``:
    named sizes drawn within their bounds (1 included unless bounded, and one
    call in :data:`EMPTY_ODDS` empty; ``small``: 1 to 3, for finite differences), loop dimensions where the signature or the example has them
    (broadcast between arguments), floating tensors with values in ``domain`` (each its own
    ``layout`` draw), ``index()`` arguments drawn in their range, constants cast to the
    sample's dtype and device, strategies in the example drawn, other arguments as given, and
    cotangents and tangents in [-2, 2]."""
    from legendre_verify.verification.arguments import Constant, Index, Size
    from legendre_verify.verification.signature import index_bounds

    dtype = _value_or_draw(draw, dtype, "dtype")
    device = torch.device(_value_or_draw(draw, device, "device"))
    signature = spec.signature
    ranges = {name: _size_range(signature.bound(name), small) for name in signature.names}
    has_loop = bool(signature.loop or any(spec.loops))
    # an empty call (one size, or one loop dimension, 0) is drawn on purpose, about one call
    # in EMPTY_ODDS, not as a side effect of each size's range: with three sizes in 0..4
    # half the calls were empty, and a short run judged little but empty tensors
    emptiable = [name for name, (lo, hi) in ranges.items() if lo == 0 <= hi]
    empty: str | None = None
    if (
        not small
        and (emptiable or has_loop)
        and draw(st.integers(0, EMPTY_ODDS - 1), label="empty call") == EMPTY_ODDS - 1
    ):
        empty = draw(st.sampled_from([*emptiable, *(["loop"] if has_loop else [])]))
    sizes = {
        name: 0
        if name == empty
        else draw(st.integers(min(max(lo, 1), hi), hi), label=f"size {name}")
        for name, (lo, hi) in ranges.items()
    }
    full: tuple[int, ...] = ()
    if has_loop:
        most = 4 if spec.elementwise else 2
        full = tuple(
            draw(
                shapes(min_dims=1, max_dims=2, min_side=1, max_side=3)
                if small
                else shapes(
                    max_dims=most,
                    min_side=0 if empty == "loop" else 1,
                    max_side=5 if spec.elementwise else 3,
                ),
                label="loop shape",
            )
        )
        if empty == "loop" and 0 not in full:
            full = (0, *full[1:]) if full else (0,)
    loops: dict[int, tuple[int, ...]] = {}
    for j, i in enumerate(spec.drawn or spec.diff):
        if signature.loop and i in spec.diff:
            loops[i] = full
        elif spec.loops and spec.loops[j]:
            several = sum(1 for n in spec.loops if n) > 1
            loops[i] = _loop_variant(draw, full, f"argument {i}") if several else full
    loop = tuple(torch.broadcast_shapes(*loops.values())) if loops else ()
    args = []
    for i, value in enumerate(spec.args):
        if i in spec.diff:
            core = spec.core_of(i) if spec.drawn else signature.inputs[spec.diff.index(i)]
            value = draw_tensor(
                draw,
                dtype=dtype,
                shape=signature.shape(core, sizes, loops.get(i, ())),
                device=device,
                layout=layout,
                domain=domain,
                edges=edges,
                unique=small,
            )
        elif isinstance(value, Index):
            shape = signature.shape(spec.core_of(i), sizes, ())
            value = draw(
                indices(shape, *index_bounds(value, sizes), value.dtype), label=f"argument {i}"
            ).to(device)
        elif isinstance(value, Constant):
            value = value.value(dtype, device)
        elif isinstance(value, Size):
            value = sizes[value.name]
        else:
            value = _value_or_draw(draw, value, f"argument {i}")
            if isinstance(value, torch.Tensor):
                value = value.to(device)
        args.append(value)
    kwargs = {}
    for k, v in spec.kwargs.items():
        if isinstance(v, Constant):
            kwargs[k] = v.value(dtype, device)
        elif isinstance(v, Size):
            kwargs[k] = sizes[v.name]
        else:
            kwargs[k] = _value_or_draw(draw, v, f"keyword {k}")
    grads = tuple(
        draw_tensor(
            draw,
            dtype=dtype,
            shape=signature.shape(signature.outputs[k], sizes, loop),
            device=device,
            layout=layout,
            domain=(-2.0, 2.0),
            cotangent=True,
        )
        for k in spec.differentiable_outputs
    )
    tangents = tuple(
        draw_tensor(
            draw,
            dtype=dtype,
            shape=tuple(args[i].shape),
            device=device,
            domain=(-2.0, 2.0),
            cotangent=True,
        )
        for i in spec.diff
    )
    if requires_grad is None:
        requires_grad = (True,) * len(spec.diff)
    requires_grad = tuple(_value_or_draw(draw, requires_grad, "requires_grad"))
    return Sample(tuple(args), spec.diff, grads, tangents, requires_grad, kwargs, sizes, loop)


def overflow_magnitudes(dtype: torch.dtype) -> list[float]:
    """Input magnitudes past which ``exp`` overflows in ``dtype`` (ln of its largest value,
    plus 1, and twice that): where a softmax, a logsumexp or a sigmoid written without
    subtracting the max gives inf or NaN while the truth is finite."""
    top = math.log(float(torch.finfo(dtype).max))
    return [top + 1.0, 2.0 * top]


@st.composite
def edge_calls(
    draw: st.DrawFn,
    spec: CallSpec,
    dtypes: Sequence[torch.dtype],
    devices: Sequence[torch.device],
    domain: Sequence[float],
    overflow: bool = False,
) -> Sample:
    """One call per dtype and device whose floating tensors hold the domain's edge values:
    for an elementwise Function every combination of edges across its inputs; otherwise each
    input at the example's shapes filled with the edges in turn (shifted per input). With
    ``overflow`` (a general Function with no domain given), the edges may also be scaled to
    the :func:`overflow_magnitudes` of the dtype, for all inputs at once or one at a time."""
    from legendre_verify.verification.arguments import Constant
    from legendre_verify.verification.signature import example_args

    dtype = draw(st.sampled_from(list(dtypes)))
    device = draw(st.sampled_from(list(devices)))
    axis = torch.tensor(edge_values(domain, dtype), dtype=torch.float64)
    n = len(spec.diff)
    example = [] if spec.elementwise else example_args(spec)[0]
    if spec.elementwise:
        grids = torch.meshgrid(*([axis] * n), indexing="ij")
        inputs = [g.reshape(-1) for g in grids]
    else:
        shapes_ = [tuple(example[i].shape) for i in spec.diff]
        inputs = []
        for j, shape in enumerate(shapes_):
            count = math.prod(shape)
            index = (torch.arange(count) + j) % len(axis)
            inputs.append(axis[index].reshape(shape))
    if overflow:
        magnitude = draw(st.sampled_from([1.0, *overflow_magnitudes(dtype)]), label="magnitude")
        if magnitude != 1.0:
            scaled = draw(st.sampled_from([None, *range(n)]), label="scaled input")
            inputs = [
                x * magnitude / max(abs(domain[0]), abs(domain[1]))
                if scaled is None or j == scaled
                else x
                for j, x in enumerate(inputs)
            ]
    inputs = [x.to(dtype=dtype, device=device) for x in inputs]
    args = []
    for i, a in enumerate(spec.args):
        if isinstance(a, Constant):
            args.append(a.value(dtype, device))
        elif isinstance(a, st.SearchStrategy):
            args.append(draw(a, label=f"argument {i}"))
        else:
            value = example[i] if example else a
            args.append(value.to(device) if isinstance(value, torch.Tensor) else value)
    sample = Sample(tuple(args), spec.diff, (), (), (True,) * n)
    sample = sample.with_inputs(inputs)
    loop = None if spec.elementwise else spec.example_loop
    sizes = {} if spec.elementwise else dict(spec.example_sizes)
    out_shapes = spec.output_shapes([tuple(x.shape) for x in inputs], loop, sizes)
    grads = tuple(
        torch.ones(out_shapes[k], dtype=dtype, device=device) for k in spec.differentiable_outputs
    )
    kwargs = {}
    if not spec.elementwise:
        concrete = example_args(spec)[1]
        for k, v in spec.kwargs.items():
            if isinstance(v, Constant):
                kwargs[k] = v.value(dtype, device)
            elif isinstance(v, st.SearchStrategy):
                kwargs[k] = draw(v, label=f"keyword {k}")
            else:
                kwargs[k] = concrete[k]
    return Sample(
        sample.args,
        spec.diff,
        grads,
        tuple(torch.ones_like(x) for x in inputs),
        (True,) * n,
        kwargs,
        sizes,
        loop,
    )
