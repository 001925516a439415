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

from legendre_verify.verification.limits import DEFAULT_TIMEOUT, Hang, check_timeout, time_limit
from legendre_verify.verification.oracles import (
    DerivedOracle,
    Oracle,
    OracleError,
    ReferenceOracle,
    SelfOracle,
)
from legendre_verify.verification.signature import (
    CallSpec,
    Signature,
    describe_call,
    example_args,
)
from legendre_verify.verification.trust import assess_reference

__all__ = ["COMPARE_MODES", "Capability", "Subject", "build_subject"]

#: how an output may be compared (``compare={index: mode}``): ``close`` (floats within the
#: tolerance, kinks and ties allowed for: the default for floating outputs), ``ties`` (indices:
#: equal, or a tie within the tested dtype's rounding: the default for index outputs),
#: ``exact`` (equal, no ties), ``ignore``; a callable ``(got, expected, sample) -> list of
#: failure strings`` is accepted too (``expected`` from the truth, float64 on the CPU)
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
    LOOP = "loop dimensions (elementwise, or the example's beyond the signature's core)"
    FINITE_DIFFERENCES = "a truth whose derivatives are its values' finite differences"
    BATCH = "loop dimensions on a non-elementwise Function"


@dataclass
class Subject:
    """The Function under test, its call description, oracles and probed capabilities."""

    fn: Callable[..., Any]
    spec: CallSpec
    oracles: list[Oracle]
    domain: tuple[float, float] = (-1.0, 1.0)
    name: str = "fn"
    #: the caller gave the domain (else it is (-1, 1), and a general Function's edges check
    #: also tries magnitudes where exp overflows)
    domain_given: bool = True
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
    #: seconds a check may spend in the Function on one sample (None: no limit)
    timeout: float | None = DEFAULT_TIMEOUT
    _compiled: dict[str, Callable[..., Any]] = field(default_factory=dict, repr=False)
    #: answers shared between checks (the truth at a sample, its tolerances), by fingerprint
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)
    #: a replay's recorded tolerance scales (kind, sample digest) -> scales
    recorded_scales: dict[Any, list[float]] = field(default_factory=dict, repr=False)
    #: replaying a recorded failure: every sample is judged (no finite-difference screening)
    replaying: bool = False

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()``, once per ``key`` (a bounded memo: the truth and tolerances of a
        sample are asked by several checks)."""
        if key in self.cache:
            return self.cache[key]
        if len(self.cache) > 4096:
            self.cache.clear()
        value = self.cache[key] = compute()
        return value

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


def raised(error: BaseException, limit: int = 300) -> str:
    """``raised TypeName: message`` on one line for a skip reason or a note: the message's
    first line, shortened at a word boundary (never mid-word) when longer than ``limit``."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if len(text) > limit:
        cut = text[:limit].rsplit(" ", 1)[0]
        text = cut.rstrip(" ,;:(") + " ..."
    return f"raised {type(error).__name__}: {text}" if text else f"raised {type(error).__name__}"


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
) -> tuple[CallSpec, tuple[torch.Tensor, ...], bool, ValueError | None]:
    """Validate ``example``/``kwargs``/``signature`` and probe the outputs' structure (and a
    disagreement between the signature's output shapes and fn's, for the caller to judge)."""
    mismatch: ValueError | None = None
    if not isinstance(example, tuple):
        raise TypeError(
            "example must be a tuple of one call's positional arguments, e.g. "
            f"example=(x, weight, bias), got {type(example).__name__}: {example!r:.200}"
        )
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise TypeError(f"kwargs must be a dict of keyword arguments, got kwargs={kwargs!r:.200}")
    spec = describe_call(example, dict(kwargs), signature, batch)
    args64, kwargs64 = example_args(spec)
    for i in spec.diff:
        args64[i] = args64[i].requires_grad_(True).clone()
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
    sig = spec.signature
    if signature is None:
        sig = replace(sig, outputs=out_shapes)
    elif len(sig.outputs) != len(outs):
        raise ValueError(
            f"signature={signature!r} lists {len(sig.outputs)} output(s), but fn returns "
            f"{len(outs)} on the example"
        )
    else:
        expected = [sig.shape(core, spec.example_sizes, spec.example_loop) for core in sig.outputs]
        if list(out_shapes) != expected:
            # the caller's mistake, unless an independent truth agrees with the signature
            # (then it is the Function's: checked once the reference is known)
            mismatch = ValueError(
                f"signature={signature!r} gives output shapes {expected} for the example, but "
                f"fn returns {list(out_shapes)}"
            )
    dirty = any(o is a for o in outs for a in args64 if isinstance(a, torch.Tensor))
    spec = replace(
        spec,
        signature=sig,
        n_outputs=len(outs),
        returns_tuple=returns_tuple,
        differentiable_outputs=tuple(
            k for k, o in enumerate(outs) if o.is_floating_point() and o.requires_grad
        ),
        output_dtypes=tuple(None if o.is_floating_point() else o.dtype for o in outs),
    )
    return spec, outs, dirty, mismatch


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
    return example_args(spec)


def _check_reference_structure(
    oracle: Oracle, spec: CallSpec, outs: Sequence[torch.Tensor], label: str
) -> tuple[torch.Tensor, ...]:
    """The oracle's outputs on the example (float64). An oracle that raises there is an
    :class:`OracleError`; one that returns another *number* of outputs than fn is the caller's
    ``ValueError``. Other differences (a shape, an index output returned as floats) are the
    Function's findings, for the checks."""
    args64, kwargs64 = example_args(spec)
    for i in spec.diff:
        args64[i] = args64[i].requires_grad_(True).clone()
    try:
        with warnings.catch_warnings(), time_limit(oracle.timeout, f"the {label}"):
            warnings.simplefilter("ignore")
            got = oracle._call(args64, kwargs64)  # type: ignore[attr-defined]
    except Exception as error:
        raise OracleError(
            f"the {label} {raised(error)} on the example's arguments (in float64), so it cannot "
            "be the truth of this call: it must take the same arguments as fn"
        ) from error
    try:
        ref, _ = _outputs(got, label)
    except TypeError as error:
        raise OracleError(str(error)) from error
    if len(ref) != len(outs):
        raise ValueError(
            f"{label} returns {len(ref)} output(s), but fn returns {len(outs)} on the example: "
            "the truth must return the Function's outputs, in its order"
        )
    return ref


#: what a misuse error says when the elementwise form does not fit the Function
NOT_ELEMENTWISE = (
    "verify(fn) without example= is the elementwise form (fn takes tensors of one shape and "
    "returns one of that shape); for any other call describe one call's arguments with "
    "example=(...) (and signature= to let their shapes vary)"
)


def _probe_arity(
    fn: Callable[..., Any], arity: int, domain: tuple[float, float], declared: bool
) -> None:
    """The elementwise form: ``fn`` takes ``arity`` tensors of one shape and returns one of
    that shape. Where the caller did not declare it elementwise (no ``symbolic=``), a crash or
    another output shape on three plain values says it is not: a ``TypeError`` asking for
    ``example=``. With ``symbolic=`` a crash is a finding for the checks."""
    lo, hi = domain
    x = [torch.tensor([lo + (hi - lo) * f for f in (0.25, 0.5, 0.75)], dtype=torch.float64)] * arity
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = fn(*x)
    except TypeError as error:
        if "argument" in str(error):
            raise TypeError(
                f"fn does not take {arity} tensor(s) (arity={arity}): {error}"
            ) from error
        if not declared:
            raise TypeError(
                f"fn does not look elementwise: on {arity} tensor(s) of shape (3,) it {raised(error)}. "
                + NOT_ELEMENTWISE
            ) from error
        return
    except Exception as error:
        if not declared:
            raise TypeError(
                f"fn does not look elementwise: on {arity} tensor(s) of shape (3,) it {raised(error)}. "
                + NOT_ELEMENTWISE
            ) from error
        return
    if not declared and not (isinstance(out, torch.Tensor) and tuple(out.shape) == (3,)):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise TypeError(
            f"fn does not look elementwise: on {arity} tensor(s) of shape (3,) it returned "
            f"{shape}. " + NOT_ELEMENTWISE
        )


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
    kwargs = {} if spec.elementwise else _example_float64(spec)[1]
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

    def vmap_of_grad() -> None:
        (x,) = floats
        torch.func.vmap(torch.func.grad(lambda t: call(t.reshape(()))[0].sum()))(x)

    attempts = {
        Capability.FORWARD_AD: ("torch.autograd.forward_ad (dual tensors)", forward_ad),
        Capability.VMAP: (
            "torch.func.vmap",
            lambda: torch.func.vmap(call)(*(torch.stack([t, t]) for t in floats)),
        ),
    }
    if spec.elementwise and len(floats) == 1:
        attempts[Capability.VMAP_OF_GRAD] = ("torch.func.vmap(torch.func.grad(fn))", vmap_of_grad)
    for capability, (api, attempt) in attempts.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                attempt()
            found.add(capability)
        except Exception as error:
            reasons[capability] = f"the Function has no {capability.value}: {api} {raised(error)}"
    cls = function_class(fn)
    if cls is not None and cls.jvp is not torch.autograd.Function.jvp:
        # a jvp is written: it is tested, whatever the probe found (its failure is a finding)
        found.add(Capability.FORWARD_AD)
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
    fn: Callable[..., Any], *, timeout: float | None = DEFAULT_TIMEOUT, **options: Any
) -> Subject:
    """Validate every argument and build the :class:`Subject` (see ``verify`` for their
    meaning). Misuse is a TypeError/ValueError naming the argument, raised at once; a Function
    that hangs on the example (``timeout`` seconds) is a :class:`VerificationError`."""
    timeout = check_timeout(timeout)
    try:
        with time_limit(timeout, "fn"):
            subject = _build_subject(fn, timeout=timeout, **options)
    except Hang as hang:
        from legendre_verify.verification.report import CheckResult, Report, VerificationError

        name = options.get("name") or _name_of(fn)
        message = (
            f"verify({name}): {hang} on the example, while verify was probing it (what it "
            "returns, which transforms it supports): the Function hangs"
        )
        result = CheckResult("meta", "failed", 1, hang.seconds, str(hang), "", message)
        raise VerificationError(message, Report(name, [result])) from None
    return subject


def _build_subject(
    fn: Callable[..., Any],
    *,
    timeout: float | None,
    example: tuple[Any, ...] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    signature: str | None = None,
    batch: bool = False,
    symbolic: Callable[..., Any] | None = None,
    reference: Callable[..., Any] | None = None,
    derived: bool | None = None,
    arity: int | None = None,
    domain: Sequence[float] | str | None = None,
    compare: Mapping[int, Any] | None = None,
    kinks: Sequence[float] = (),
    name: str | None = None,
    reference_error: float | None = None,
) -> Subject:
    """:func:`build_subject`'s work, under its time limit."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}: {fn!r}")
    for label, value in (("symbolic", symbolic), ("reference", reference)):
        if value is not None and not callable(value):
            raise TypeError(f"{label} must be callable, got {type(value).__name__}: {value!r}")
    if derived not in (None, True, False):
        raise TypeError(f"derived must be True, False or None (automatic), got {derived!r}")
    if not isinstance(batch, bool):
        raise TypeError(f"batch must be a bool, got batch={batch!r}")
    if reference_error is not None and (
        isinstance(reference_error, bool)
        or not isinstance(reference_error, int | float)
        or not 0 < reference_error < 1
    ):
        raise ValueError(
            "reference_error must be a relative error in (0, 1), e.g. 1e-7, got "
            f"reference_error={reference_error!r}"
        )
    domain_given = domain is not None
    lo, hi = check_domain((-1.0, 1.0) if domain is None else domain)
    cls = function_class(fn)
    outs: tuple[torch.Tensor, ...] = ()
    dirty = False
    mismatch: ValueError | None = None
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
        _probe_arity(fn, arity, (lo, hi), declared=symbolic is not None)
        spec = _elementwise_spec(arity)
    else:
        if arity is not None:
            raise TypeError("arity= is for the elementwise form; with example= leave it out")
        spec, outs, dirty, mismatch = _example_spec(fn, example, kwargs, signature, batch)
        if symbolic is not None:
            raise TypeError(
                "symbolic= describes elementwise Functions (verify(fn, symbolic=...) without "
                "example=); for a call described by example= pass reference= (plain torch with "
                "the same signature) or no oracle"
            )
    oracles: list[Oracle] = []
    notes: list[str] = []
    reasons: dict[Capability, str] = {}
    if symbolic is not None:
        from legendre_verify.verification.symbolic import SymbolicOracle  # sympy: 0.3 s

        try:
            oracles.append(SymbolicOracle(symbolic, len(spec.diff)))
            oracles[-1].timeout = timeout
        except Exception as error:
            raise TypeError(
                f"symbolic must map {len(spec.diff)} sympy symbol(s) to an expression: {error}"
            ) from error
    if reference is not None:
        oracle = ReferenceOracle(reference, len(spec.diff) if spec.elementwise else None)
        oracle.timeout = timeout
        oracle.differentiable_outputs = spec.differentiable_outputs
        if spec.elementwise:
            try:
                oracle.derivative((0,) * len(spec.diff), [[0.5 * (lo + hi)]] * len(spec.diff))
            except TypeError as error:
                raise TypeError(
                    f"reference must take {len(spec.diff)} tensor(s) (arity={len(spec.diff)}): "
                    f"{error}"
                ) from error
            except Exception as error:
                raise TypeError(
                    f"the reference does not look elementwise: on {len(spec.diff)} float64 "
                    f"value(s) it {raised(error)}. " + NOT_ELEMENTWISE
                ) from error
        else:
            truth_outs = _check_reference_structure(oracle, spec, outs, "reference")
            if mismatch is not None:
                sizes, loop = spec.example_sizes, spec.example_loop
                promised = [spec.signature.shape(c, sizes, loop) for c in spec.signature.outputs]
                if [tuple(o.shape) for o in truth_outs] != promised:
                    raise mismatch
                mismatch = None  # the reference agrees with the signature: fn's own finding
            # the truth says which outputs are differentiable and which are indices
            spec = replace(
                spec,
                differentiable_outputs=tuple(
                    k for k, o in enumerate(truth_outs) if o.is_floating_point() and o.requires_grad
                ),
                output_dtypes=tuple(None if o.is_floating_point() else o.dtype for o in truth_outs),
            )
            oracle.differentiable_outputs = spec.differentiable_outputs
        oracles.append(oracle)
        exact_fd, trust_notes = assess_reference(
            oracle, spec, _trial_points(spec, (lo, hi)), reference_error
        )
        notes += trust_notes
        if not exact_fd:
            reasons[Capability.FINITE_DIFFERENCES] = (
                "the reference's derivatives are deliberately not its values' finite "
                "differences (a detach, a straight-through estimator, a padding index)"
            )
    elif reference_error is not None:
        raise TypeError("reference_error= qualifies a reference=; there is none")
    if mismatch is not None:
        raise mismatch
    if not oracles and derived is not False:
        reason = None
        if cls is None:
            reason = "fn is not SomeFunction.apply"
        else:
            oracle = DerivedOracle(cls)
            oracle.timeout = timeout
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
                f"compare[{k}] must be one of {COMPARE_MODES} or a callable "
                f"(got, expected, sample) -> list of failure strings, got {mode!r}"
            )
        if callable(mode):
            try:
                inspect.signature(mode).bind(None, None, None)
            except TypeError as error:
                raise ValueError(
                    f"compare[{k}] is a callable, so it must take (got, expected, sample) and "
                    f"return a list of failure strings: {error}"
                ) from error
            except ValueError:  # a builtin without a signature: trusted
                pass
        floating = spec.output_dtypes[k] is None if spec.output_dtypes else True
        if mode == "ties" and floating:
            raise ValueError(
                f"compare[{k}]='ties' is for index outputs, and output {k} is floating: its "
                "ties and kinks are handled by the default 'close'"
            )
    found, probed, probe_notes = _probe_capabilities(fn, spec, dirty, (lo, hi))
    reasons.update(probed)
    notes += probe_notes
    if Capability.FINITE_DIFFERENCES not in reasons:
        found.add(Capability.FINITE_DIFFERENCES)
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
    if spec.has_loops:
        found.add(Capability.LOOP)
    else:
        reasons[Capability.LOOP] = (
            "no loop dimensions (give the example leading dimensions beyond the signature's "
            "core ones, as numpy's gufuncs take them, if fn takes them)"
        )
    if spec.has_loops and not spec.elementwise:
        found.add(Capability.BATCH)
    else:
        reasons[Capability.BATCH] = (
            "elementwise (the shapes check covers it)" if spec.elementwise else "no loop dimensions"
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
        domain_given,
        frozenset(found),
        reasons,
        notes,
        dirty,
        dict(compare),
        kinks,
        call,
        preamble,
        timeout,
    )


def _trial_points(
    spec: CallSpec, domain: tuple[float, float]
) -> Callable[[torch.Generator], tuple[list[Any], dict[str, Any]]]:
    """Where a reference's derivatives are compared with its own finite differences: random
    interior points of the domain (elementwise), or the example's floating tensors moved by
    1e-3 of the domain's width at random, so that no trial sits on a kink or a tie the
    example happens to hold (an all-zero example), while structure (a padding index among
    the example's indices) stays."""
    lo, hi = domain
    if spec.elementwise:

        def elementwise(generator: torch.Generator) -> tuple[list[Any], dict[str, Any]]:
            return [
                lo
                + (hi - lo) * (0.05 + 0.9 * torch.rand(9, generator=generator, dtype=torch.float64))
                for _ in spec.diff
            ], {}

        return elementwise
    args, kwargs = _example_float64(spec)

    def near_example(generator: torch.Generator) -> tuple[list[Any], dict[str, Any]]:
        moved = list(args)
        for i in spec.diff:
            step = (
                (hi - lo)
                * 1e-3
                * (torch.rand(args[i].shape, generator=generator, dtype=torch.float64) * 2 - 1)
            )
            moved[i] = (args[i] + step).clamp(lo, hi)
        return moved, kwargs

    return near_example


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
