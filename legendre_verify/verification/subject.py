"""What is verified: the Function, how it is called, what "true" means for it, and what it can
do (forward-mode AD, vmap, double backward, ...), probed once. Every argument a user passes to
``verify()`` is validated here, with one error style: a ``TypeError``/``ValueError`` naming the
argument and the bad value.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from hypothesis import find, settings
from hypothesis import strategies as st

from legendre_verify.verification.oracles import (
    DerivedOracle,
    Oracle,
    OracleError,
    ReferenceOracle,
    SelfOracle,
    SymbolicOracle,
)
from legendre_verify.verification.signature import CallSpec, Signature, parse_signature

__all__ = ["COMPARE_MODES", "Capability", "Subject", "build_subject"]

#: how an output may be compared (``compare={index: mode}``); a callable
#: ``(got, expected, sample) -> list[str]`` is accepted too
COMPARE_MODES = ("close", "exact", "ties", "ignore")


class Capability(enum.Enum):
    """What a check may need of the subject or of this machine."""

    TRUTH = "an oracle that knows the truth"
    FORWARD_AD = "forward-mode AD (jvp)"
    VMAP = "torch.func.vmap support"
    VMAP_OF_GRAD = "torch.func.vmap of torch.func.grad support"
    DOUBLE_BACKWARD = "a differentiable backward"
    CUDA = "a CUDA device"
    CUSTOM_OP = "a torch.library custom op"
    MULTIPLE_OUTPUTS = "two or more differentiable outputs"
    LOOP = "loop dimensions (elementwise, or batch=True)"
    BATCH = "batch=True on a non-elementwise Function"


@dataclass
class Subject:
    """The Function under test, its call description, oracles and probed capabilities."""

    fn: Callable[..., Any]
    spec: CallSpec
    oracles: list[Oracle]
    domain: tuple[float, float] = (-1.0, 1.0)
    name: str = "fn"
    capabilities: frozenset[Capability] = frozenset()
    reasons: dict[Capability, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: the Function writes into inputs it declares with ctx.mark_dirty: pass it private copies
    dirty: bool = False
    compare: dict[int, Any] = field(default_factory=dict)
    #: declared kinks of an elementwise Function (finite differences keep away from them)
    kinks: tuple[float, ...] = ()
    call: str = "fn"
    preamble: tuple[str, ...] = ()
    _compiled: dict[str, Callable[..., Any]] = field(default_factory=dict, repr=False)

    @property
    def arity(self) -> int:
        return len(self.spec.diff)

    @property
    def elementwise(self) -> bool:
        return self.spec.elementwise

    @property
    def truths(self) -> list[Oracle]:
        """Oracles that know the truth (not the Function's own float64 result)."""
        return [o for o in self.oracles if o.truthful]

    @property
    def yardstick(self) -> Oracle:
        """The oracle that sets tolerances and the truth of self-consistency checks: the first
        truthful one, else the Function's own float64 result."""
        return self.truths[0] if self.truths else self.self_oracle

    @property
    def self_oracle(self) -> Oracle:
        if "_self" not in self._compiled:
            oracle = SelfOracle(self.fn)
            oracle.differentiable_outputs = self.spec.differentiable_outputs
            self._compiled["_self"] = oracle  # type: ignore[assignment]
        return self._compiled["_self"]  # type: ignore[return-value]

    def missing(self, capability: Capability) -> str | None:
        """Why ``capability`` is missing (the skip reason), or None when it is there."""
        if capability in self.capabilities:
            return None
        return self.reasons.get(capability, f"needs {capability.value}")

    def compiled(self, backend: str) -> Callable[..., Any]:
        if backend not in self._compiled:
            self._compiled[backend] = torch.compile(self.fn, backend=backend)
        return self._compiled[backend]

    def describe(self) -> list[str]:
        """Lines for the report: the oracles used and what was probed."""
        oracles = ", ".join(o.name for o in self.truths) or "none (self-consistency checks only)"
        sig = self.spec.signature.text or (
            "elementwise" if self.elementwise else "the example's shapes"
        )
        return [f"oracle: {oracles}; shapes: {sig}", *self.notes]


# ---------------------------------------------------------------------------------------------
# building and validating


def _arity_of(func: Callable[..., Any]) -> int | None:
    owner = getattr(func, "__self__", None)
    if isinstance(owner, type) and issubclass(owner, torch.autograd.Function):
        arity = _arity_of(owner.forward)
        new_style = owner.setup_context is not torch.autograd.Function.setup_context
        return None if arity is None else arity - (0 if new_style else 1)
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return None
    return sum(
        p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        for p in params
    )


def _resolve_arity(arity: int | None, fn: Any, symbolic: Any, reference: Any) -> int:
    """``arity``, else the parameter count of symbolic/reference, else fn's, else 1 (builtins
    such as ``torch.exp`` hide their signature; the probe then confirms the count)."""
    if arity is not None:
        if isinstance(arity, bool) or not isinstance(arity, int) or arity < 1:
            raise ValueError(f"arity must be an int >= 1, got arity={arity!r}")
        return arity
    found = {
        name: _arity_of(f)
        for name, f in (("symbolic", symbolic), ("reference", reference))
        if f is not None
    }
    known = {name: a for name, a in found.items() if a is not None}
    if len(set(known.values())) > 1:
        raise TypeError(f"symbolic and reference take different numbers of arguments: {known}")
    if known:
        return next(iter(known.values()))
    return _arity_of(fn) or 1


_INTERVAL = re.compile(r"^\s*([\[(])\s*([^,]+?)\s*,\s*([^,]+?)\s*([\])])\s*$")


def check_domain(domain: Any) -> tuple[float, float]:
    """The closed float64 interval the floating inputs are drawn from.

    ``domain`` is a pair ``(lo, hi)`` (both ends included) or a string in interval notation,
    ``"(0, 4]"``, ``"[-1, 1)"``: an open end becomes the neighbouring float64 inside. Not
    finite, or empty: a ValueError; not numbers: a TypeError.
    """
    open_lo = open_hi = False
    if isinstance(domain, str):
        match = _INTERVAL.match(domain)
        if not match:
            raise TypeError(
                f"domain must be (lo, hi) or an interval such as '(0, 4]', got domain={domain!r}"
            )
        left, a, b, right = match.groups()
        open_lo, open_hi, pair = left == "(", right == ")", (a, b)
    else:
        pair = domain
    try:
        lo, hi = (float(v) for v in pair)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"domain must be a pair of numbers (lo, hi), got domain={domain!r}"
        ) from error
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"domain must be finite, got domain={domain!r}")
    if not lo < hi:
        raise ValueError(f"domain must be a non-empty interval lo < hi, got domain={domain!r}")
    if open_lo:
        lo = math.nextafter(lo, math.inf)
    if open_hi:
        hi = math.nextafter(hi, -math.inf)
    if not lo <= hi:  # pragma: no cover - (a, nextafter(a)) holds no float64
        raise ValueError(f"domain {domain!r} holds no float64 value")
    return lo, hi


def function_class(fn: Any) -> type[torch.autograd.Function] | None:
    """The autograd Function class when ``fn`` is ``SomeFunction.apply``."""
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type) and issubclass(owner, torch.autograd.Function):
        return owner
    return None


def is_custom_op(fn: Any) -> bool:
    """Is ``fn`` a ``torch.library.custom_op`` (or an OpOverload)?"""
    from torch._library.custom_ops import CustomOpDef

    return isinstance(fn, CustomOpDef | torch._ops.OpOverload | torch._ops.OpOverloadPacket)


def _name_of(fn: Callable[..., Any]) -> str:
    cls = function_class(fn)
    if cls is not None:
        return f"{cls.__name__}.apply"
    if is_custom_op(fn):
        return str(getattr(fn, "_qualname", fn))
    name = getattr(fn, "__name__", None)
    if name and getattr(torch, name, None) is fn:  # torch.sin's qualname is a C class's
        return f"torch.{name}"
    return getattr(fn, "__qualname__", None) or repr(fn)


def _binding(fn: Callable[..., Any]) -> tuple[str, tuple[str, ...]]:
    """How a reproduce snippet calls ``fn``: an importable name where there is one, else
    ``fn`` with a line that says to bind it."""
    cls = function_class(fn)
    name = getattr(fn, "__name__", None)
    if cls is None and name and getattr(torch, name, None) is fn:
        return f"torch.{name}", ()
    target, attr = (cls, ".apply") if cls is not None else (fn, "")
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", "")
    if module and module != "__main__" and qualname and "<" not in qualname:
        try:
            found: Any = importlib.import_module(module)
            for part in qualname.split("."):
                found = getattr(found, part)
            if found is target:
                head = qualname.split(".")[0]
                return f"{qualname}{attr}", (f"from {module} import {head}",)
        except Exception:
            pass
    if is_custom_op(fn):
        name = getattr(fn, "_qualname", "")
        if "::" in name:
            ns, op = name.split("::", 1)
            return f"torch.ops.{ns}.{op}", ("# import the module that defines the op first",)
    return "fn", ("fn = ...  # bind fn to the callable you passed to verify()",)


def _concrete(value: Any) -> Any:
    """A strategy's simplest value (for probing); anything else as it is."""
    if isinstance(value, st.SearchStrategy):
        return find(value, lambda _: True, settings=settings(database=None, max_examples=50))
    return value


def _as_float64_leaves(args: Sequence[Any], diff: Sequence[int]) -> tuple[list, list]:
    args = [_concrete(a) for a in args]
    leaves = []
    for i in diff:
        leaf = args[i].detach().to("cpu", torch.float64).requires_grad_(True)
        leaves.append(leaf)
        args[i] = leaf.clone()
    return args, leaves


def _outputs(out: Any, who: str) -> tuple[tuple[torch.Tensor, ...], bool]:
    if isinstance(out, torch.Tensor):
        return (out,), False
    if isinstance(out, tuple | list) and out and all(isinstance(o, torch.Tensor) for o in out):
        return tuple(out), True
    raise TypeError(
        f"{who} must return a tensor or a tuple of tensors, got {type(out).__name__}: {out!r:.200}"
    )


def _example_spec(
    fn: Callable[..., Any],
    example: Any,
    kwargs: Any,
    signature: str | None,
    batch: bool,
) -> tuple[CallSpec, tuple[torch.Tensor, ...], bool]:
    """Validate ``example``/``kwargs``/``signature`` and probe the outputs' structure."""
    if not isinstance(example, tuple):
        raise TypeError(
            "example must be a tuple of one call's positional arguments, e.g. "
            f"example=(x, weight, bias), got {type(example).__name__}: {example!r:.200}"
        )
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise TypeError(f"kwargs must be a dict of keyword arguments, got kwargs={kwargs!r:.200}")
    diff = tuple(
        i for i, a in enumerate(example) if isinstance(a, torch.Tensor) and a.is_floating_point()
    )
    if not diff:
        raise ValueError(
            "example has no floating-point tensor argument, so nothing to differentiate: "
            f"example={example!r:.200}"
        )
    shapes = [tuple(example[i].shape) for i in diff]
    if signature is not None:
        sig = parse_signature(signature, loop=batch)
        if len(sig.inputs) != len(diff):
            raise ValueError(
                f"signature={signature!r} lists {len(sig.inputs)} input(s), but the example has "
                f"{len(diff)} floating-point tensor argument(s) (positions {list(diff)})"
            )
        sizes = sig.sizes_of(shapes)
    else:
        sig, sizes = Signature(tuple(shapes), (), loop=batch), {}
    args64, _leaves = _as_float64_leaves(example, diff)
    kwargs64 = {k: _concrete(v) for k, v in kwargs.items()}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = fn(*args64, **kwargs64)
    except TypeError as error:
        raise TypeError(
            f"fn does not accept the example's arguments (example={example!r:.200}): {error}"
        ) from error
    except Exception as error:
        raise ValueError(
            f"fn raised {type(error).__name__} on the example itself (in float64), so the "
            f"example does not describe a valid call: {error}"
        ) from error
    outs, returns_tuple = _outputs(out, "fn")
    out_shapes = tuple(tuple(o.shape) for o in outs)
    if signature is None:
        sig = replace(sig, outputs=out_shapes)
    elif len(sig.outputs) != len(outs):
        raise ValueError(
            f"signature={signature!r} lists {len(sig.outputs)} output(s), but fn returns "
            f"{len(outs)} on the example"
        )
    else:
        expected = [sig.shape(core, sizes, ()) for core in sig.outputs]
        if list(out_shapes) != expected:
            raise ValueError(
                f"signature={signature!r} gives output shapes {expected} for the example, but "
                f"fn returns {list(out_shapes)}"
            )
    dirty = any(o is a for o in outs for a in args64 if isinstance(a, torch.Tensor))
    spec = CallSpec(
        tuple(example),
        dict(kwargs),
        diff,
        sig,
        sizes,
        elementwise=False,
        n_outputs=len(outs),
        returns_tuple=returns_tuple,
        differentiable_outputs=tuple(
            k for k, o in enumerate(outs) if o.is_floating_point() and o.requires_grad
        ),
        output_dtypes=tuple(None if o.is_floating_point() else o.dtype for o in outs),
    )
    return spec, outs, dirty


def _elementwise_example(example: Any, kwargs: Any) -> bool:
    """Is ``example`` floating tensors of one shape alone (what ``symbolic=`` describes)?"""
    return (
        isinstance(example, tuple)
        and bool(example)
        and not kwargs
        and all(isinstance(a, torch.Tensor) and a.is_floating_point() for a in example)
        and len({tuple(a.shape) for a in example}) == 1
    )


def _elementwise_spec(arity: int) -> CallSpec:
    placeholder = torch.zeros((), dtype=torch.float64)
    return CallSpec(
        (placeholder,) * arity,
        {},
        tuple(range(arity)),
        Signature(((),) * arity, ((),), loop=True),
        {},
        elementwise=True,
        output_dtypes=(None,),
    )


def _example_float64(spec: CallSpec) -> tuple[list[Any], dict[str, Any]]:
    """The example's arguments in float64 and detached, and its keywords with concrete values:
    what the probes call a Function or oracle with outside Hypothesis."""
    args, _ = _as_float64_leaves(spec.args, spec.diff)
    args = [a.detach() if isinstance(a, torch.Tensor) else a for a in args]
    return args, {k: _concrete(v) for k, v in spec.kwargs.items()}


def _check_reference_structure(
    oracle: Oracle, spec: CallSpec, outs: Sequence[torch.Tensor], label: str
) -> tuple[int, ...]:
    """Check the oracle takes the example and returns fn's output structure; the indices of
    the outputs it differentiates."""
    args64, _ = _as_float64_leaves(spec.args, spec.diff)
    kwargs64 = {k: _concrete(v) for k, v in spec.kwargs.items()}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = oracle._call(args64, kwargs64)  # type: ignore[attr-defined]
    except Exception as error:
        kind = TypeError if isinstance(error, TypeError) else ValueError
        raise kind(
            f"{label} raised {type(error).__name__} on the example's arguments: {error}"
        ) from error
    ref, _ = _outputs(got, label)
    mine = [(tuple(o.shape), o.is_floating_point()) for o in outs]
    theirs = [(tuple(o.shape), o.is_floating_point()) for o in ref]
    if mine != theirs:
        raise ValueError(
            f"{label} returns outputs (shape, floating) {theirs}, but fn returns {mine} "
            "on the example: the output structures must match"
        )
    return tuple(k for k, o in enumerate(ref) if o.is_floating_point() and o.requires_grad)


def _probe_arity(fn: Callable[..., Any], arity: int, domain: tuple[float, float]) -> None:
    """The elementwise form: ``fn`` takes ``arity`` tensors (a crash on plain input is a
    finding for the checks, not misuse)."""
    lo, hi = domain
    x = [torch.tensor([lo + (hi - lo) * f for f in (0.25, 0.5, 0.75)], dtype=torch.float64)] * arity
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(*x)
    except TypeError as error:
        if "argument" in str(error):
            raise TypeError(
                f"fn does not take {arity} tensor(s) (arity={arity}): {error}"
            ) from error
    except Exception:
        pass


def _probe_capabilities(
    fn: Callable[..., Any], spec: CallSpec, dirty: bool, domain: tuple[float, float]
) -> tuple[set[Capability], dict[Capability, str], list[str]]:
    """Which of forward-mode AD, vmap and double backward ``fn`` supports (on float64 copies
    of the example's tensors; for elementwise Functions, three points of the domain)."""
    lo, hi = domain
    if spec.elementwise:
        args = [
            torch.tensor([lo + (hi - lo) * f for f in (0.25, 0.5, 0.75)], dtype=torch.float64)
            for _ in spec.diff
        ]
    else:
        args = _example_float64(spec)[0]
    kwargs = {k: _concrete(v) for k, v in spec.kwargs.items()}
    floats = [args[i] for i in spec.diff]

    def call(*xs: torch.Tensor) -> Any:
        merged = list(args)
        for i, x in zip(spec.diff, xs, strict=True):
            merged[i] = x.clone() if dirty else x
        out = fn(*merged, **kwargs)
        outs = out if isinstance(out, tuple | list) else (out,)
        return tuple(outs[k] for k in spec.differentiable_outputs)

    found: set[Capability] = set()
    reasons: dict[Capability, str] = {}
    notes: list[str] = []

    def forward_ad() -> None:
        import torch.autograd.forward_ad as fw

        with fw.dual_level():
            outs = call(*(fw.make_dual(t, torch.ones_like(t)) for t in floats))
            if any(fw.unpack_dual(o).tangent is None for o in outs):
                raise RuntimeError(
                    "its outputs carry no tangent (torch drops it silently, as for a "
                    "torch.library custom op without forward-mode AD)"
                )
        torch.func.jvp(call, tuple(floats), tuple(torch.ones_like(t) for t in floats))

    def vmap_of_grad() -> None:
        (x,) = floats
        torch.func.vmap(torch.func.grad(lambda t: call(t.reshape(()))[0].sum()))(x)

    attempts = {
        Capability.FORWARD_AD: forward_ad,
        Capability.VMAP: lambda: torch.func.vmap(call)(*(torch.stack([t, t]) for t in floats)),
    }
    if spec.elementwise and len(floats) == 1:
        attempts[Capability.VMAP_OF_GRAD] = vmap_of_grad
    for capability, attempt in attempts.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                attempt()
            found.add(capability)
        except Exception as error:
            reasons[capability] = (
                f"the Function has no {capability.value} ({type(error).__name__}: "
                f"{str(error).splitlines()[0][:120] if str(error) else ''})"
            )
    found.add(Capability.DOUBLE_BACKWARD)
    try:
        leaves = [x.detach().requires_grad_(True) for x in floats]
        outs = call(*leaves)
        live = [o for o in outs if o.requires_grad]
        if live and spec.differentiable_outputs:
            # cotangents that require grad: @once_differentiable marks its results only then
            cotangents = [torch.ones_like(o).requires_grad_(True) for o in live]
            firsts = torch.autograd.grad(
                live, leaves, cotangents, create_graph=True, allow_unused=True
            )
            # @once_differentiable leaves a DelayedError node that raises if differentiated
            if any(f is not None and type(f.grad_fn).__name__.endswith("Error") for f in firsts):
                found.discard(Capability.DOUBLE_BACKWARD)
                reasons[Capability.DOUBLE_BACKWARD] = (
                    "no second order: the backward is @once_differentiable"
                )
                notes.append("backward is @once_differentiable: second-order checks skipped")
    except Exception:
        pass  # a crash here is a finding for the checks, not a missing capability
    return found, reasons, notes


def build_subject(
    fn: Callable[..., Any],
    *,
    example: tuple[Any, ...] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    signature: str | None = None,
    batch: bool = False,
    symbolic: Callable[..., Any] | None = None,
    reference: Callable[..., Any] | None = None,
    derived: bool | None = None,
    arity: int | None = None,
    domain: Sequence[float] = (-1.0, 1.0),
    compare: Mapping[int, Any] | None = None,
    kinks: Sequence[float] = (),
    name: str | None = None,
) -> Subject:
    """Validate every argument and build the :class:`Subject` (see ``verify`` for their
    meaning). Misuse is a TypeError/ValueError naming the argument, raised at once."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}: {fn!r}")
    for label, value in (("symbolic", symbolic), ("reference", reference)):
        if value is not None and not callable(value):
            raise TypeError(f"{label} must be callable, got {type(value).__name__}: {value!r}")
    if derived not in (None, True, False):
        raise TypeError(f"derived must be True, False or None (automatic), got {derived!r}")
    if not isinstance(batch, bool):
        raise TypeError(f"batch must be a bool, got batch={batch!r}")
    lo, hi = check_domain(domain)
    cls = function_class(fn)
    outs: tuple[torch.Tensor, ...] = ()
    dirty = False
    if symbolic is not None and signature is None and _elementwise_example(example, kwargs):
        # an example of tensors of one shape with a sympy truth: the elementwise form
        arity, example = len(example), None
    if example is None:
        for label, value in (("kwargs", kwargs), ("signature", signature)):
            if value is not None:
                raise TypeError(f"{label}= needs example= (one call's positional arguments)")
        if batch:
            raise TypeError("batch=True needs example= and signature=")
        arity = _resolve_arity(arity, fn, symbolic, reference)
        _probe_arity(fn, arity, (lo, hi))
        spec = _elementwise_spec(arity)
    else:
        if arity is not None:
            raise TypeError("arity= is for the elementwise form; with example= leave it out")
        spec, outs, dirty = _example_spec(fn, example, kwargs, signature, batch)
        if symbolic is not None:
            raise TypeError(
                "symbolic= describes elementwise Functions (verify(fn, symbolic=...) without "
                "example=); for a call described by example= pass reference= (plain torch with "
                "the same signature) or no oracle"
            )
    oracles: list[Oracle] = []
    notes: list[str] = []
    if symbolic is not None:
        try:
            oracles.append(SymbolicOracle(symbolic, len(spec.diff)))
        except Exception as error:
            raise TypeError(
                f"symbolic must map {len(spec.diff)} sympy symbol(s) to an expression: {error}"
            ) from error
    if reference is not None:
        oracle = ReferenceOracle(reference, len(spec.diff) if spec.elementwise else None)
        oracle.differentiable_outputs = spec.differentiable_outputs
        if spec.elementwise:
            try:
                oracle.derivative((0,) * len(spec.diff), [[0.5 * (lo + hi)]] * len(spec.diff))
            except TypeError as error:
                raise TypeError(
                    f"reference must take {len(spec.diff)} tensor(s) (arity={len(spec.diff)}): "
                    f"{error}"
                ) from error
            except OracleError as error:
                raise TypeError(f"reference: {error}") from error
        else:
            theirs = _check_reference_structure(oracle, spec, outs, "reference")
            # an output the truth differentiates is differentiable, whatever fn marks
            both = tuple(sorted(set(spec.differentiable_outputs) | set(theirs)))
            spec = replace(spec, differentiable_outputs=both)
            oracle.differentiable_outputs = both
        oracles.append(oracle)
    for oracle in oracles:
        if isinstance(oracle, ReferenceOracle):
            error = reference_precision(oracle, spec, (lo, hi))
            if error:
                oracle.derivative_error = 4 * error
                notes.append(
                    f"the reference's first derivative differs from its own finite differences "
                    f"by {error:.2g} (relative, in float64): an imprecise reference, trusted to "
                    f"{4 * error:.2g} of each derivative's size"
                )
    if not oracles and derived is not False:
        reason = None
        if cls is None:
            reason = "fn is not SomeFunction.apply"
        else:
            oracle = DerivedOracle(cls)
            oracle.differentiable_outputs = spec.differentiable_outputs
            reason = _derived_unusable(oracle, spec, outs, lo, hi)
            if reason is None:
                oracles.append(oracle)
                notes.append(
                    f"oracle derived from {cls.__name__}.forward, run outside the Function under "
                    "autograd in float64"
                )
        if reason is not None:
            if derived:
                raise ValueError(f"derived=True, but no oracle can be derived: {reason}")
            if example is None:
                raise TypeError(
                    "verify needs an oracle for the elementwise form: symbolic= (sympy) and/or "
                    f"reference= (torch) ({reason}); or describe the call with example= to run "
                    "the checks that need no truth"
                )
            notes.append(f"no oracle ({reason}): checks that need a truth are skipped")
    if compare is None:
        compare = {}
    if not isinstance(compare, Mapping):
        raise TypeError(f"compare must be a dict {{output index: mode}}, got {compare!r}")
    for k, mode in compare.items():
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < spec.n_outputs:
            raise ValueError(
                f"compare keys must be output indices 0..{spec.n_outputs - 1}, got {k!r}"
            )
        if not callable(mode) and mode not in COMPARE_MODES:
            raise ValueError(
                f"compare[{k}] must be one of {COMPARE_MODES} or a callable, got {mode!r}"
            )
    found, reasons, probe_notes = _probe_capabilities(fn, spec, dirty, (lo, hi))
    notes += probe_notes
    if any(o.truthful for o in oracles):
        found.add(Capability.TRUTH)
    else:
        reasons[Capability.TRUTH] = "needs a truth: no symbolic=, reference= or derived oracle"
    if torch.cuda.is_available():
        found.add(Capability.CUDA)
    else:
        reasons[Capability.CUDA] = "CUDA is not available here"
    if is_custom_op(fn):
        found.add(Capability.CUSTOM_OP)
    else:
        reasons[Capability.CUSTOM_OP] = "fn is not a torch.library custom op"
    if len(spec.differentiable_outputs) >= 2:
        found.add(Capability.MULTIPLE_OUTPUTS)
    else:
        reasons[Capability.MULTIPLE_OUTPUTS] = "fewer than two differentiable outputs"
    if spec.signature.loop:
        found.add(Capability.LOOP)
    else:
        reasons[Capability.LOOP] = "no loop dimensions (pass batch=True if fn takes them)"
    if spec.signature.loop and not spec.elementwise:
        found.add(Capability.BATCH)
    else:
        reasons[Capability.BATCH] = (
            "elementwise (the shapes check covers it)" if spec.elementwise else "batch=False"
        )
    try:
        kinks = tuple(float(k) for k in kinks)
    except (TypeError, ValueError) as error:
        raise TypeError(f"kinks must be a list of numbers, got kinks={kinks!r}") from error
    if not all(math.isfinite(k) for k in kinks):
        raise ValueError(f"kinks must be finite, got kinks={kinks!r}")
    call, preamble = _binding(fn)
    return Subject(
        fn,
        spec,
        oracles,
        (lo, hi),
        name or _name_of(fn),
        frozenset(found),
        reasons,
        notes,
        dirty,
        dict(compare),
        kinks,
        call,
        preamble,
    )


#: a reference whose first derivative differs from its own central finite differences by more
#: than this (relative, median over trials, beyond ten times the differences' own rounding
#: error) is imprecise: above the truncation error of a step of 1e-5 (~1e-11 for a smooth
#: function), far below a derivative bug worth finding (1e-4)
IMPRECISE_REFERENCE = 1e-9


def reference_precision(
    oracle: Oracle, spec: CallSpec, domain: tuple[float, float], trials: int = 7
) -> float:
    """The median relative difference between the oracle's vjp and central finite differences
    of its own outputs along random directions (float64, at the example or at points across
    the domain): 0 where it is within :data:`IMPRECISE_REFERENCE`."""
    from legendre_verify.verification.samples import Sample

    lo, hi = domain
    generator = torch.Generator().manual_seed(2)
    if spec.elementwise:  # random interior points: a kink is within reach with probability ~0
        args: list[Any] = [
            lo + (hi - lo) * (0.05 + 0.9 * torch.rand(9, generator=generator, dtype=torch.float64))
            for _ in spec.diff
        ]
        kwargs: dict[str, Any] = {}
    else:
        args, kwargs = _example_float64(spec)
    base = Sample(tuple(args), spec.diff, (), (), (True,) * len(spec.diff), kwargs)
    try:
        outs = oracle.ask("outputs", base)
    except OracleError:
        return 0.0
    errors = []
    for _ in range(trials):
        gs = tuple(
            torch.rand(outs[k].shape, generator=generator, dtype=torch.float64) * 2 - 1
            for k in spec.differentiable_outputs
        )
        us = [
            torch.rand(args[i].shape, generator=generator, dtype=torch.float64) * 2 - 1
            for i in spec.diff
        ]
        sample = Sample(tuple(args), spec.diff, gs, tuple(us), (True,) * len(spec.diff), kwargs)
        h = 1e-5 * max(1.0, max(float(args[i].abs().max()) for i in spec.diff if args[i].numel()))

        def along(step: float, sample: Sample = sample, us: list = us, gs: tuple = gs) -> float:
            moved = sample.with_inputs(
                [args[i] + step * u for i, u in zip(spec.diff, us, strict=True)]
            )
            values = oracle.ask("outputs", moved)
            return sum(
                float((values[k] * g).sum())
                for k, g in zip(spec.differentiable_outputs, gs, strict=True)
            )

        try:
            grads = oracle.ask("vjp", sample)
            exact = sum(
                float((g * u).sum()) for g, u in zip(grads, us, strict=True) if g is not None
            )
            finite = (along(h) - along(-h)) / (2 * h)
        except OracleError:
            return 0.0
        size = sum(
            float((g.abs() * u.abs()).sum())
            for g, u in zip(grads, us, strict=True)
            if g is not None
        )
        # the central difference's own rounding error: eps * sum |g f| / h
        own = (
            2.0**-52
            * sum(
                float((outs[k].abs() * g.abs()).sum())
                for k, g in zip(spec.differentiable_outputs, gs, strict=True)
            )
            / h
        )
        if size > 0 and math.isfinite(exact) and math.isfinite(finite):
            errors.append(max(0.0, abs(exact - finite) - 10 * own) / size)
    if not errors:
        return 0.0
    median = sorted(errors)[len(errors) // 2]
    return median if median > IMPRECISE_REFERENCE else 0.0


def _derived_unusable(
    oracle: DerivedOracle, spec: CallSpec, outs: Sequence[torch.Tensor], lo: float, hi: float
) -> str | None:
    """None when the Function's forward runs outside it and is differentiable; else why not."""
    if spec.elementwise:
        args = [
            torch.tensor([lo + (hi - lo) * f for f in (0.25, 0.5, 0.75)], dtype=torch.float64)
            for _ in spec.diff
        ]
        kwargs: dict[str, Any] = {}
    else:
        args, kwargs = _example_float64(spec)
    leaves = [args[i].detach().requires_grad_(True) for i in spec.diff]
    merged = list(args)
    for i, leaf in zip(spec.diff, leaves, strict=True):
        merged[i] = leaf.clone()
    try:
        with warnings.catch_warnings(), torch.enable_grad():
            warnings.simplefilter("ignore")
            got, _ = _outputs(oracle._call(merged, kwargs), "forward")
    except Exception as error:
        return f"{oracle.function.__name__}.forward does not run outside the Function ({type(error).__name__}: {error})"
    for k in spec.differentiable_outputs:
        if k >= len(got) or not got[k].requires_grad:
            return (
                f"{oracle.function.__name__}.forward is not differentiable torch (output {k} "
                "does not require grad when run outside the Function)"
            )
    if outs and [tuple(o.shape) for o in got] != [tuple(o.shape) for o in outs]:
        return f"{oracle.function.__name__}.forward run outside the Function returns other shapes"
    return None
