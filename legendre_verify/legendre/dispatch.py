"""Eager or compiled: one dispatcher owns every compiled kernel, its state and its statistics.

Tiered execution (the default). A kernel runs eager until it has proven hot (a second call
with real work behind it); then it is compiled **in the background** while calls keep running
eager, and the first call after the build is ready runs both and checks them against each
other before the compiled kernel takes over. A process that calls once never compiles; a
kernel already built on disk is loaded (milliseconds) and used from the first call.

``LEGENDRE_VERIFY_COMPILE`` forces a mode: ``0``/``eager`` (never compile), ``1``/``compiled``
(compile on the first call and wait for it, as a benchmark wants) or ``tiered``. Any build
failure or disagreement leaves that kernel eager, with one warning.

Backends: on the CPU the C kernel of :mod:`.native` (degree and order at run time: one build
for every n and k); on CUDA torch.compile (inductor/Triton), one kernel per degree up to
``COMPILE_MAX_DEGREE``, compiled in a worker thread on a small sample.
"""

from __future__ import annotations

import functools
import os
import threading
import time
import warnings
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
        artifact.loaded_from_disk = disk
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
        agree: Callable[[torch.Tensor, torch.Tensor], str | None],
    ) -> torch.Tensor:
        """One call of kernel ``name``: compiled if its artifact is built (and, the first time,
        checked by ``agree(compiled, eager)``, which returns None or why they differ), else eager.

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
                result = self._run_compiled(kernel, compiled, eager, agree)
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

    def _run_compiled(self, kernel, compiled, eager, agree) -> torch.Tensor | None:
        try:
            result = compiled(kernel.artifact.value)
        except Exception as error:
            kernel.error = f"compiled call failed: {type(error).__name__}: {_first_line(error)}"
            _warn(f"{kernel.name}: {kernel.error}; eager kernel in use")
            return None
        if not kernel.checked:
            why = agree(result, eager())
            if why is not None:
                kernel.error = f"compiled kernel disagrees with eager ({why})"
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
    if x.numel() < least or not kernels._plain(x) or (g is not None and not kernels._plain(g)):
        return None
    return backend


def _agreement(n: int, k: int, dtype: torch.dtype, g: torch.Tensor | None):
    """``agree(compiled, eager)``: both are within the recurrence's bound of the truth, so they
    are within twice it of each other (scaled by the largest |value| and |g|)."""

    def agree(compiled: torch.Tensor, eager: torch.Tensor) -> str | None:
        from legendre_verify.legendre.bounds import legendre_abs_tolerance

        finite, infinite = eager.isfinite(), eager.isinf()
        if not (
            torch.equal(finite, compiled.isfinite())
            and torch.equal(infinite, compiled.isinf())
            and torch.equal(eager[infinite], compiled[infinite])
        ):
            return "their infinities or NaNs differ"
        if not finite.any():
            return None
        e, c = eager[finite].double(), compiled[finite].double()
        scale = max(kernels.value_at_one(n, k), e.abs().max().item())
        gmax = 1.0 if g is None else max(1.0, g.abs().max().item())
        allowed = 2 * legendre_abs_tolerance(n, k, dtype, scale) * gmax
        worst = (c - e).abs().max().item()
        return None if worst <= allowed else f"max difference {worst:.3g} > {allowed:.3g}"

    return agree


def _native_make():
    from legendre_verify.legendre import native

    return native.NativeKernel(native.build())


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
    agree = _agreement(n, k, x.dtype, g)
    if backend == "native":
        name = f"native {dtype} (any n, k)"
        return DISPATCHER.run(
            name,
            "native C kernel",
            _native_make,
            _native_on_disk,
            eager,
            lambda lib: lib.evaluate(x, n, k, g),
            agree,
        )
    tensors = (x,) if g is None else (g, x)
    name = f"inductor {x.device.type} {dtype} {inductor_fn.__name__}"
    name += "".join(f" {d}" for d in literals)
    return DISPATCHER.run(
        name,
        name,
        _inductor_make(inductor_fn, literals, x, len(tensors)),
        lambda: False,
        eager,
        lambda compiled: _call_flat(compiled, tensors),
        agree,
    )


def _call_flat(compiled: Callable, tensors: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The compiled kernel on flat, detached views (one kernel for every shape; dynamo guards
    on requires_grad, so detaching lets training and inference share one)."""
    shape = tensors[-1].shape
    return compiled(*(t.detach().reshape(-1) for t in tensors)).reshape(shape)
