"""Eager or compiled: one dispatcher owns every compiled kernel, its state and its statistics.

Tiered execution (the default). A kernel runs eager until it has proven hot (a second call
with real work behind it); then it is compiled **in the background** while calls keep running
eager, and the first call after the build is ready checks the compiled kernel before it takes
over. A process that calls once never compiles; a kernel already built on disk is loaded
(milliseconds) and used from the first call.

The first-call check is cheap and judged against the truth, not against eager: at most
:data:`CHECK_SAMPLE` of the call's own results (spread evenly over it) and the kernel's results
at special values (+-0, +-1 and their neighbours, the endpoint series' edge, overflowing
magnitudes, +-inf, NaN) are compared with P_n^{(k)} computed in float64 (and, where it
overflows the arithmetic's dtype, +-inf), within twice the error bound. Non-finite results must
follow the truth's pattern (NaN where it is NaN, an infinity of its sign where it overflows).
So a compiled kernel that is right where eager is not stays on, and the check costs one eager
float64 call on <= 16 Ki elements whatever the size of the call.

Inputs no compiled kernel takes (other layouts, dtypes, functorch wrappers) never reach one;
views with the negative or conjugate bit are resolved first. A forked child (a DataLoader
worker) forgets builds that were in flight in its parent and loads the kernel from disk or
builds its own.

``LEGENDRE_VERIFY_COMPILE`` forces a mode: ``0``/``eager`` (never compile), ``1``/``compiled``
(compile on the first call and wait for it, as a benchmark wants) or ``tiered``. Any build
failure or disagreement leaves that kernel eager, with one warning.

Backends: on the CPU the C kernel of :mod:`.native` (degree and order at run time: one build
for every n and k); on CUDA torch.compile (inductor/Triton), one kernel per degree up to
``COMPILE_MAX_DEGREE``, compiled in a worker thread on a small sample.
"""

from __future__ import annotations

import functools
import math
import os
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from legendre_verify.legendre import kernels

__all__ = [
    "DISPATCHER",
    "MODES",
    "ArtifactStatus",
    "CompileStatus",
    "Dispatcher",
    "KernelStatus",
    "compile_status",
    "legendre_derivative",
    "p3",
    "times_derivative",
    "times_dp3",
]

#: the environment variable that forces a mode, and what its values mean
ENVIRONMENT = "LEGENDRE_VERIFY_COMPILE"
MODES = ("tiered", "eager", "compiled")
_MODE_NAMES = {
    "": "tiered",
    "tiered": "tiered",
    "auto": "tiered",
    "eager-first": "tiered",
    "0": "eager",
    "off": "eager",
    "eager": "eager",
    "false": "eager",
    "1": "compiled",
    "on": "compiled",
    "compiled": "compiled",
    "true": "compiled",
}

#: hot: at least this many eager calls (the first call never compiles) ...
HOT_CALLS = 2
#: ... that together took at least this long (smaller work is not worth a build), or
HOT_SECONDS = 0.02
#: this many calls whatever they took
HOT_ANY_CALLS = 32

#: the C kernel pays off from this many elements: below, its ~12 us call (ctypes, allocation)
#: is more than eager's. Measured (2 threads, float32): at 2,000 elements P_10 eager 108-194 us,
#: C 12-15 us; at 16K 154-166 vs 18-23 us (0.13x).
NATIVE_MIN_NUMEL = 1 << 10
#: P3 eager is only two kernels (addcmul, mul_), as fast as the C kernel up to ~1M elements
#: and 1.3-1.6x its time below 64K (measured); from 4M the C kernel's single pass wins (0.64x)
P3_NATIVE_MIN_NUMEL = 1 << 16
#: a CUDA (inductor) kernel pays its call overhead from here on
COMPILE_MIN_NUMEL = 1 << 16
#: the first compiled call of each kernel is checked on at most this many of its elements:
#: with the special values, below torch's grain size (32,768), so the check's tensor operations
#: run on one thread (on a loaded machine a parallel operation waits for a time slice: 5 ms
#: per operation measured on 64 Ki elements, 0.3 s for the check at n = 10)
CHECK_SAMPLE = 1 << 14
#: ... in this many runs of consecutive elements
CHECK_RUNS = 64
#: the CUDA kernels unroll the recurrence (one kernel per degree): their compile time grows
#: with n (cold, measured on the CPU backend: n = 32 11 s, 128 59 s), so they stop here
COMPILE_MAX_DEGREE = 128


def mode_from_environment(value: str | None = None) -> str:
    """The mode ``LEGENDRE_VERIFY_COMPILE`` (or ``value``) names; a clear error otherwise."""
    raw = os.environ.get(ENVIRONMENT, "") if value is None else value
    try:
        return _MODE_NAMES[raw.strip().lower()]
    except KeyError:
        choices = ", ".join(repr(v) for v in _MODE_NAMES if v)
        raise ValueError(f"{ENVIRONMENT} must be one of {choices}, got {raw!r}") from None


@dataclass
class ArtifactStatus:
    """One thing that is compiled: the C library, or one torch.compile'd function."""

    name: str
    state: str = "absent"  # absent | building | built | failed
    seconds: float | None = None  # build (or load) wall time
    loaded_from_disk: bool = False
    disk_checked: bool = field(default=False, repr=False)  # looked for a built one on disk
    error: str | None = None
    value: Any = field(default=None, repr=False)
    warned: bool = field(default=False, repr=False)


@dataclass
class KernelStatus:
    """One kernel's statistics: how often it ran each way, and whether it was checked."""

    name: str
    artifact: ArtifactStatus
    eager_calls: int = 0
    eager_seconds: float = 0.0
    compiled_calls: int = 0
    checked: bool = False
    error: str | None = None

    @property
    def state(self) -> str:
        if self.error or self.artifact.state == "failed":
            return "failed"
        if self.artifact.state == "built":
            return "compiled" if self.checked else "ready"
        if self.artifact.state == "building":
            return "pending"
        return "eager"


@dataclass(frozen=True)
class CompileStatus:
    """What :func:`compile_status` returns: the mode and each kernel's row (``str()``: a table)."""

    mode: str
    kernels: tuple[KernelStatus, ...]

    def __str__(self) -> str:
        lines = [f"mode: {self.mode} ({ENVIRONMENT}={os.environ.get(ENVIRONMENT, '')!r})"]
        if not self.kernels:
            return lines[0] + "; no kernel has run on a large tensor yet"
        lines.append(
            f"{'kernel':<34} {'state':<9} {'eager calls':>11} {'eager s':>8} "
            f"{'compiled calls':>14} {'compile s':>9}"
        )
        for k in self.kernels:
            seconds = "" if k.artifact.seconds is None else f"{k.artifact.seconds:.2f}"
            if k.artifact.loaded_from_disk:
                seconds += " (disk)"
            lines.append(
                f"{k.name:<34} {k.state:<9} {k.eager_calls:>11} {k.eager_seconds:>8.3f} "
                f"{k.compiled_calls:>14} {seconds:>9}"
            )
            why = k.error or k.artifact.error
            if why:
                lines.append(f"  {why}")
        return "\n".join(lines)


class Dispatcher:
    """Owns the compiled kernels: builds them (in the background when tiered), checks them
    once against eager, counts their calls, and keeps any that fail eager."""

    def __init__(self, mode: str | None = None) -> None:
        self.mode = mode_from_environment() if mode is None else mode_from_environment(mode)
        self.cpu_backend = "native"  # "inductor" runs the CUDA path's kernels on the CPU (tests)
        self._artifacts: dict[str, ArtifactStatus] = {}
        self._kernels: dict[str, KernelStatus] = {}
        self._lock = threading.Lock()
        _DISPATCHERS.add(self)

    def _after_fork_in_child(self) -> None:
        """A forked child has none of its parent's threads: a build that was in flight never
        ends here. Forget it (the next call looks on disk, where the parent may have put it,
        or builds anew once hot) and take a fresh lock (the old one may be held for ever)."""
        self._lock = threading.Lock()
        for artifact in self._artifacts.values():
            if artifact.state == "building":
                artifact.state = "absent"
                artifact.value = None
                artifact.disk_checked = False

    # -- state ---------------------------------------------------------------------------------
    def status(self) -> CompileStatus:
        with self._lock:
            return CompileStatus(self.mode, tuple(self._kernels.values()))

    def reset(self, mode: str | None = None) -> None:
        """Forget every kernel (waiting for builds in flight) and optionally change mode."""
        self.wait()
        with self._lock:
            self._artifacts.clear()
            self._kernels.clear()
            if mode is not None:
                self.mode = mode_from_environment(mode)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for every background build; True if none is left in flight."""
        deadline = None if timeout is None else time.perf_counter() + timeout
        for artifact in list(self._artifacts.values()):
            thread = artifact.value if isinstance(artifact.value, threading.Thread) else None
            if thread is not None:
                left = None if deadline is None else max(0.0, deadline - time.perf_counter())
                thread.join(left)
        return all(a.state != "building" for a in self._artifacts.values())

    # -- building ------------------------------------------------------------------------------
    def _artifact(self, name: str) -> ArtifactStatus:
        with self._lock:
            found = self._artifacts.get(name)
            if found is None:
                found = self._artifacts[name] = ArtifactStatus(name)
            return found

    def _kernel(self, name: str, artifact: ArtifactStatus) -> KernelStatus:
        found = self._kernels.get(name)
        if found is None:
            with self._lock:
                found = self._kernels.setdefault(name, KernelStatus(name, artifact))
        return found

    def _build_now(self, artifact: ArtifactStatus, make: Callable[[], Any], disk: bool) -> None:
        start = time.perf_counter()
        try:
            value = make()
        except Exception as error:  # no compiler, a compiler error, an inductor bug
            artifact.error = f"build failed: {type(error).__name__}: {_first_line(error)}"
            artifact.state = "failed"
            return
        artifact.seconds = time.perf_counter() - start
        artifact.loaded_from_disk = disk and not getattr(value, "built_here", False)
        artifact.value = value
        artifact.state = "built"

    def _start(
        self, artifact: ArtifactStatus, make: Callable[[], Any], *, background: bool, disk: bool
    ) -> None:
        with self._lock:
            if artifact.state != "absent":
                return
            artifact.state = "building"
        if not background:
            self._build_now(artifact, make, disk)
            return
        thread = threading.Thread(
            target=self._build_now,
            args=(artifact, make, disk),
            name=f"legendre-compile-{artifact.name}",
            daemon=True,
        )
        artifact.value = thread
        thread.start()

    # -- running -------------------------------------------------------------------------------
    def run(
        self,
        name: str,
        artifact_name: str,
        make: Callable[[], Any],
        on_disk: Callable[[], bool],
        eager: Callable[[], torch.Tensor],
        compiled: Callable[[Any], torch.Tensor],
        check: Callable[[Any, torch.Tensor], str | None],
    ) -> torch.Tensor:
        """One call of kernel ``name``: compiled if its artifact is built (and, the first time,
        checked by ``check(artifact, result)``, which returns None or what is wrong), else eager.

        ``make()`` builds the artifact (in a worker thread when tiered); ``on_disk()``, asked once
        per artifact, says whether building is only loading (then it is done at once, even on a
        first call).
        """
        artifact = self._artifact(artifact_name)
        kernel = self._kernel(name, artifact)
        if self.mode != "eager" and kernel.error is None:
            if artifact.state == "absent" and not artifact.disk_checked:
                artifact.disk_checked = True  # once: it appears on disk only when built here
                disk = on_disk()
                if disk or self.mode == "compiled":
                    self._start(artifact, make, background=False, disk=disk)
            if artifact.state == "built":
                result = self._run_compiled(kernel, compiled, check)
                if result is not None:
                    return result
            elif artifact.state == "failed" and not artifact.warned:
                artifact.warned = True
                _warn(f"{artifact.name}: {artifact.error}; eager kernels in use")
        start = time.perf_counter()
        result = eager()
        kernel.eager_calls += 1
        kernel.eager_seconds += time.perf_counter() - start
        if (
            self.mode == "tiered"
            and artifact.state == "absent"
            and kernel.error is None
            and kernel.eager_calls >= HOT_CALLS
            and (kernel.eager_seconds >= HOT_SECONDS or kernel.eager_calls >= HOT_ANY_CALLS)
        ):
            self._start(artifact, make, background=True, disk=False)
        return result

    def _run_compiled(self, kernel, compiled, check) -> torch.Tensor | None:
        try:
            result = compiled(kernel.artifact.value)
        except Exception as error:
            kernel.error = f"compiled call failed: {type(error).__name__}: {_first_line(error)}"
            _warn(f"{kernel.name}: {kernel.error}; eager kernel in use")
            return None
        if not kernel.checked:
            try:
                why = check(kernel.artifact.value, result)
            except Exception as error:  # the kernel failed on the check's special values
                why = f"{type(error).__name__}: {_first_line(error)}"
            if why is not None:
                kernel.error = f"compiled kernel disagrees with the float64 truth ({why})"
                _warn(f"{kernel.name}: {kernel.error}; eager kernel in use")
                return None
            kernel.checked = True
        kernel.compiled_calls += 1
        return result

    def compiled_function(self, name: str, fn: Callable[..., Any], **options: Any) -> Callable:
        """``torch.compile(fn, **options)``, made once per name and owned here (training's step)."""
        artifact = self._artifact(name)
        with self._lock:
            if artifact.state == "absent":
                artifact.value = torch.compile(fn, **options)
                artifact.state = "built"
        self._kernel(name, artifact)
        return artifact.value

    def note_compiled_call(self, name: str, seconds: float | None = None) -> None:
        """Count a call of a :meth:`compiled_function` (``seconds``: the first, compiling one)."""
        kernel = self._kernels[name]
        kernel.compiled_calls += 1
        kernel.checked = True
        if seconds is not None:
            kernel.artifact.seconds = seconds

    def note_failure(self, name: str, error: BaseException) -> None:
        """Mark a :meth:`compiled_function` failed (its caller went eager)."""
        kernel = self._kernel(name, self._artifact(name))
        kernel.error = f"{type(error).__name__}: {_first_line(error)}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else "")[:200]


def _warn(message: str) -> None:
    warnings.warn(f"legendre_verify: {message}", RuntimeWarning, stacklevel=5)


#: every dispatcher of this process (tests make their own), for the fork handler
_DISPATCHERS: weakref.WeakSet[Dispatcher] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for dispatcher in list(_DISPATCHERS):
        dispatcher._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

#: the one dispatcher of this process
DISPATCHER = Dispatcher()


def compile_status() -> CompileStatus:
    """Every kernel's state: eager calls, compiled or pending, compile seconds (``str()``: table)."""
    return DISPATCHER.status()


# ---------------------------------------------------------------------------------------------
# The entry points the Functions call.


def _backend(
    x: torch.Tensor, n: int, g: torch.Tensor | None, least: int | None = None
) -> str | None:
    """Which compiled kernel may take this call ("native", "inductor"), or None (eager);
    ``least``: the C kernel's minimum size (default :data:`NATIVE_MIN_NUMEL`)."""
    least_native = NATIVE_MIN_NUMEL if least is None else least
    if x.numel() < least_native:  # first: the cheap test that settles small tensors
        return None
    if x.dtype not in (torch.float32, torch.float64) or DISPATCHER.mode == "eager":
        return None
    if x.device.type == "cpu" and DISPATCHER.cpu_backend == "native":
        backend, least = "native", least_native
    elif x.device.type in ("cpu", "cuda") and n <= COMPILE_MAX_DEGREE:
        backend, least = "inductor", COMPILE_MIN_NUMEL
    else:
        return None
    if x.numel() < least or not _compilable(x) or (g is not None and not _compilable(g)):
        return None
    return backend


def _compilable(t: torch.Tensor) -> bool:
    """A plain strided tensor (no sparse layout, no nested tensor, outside any transform)."""
    return t.layout == torch.strided and not t.is_nested and kernels._plain(t)


def _special_values(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Where kernels go wrong: +-0, +-1 and their neighbours, the edge of the endpoint series
    (inside and out), magnitudes that overflow, the extremes of the dtype, +-inf and NaN."""
    info = torch.finfo(dtype)
    edge = kernels.ENDPOINT_RADIUS / (n * n)
    magnitudes = [0.0, 0.5, 0.3, 1.0, 1.0 - info.eps / 2, 1.0 + info.eps, 1.0 - 0.5 * edge]
    magnitudes += [1.0 - 2.0 * edge, 1.0 + 0.5 * edge, 2.0, 10.0, 1e10, 1e20, 1e150, 1e300]
    magnitudes += [info.tiny, info.max, math.inf]
    values = torch.tensor(magnitudes, dtype=torch.float64).clamp(max=info.max)
    values[-1] = math.inf
    return torch.cat([values, -values, torch.tensor([math.nan], dtype=torch.float64)]).to(
        dtype=dtype, device=device
    )


def _truth(
    x: torch.Tensor, n: int, k: int, g: torch.Tensor | None, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """(g * P_n^{(k)}(x), P_n^{(k)}(x)) in float64: P from the float64 recurrence (its error is
    ~ 2^-29 of float32's bound; for float64 inputs it meets float64's), made +-inf where it
    overflows the dtype the kernel computes in (as the kernel's own arithmetic does)."""
    p = kernels.legendre_derivative(x.double(), n, k)
    wide = kernels.compute_dtype(dtype, n)
    p = torch.where(p.abs() > torch.finfo(wide).max, p * math.inf, p)
    return (p if g is None else p * g.double()), p


def _judge(
    got: torch.Tensor,
    truth: torch.Tensor,
    p: torch.Tensor,
    x: torch.Tensor,
    n: int,
    k: int,
    g: torch.Tensor | None,
) -> str | None:
    """None if ``got`` is the truth within twice the error bound, else where it is not.

    Where the truth is NaN, NaN (and only there). Where it is finite, a value within
    ``allowed`` = 2 x 4 (n+1) eps(dtype) max(P_n^{(k)}(1), |P_n^{(k)}(x)|) |g| + eps(dtype)
    |truth| of it (the recurrence's bound, twice, and the final rounding); an infinity of its
    sign only where that reaches past the dtype's largest value. Where the truth is +-inf, the
    same infinity, or a finite value of its sign within that relative bound of the largest."""
    from legendre_verify.legendre.bounds import legendre_abs_tolerance

    dtype = got.dtype
    big, eps = torch.finfo(dtype).max, torch.finfo(dtype).eps
    relative = 2 * legendre_abs_tolerance(n, k, dtype, 1.0) + eps
    c = got.double()
    scale = p.abs().clamp(min=kernels.value_at_one(n, k))
    gabs = torch.ones_like(c) if g is None else g.double().abs()
    allowed = 2 * legendre_abs_tolerance(n, k, dtype, 1.0) * scale * gabs + eps * truth.abs()
    allowed = allowed.nan_to_num(nan=math.inf)  # inf * 0: no bound there
    same_sign = c.sign() == truth.sign()
    ok = torch.where(
        truth.isnan() | c.isnan(),
        truth.isnan() & c.isnan(),
        torch.where(
            truth.isinf(),
            (c == truth) | (c.isfinite() & same_sign & (c.abs() >= big * (1 - relative))),
            torch.where(
                c.isinf(),
                same_sign & (truth.abs() + allowed >= big),
                (c - truth).abs() <= allowed,
            ),
        ),
    )
    if bool(ok.all()):
        return None
    i = int((~ok).nonzero()[0, 0])
    return (
        f"P_{n}^({k}) at x={x[i].item()!r}"
        + ("" if g is None else f", g={g[i].item()!r}")
        + f": {c[i].item()!r}, expected {truth[i].item()!r} (allowed error "
        + f"{allowed[i].item():.3g}); {int((~ok).sum())} of {ok.numel()} checked values off"
    )


def _sample(numel: int, device: torch.device) -> torch.Tensor:
    """Flat indices of at most :data:`CHECK_SAMPLE` elements of ``numel``: all of them, or
    :data:`CHECK_RUNS` runs of consecutive ones spread evenly from the first to the last (runs
    rather than single elements: one page each, not one page per element: 5x faster at 1e7)."""
    if numel <= CHECK_SAMPLE:
        return torch.arange(numel, device=device)
    run = CHECK_SAMPLE // CHECK_RUNS
    starts = torch.arange(CHECK_RUNS, device=device) * (numel - run) // (CHECK_RUNS - 1)
    return (starts[:, None] + torch.arange(run, device=device)).reshape(-1)


def _gather(t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``t``'s elements at flat ``index``, copying nothing else (index_select on a contiguous
    tensor's flat view: 0.1 ms for 16 Ki of 1e7; torch.take, which any layout takes: 12 ms)."""
    return t.view(-1).index_select(0, index) if t.is_contiguous() else torch.take(t, index)


def _check(n: int, k: int, x: torch.Tensor, g: torch.Tensor | None, evaluate: Callable):
    """``check(artifact, result)`` for the dispatcher: the first compiled call's ``result`` on
    at most :data:`CHECK_SAMPLE` of its elements (evenly spread), and
    ``evaluate(artifact, xs, gs)`` at :func:`_special_values`, against the float64 truth."""

    def check(artifact: Any, result: torch.Tensor) -> str | None:
        with torch.no_grad():
            index = _sample(x.numel(), x.device)
            special = _special_values(n, x.dtype, x.device)
            gspecial = None if g is None else torch.ones_like(special)
            got_special = evaluate(artifact, special, gspecial)
            xs = torch.cat([_gather(x, index), special])
            got = torch.cat([_gather(result, index), got_special])
            gs = None if g is None else torch.cat([_gather(g, index), gspecial])
            truth, p = _truth(xs, n, k, gs, x.dtype)
            return _judge(got, truth, p, xs, n, k, gs)

    return check


def _native_make():
    from legendre_verify.legendre import native

    return native.load()


def _native_on_disk() -> bool:
    from legendre_verify.legendre import native

    return native.cached_library() is not None


def _inductor_make(fn: Callable, degrees: tuple[int, ...], like: torch.Tensor, arity: int):
    def make():
        compiled = kernels.compiled_kernel(fn, *degrees)
        sample = torch.linspace(-1, 1, 64, dtype=like.dtype, device=like.device)
        compiled(*[sample] * arity)  # compile now, in this (worker) thread
        return compiled

    return make


def times_derivative(g: torch.Tensor | None, x: torch.Tensor, n: int, k: int) -> torch.Tensor:
    """``g * P_n^{(k)}(x)`` (or P_n^{(k)}(x) when ``g`` is None), compiled where it pays."""
    kernels.check_degree(n)  # before any kernel: a degree past the limit is the caller's error
    if k >= n:  # constants: nothing to compile
        return kernels.times_derivative(g, x, n, k)
    if g is not None and (g.shape != x.shape or g.dtype != x.dtype or g.device != x.device):
        g = g.to(dtype=x.dtype, device=x.device).expand(x.shape)
    backend = _backend(x, n, g)
    if backend is None:
        return kernels.times_derivative(g, x, n, k)
    inductor = kernels.fused_value if g is None else kernels.fused_times
    eager = functools.partial(kernels.times_derivative, g, x, n, k)
    return _dispatch(backend, eager, inductor, (n, k), x, g, n, k)


def legendre_derivative(x: torch.Tensor, n: int, k: int = 0) -> torch.Tensor:
    """d^k/dx^k P_n(x), elementwise, same dtype/device/shape as ``x``; ``x`` is never modified."""
    return times_derivative(None, x, n, k)


def p3(x: torch.Tensor) -> torch.Tensor:
    """P3(x): the tutorial's formula eager, the compiled P_3 kernel where it pays."""
    backend = _backend(x, 3, None, P3_NATIVE_MIN_NUMEL)
    if backend is None:
        return kernels.p3(x)
    return _dispatch(
        backend, functools.partial(kernels.p3, x), kernels.p3_kernel, (), x, None, 3, 0
    )


def times_dp3(g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """g * P3'(x), as :func:`p3`."""
    same = g.shape == x.shape and g.dtype == x.dtype
    backend = _backend(x, 3, g, P3_NATIVE_MIN_NUMEL) if same else None
    if backend is None:
        return kernels.times_dp3(g, x)
    eager = functools.partial(kernels.times_dp3, g, x)
    return _dispatch(backend, eager, kernels.times_dp3_kernel, (), x, g, 3, 1)


def _dispatch(
    backend: str,
    eager: Callable[[], torch.Tensor],
    inductor_fn: Callable[..., torch.Tensor],
    literals: tuple[int, ...],
    x: torch.Tensor,
    g: torch.Tensor | None,
    n: int,
    k: int,
) -> torch.Tensor:
    """Run through :data:`DISPATCHER` on ``backend``, the one :func:`_backend` chose."""
    dtype = str(x.dtype).removeprefix("torch.")
    x = x.resolve_neg().resolve_conj()  # a compiled kernel reads memory: -x stored as x
    g = None if g is None else g.resolve_neg().resolve_conj()
    if backend == "native":

        def native_evaluate(lib, xs, gs):
            return lib.evaluate(xs, n, k, gs)

        name = f"native {dtype} (any n, k)"
        return DISPATCHER.run(
            name,
            "native C kernel",
            _native_make,
            _native_on_disk,
            eager,
            lambda lib: lib.evaluate(x, n, k, g),
            _check(n, k, x, g, native_evaluate),
        )

    def inductor_evaluate(compiled, xs, gs):
        return _call_flat(compiled, (xs,) if gs is None else (gs, xs))

    name = f"inductor {x.device.type} {dtype} {inductor_fn.__name__}"
    name += "".join(f" {d}" for d in literals)
    return DISPATCHER.run(
        name,
        name,
        _inductor_make(inductor_fn, literals, x, 1 if g is None else 2),
        lambda: False,
        eager,
        lambda compiled: inductor_evaluate(compiled, x, g),
        _check(n, k, x, g, inductor_evaluate),
    )


def _call_flat(compiled: Callable, tensors: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The compiled kernel on flat, detached views (one kernel for every shape; dynamo guards
    on requires_grad, so detaching lets training and inference share one)."""
    shape = tensors[-1].shape
    return compiled(*(t.detach().reshape(-1) for t in tensors)).reshape(shape)
