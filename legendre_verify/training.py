"""The PyTorch tutorial's fit of ``y = a + b * P3(c + d * x)`` to ``sin(x)``, as a function.

Defaults are the tutorial's constants; the loop is the tutorial's loop (sum-of-squares loss,
``loss.backward()``, plain SGD under ``torch.no_grad()``, grads reset to None).

``method="auto"`` (the default) picks what finishes first end to end: it times the first
:data:`PROBE_STEPS` eager steps, then compares the rest eager against compiling (seconds,
unless a previous run left the compiled step in the on-disk caches) plus the rest compiled.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from legendre_verify.legendre import LegendrePolynomial3, dispatch
from legendre_verify.legendre.native import cache_dir

__all__ = ["METHODS", "FitResult", "choose_method", "fit", "resolve_device"]

#: how the steps run: ``auto`` picks eager or compiled by expected wall time; the tutorial's
#: eager loop; the same step (autograd through LegendrePolynomial3) compiled with
#: torch.compile; or fused analytic gradients (not through the Function: never picked by auto)
METHODS = ("auto", "eager", "compiled", "fused")

#: eager steps ``auto`` times before it decides
PROBE_STEPS = 20
#: what ``auto`` assumes before any compiled run was recorded here: inductor's first call with
#: empty caches (measured for the chunked step on 2 cores: 12.5 s on one machine, 26.1 s on
#: another; 13 s with inductor's cache warm) and the compiled step's speed relative to eager
#: (measured 3x and more at 2,000 points)
COLD_COMPILE_SECONDS = 20.0
COMPILED_SPEEDUP = 3.0
_RECORD = "train-compiled.json"

#: the tutorial's starting point (a, b, c, d)
INITIAL = (0.0, -1.0, 0.0, 0.3)


@dataclass
class FitResult:
    """Fitted coefficients of ``a + b * P3(c + d * x)`` and the loss at every step."""

    a: float
    b: float
    c: float
    d: float
    losses: list[float] = field(repr=False)
    x: torch.Tensor = field(repr=False)
    y: torch.Tensor = field(repr=False)
    method: str = "eager"
    seconds: float = 0.0  # the whole run
    first_call_seconds: float = 0.0  # of which compiling (method "compiled")
    reason: str = ""  # why ``auto`` chose ``method``

    @property
    def steps_per_second(self) -> float:
        """Steady-state speed: compile time left out."""
        run = self.seconds - self.first_call_seconds
        return len(self.losses) / run if run > 0 else math.inf

    @property
    def coefficients(self) -> tuple[float, float, float, float]:
        return (self.a, self.b, self.c, self.d)

    def result_line(self) -> str:
        """The tutorial's closing line."""
        return f"Result: y = {self.a} + {self.b} * P3({self.c} + {self.d} x)"

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.a + self.b * LegendrePolynomial3.apply(self.c + self.d * x)


def resolve_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch.device, with a clear error when CUDA is asked for but absent."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"device must name a torch device such as 'cpu' or 'cuda', got {device!r}"
        ) from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was asked for, but CUDA is not available here "
            f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}); use device='cpu'"
        )
    return resolved


def fit(
    *,
    steps: int = 2000,
    lr: float = 5e-6,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    points: int = 2000,
    function: Callable[[torch.Tensor], torch.Tensor] = LegendrePolynomial3.apply,
    log: Callable[[int, float], None] | None = None,
    log_every: int = 100,
    method: str = "auto",
) -> FitResult:
    """Run the tutorial's training loop and return the fitted coefficients and loss history.

    ``log(t, loss)`` is called where the tutorial prints (``t % log_every == log_every - 1``).
    ``method`` (see :data:`METHODS`): ``eager`` is the tutorial's loop; ``compiled`` runs the
    same autograd step through torch.compile (the first call compiles: seconds, cached on disk);
    ``fused`` uses analytic gradients from the data's moments (the prediction is a cubic in x,
    so the loss and its gradient need only sum x^m, m <= 6, and sum x^j y, j <= 3), O(1) per step;
    ``auto`` runs eager or compiled, whichever :func:`choose_method` expects to finish first
    (``FitResult.reason`` says why). All follow the same trajectory up to rounding.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got method={method!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got steps={steps!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got lr={lr!r}")
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating torch.dtype, got dtype={dtype!r}")
    device = resolve_device(device)

    x = torch.linspace(-math.pi, math.pi, points, device=device, dtype=dtype)
    y = torch.sin(x)
    started = time.perf_counter()

    def result(theta, losses, used, first=0.0, reason="") -> FitResult:
        seconds = time.perf_counter() - started
        a, b, c, d = (float(v) for v in theta)
        return FitResult(a, b, c, d, losses, x.cpu(), y.cpu(), used, seconds, first, reason)

    if method == "fused":
        theta, losses = _fit_fused(x, y, steps, lr, log, log_every)
        return result(theta, losses, "fused")
    loop = _EagerLoop(x, y, lr, function, log, log_every)
    reason = ""
    if method == "auto":
        loop.run(min(PROBE_STEPS, steps))
        if function != LegendrePolynomial3.apply:
            method, reason = "eager", "a custom function: the compiled step is P3's own"
        else:
            method, reason = choose_method(steps - len(loop.losses), loop.step_seconds(), x)
    if method == "compiled":
        try:
            theta, first = _fit_compiled(x, y, steps, lr, log, log_every, loop)
            return result(theta, loop.losses, "compiled", first, reason)
        except Exception as error:  # no working compiler: the eager loop gives the same fit
            if isinstance(error, ValueError | TypeError) or loop.compiled_steps:
                raise
            warnings.warn(
                f"torch.compile failed ({type(error).__name__}: {str(error).splitlines()[0][:200]}); "
                "training with the eager loop instead",
                RuntimeWarning,
                stacklevel=2,
            )
            dispatch.DISPATCHER.note_failure(_STEP, error)
    loop.run(steps - len(loop.losses))
    return result(loop.parameters(), loop.losses, "eager", 0.0, reason)


class _EagerLoop:
    """The tutorial's loop, resumable: ``run(count)`` takes ``count`` more steps."""

    def __init__(self, x, y, lr, function, log, log_every) -> None:
        self.x, self.y, self.lr, self.function = x, y, lr, function
        self.log, self.log_every = log, log_every
        self.params = [
            torch.full((), v, device=x.device, dtype=x.dtype, requires_grad=True) for v in INITIAL
        ]
        self.losses: list[float] = []
        self.seconds: list[float] = []
        self.compiled_steps = 0

    def run(self, count: int) -> None:
        a, b, c, d = self.params
        for _ in range(count):
            start = time.perf_counter()
            y_pred = a + b * self.function(c + d * self.x)
            loss = (y_pred - self.y).pow(2).sum()
            self.losses.append(loss.item())
            _logged(self.losses, self.log, self.log_every)
            loss.backward()
            with torch.no_grad():
                for parameter in self.params:
                    parameter -= self.lr * parameter.grad
                    parameter.grad = None
            self.seconds.append(time.perf_counter() - start)

    def step_seconds(self) -> float:
        """A typical eager step (the median: the first steps pay one-time setup)."""
        return statistics.median(self.seconds) if self.seconds else 0.0

    def parameters(self) -> tuple[float, ...]:
        return tuple(p.item() for p in self.params)


def _record_path() -> Path:
    return cache_dir() / _RECORD


def _record_key(x: torch.Tensor) -> str:
    return f"torch {torch.__version__} {x.device.type} {x.dtype} points={x.numel()}"


def _inductor_cache() -> Path:
    """inductor's on-disk cache (its default place; what a later process's compile loads)."""
    explicit = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if explicit:
        return Path(explicit)
    user = os.environ.get("USER") or os.environ.get("USERNAME") or str(os.getuid())
    return Path(tempfile.gettempdir()) / f"torchinductor_{user}"


def _recorded(x: torch.Tensor) -> dict | None:
    """The last compiled run's timings for this setting, if its compiled code is still cached."""
    try:
        record = json.loads(_record_path().read_text()).get(_record_key(x))
    except (OSError, ValueError):
        return None
    cache = _inductor_cache()
    if not record or record.get("inductor_cache") != str(cache) or not cache.is_dir():
        return None  # compiled into another cache, or this one was wiped: a cold compile
    return record


def _remember(x: torch.Tensor, first_call: float, step: float) -> None:
    path = _record_path()
    try:
        records = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        records = {}
    entry = records.get(_record_key(x), {})
    entry.update(
        {
            "inductor_cache": str(_inductor_cache()),
            "step_seconds": step,
            "last_first_call": first_call,
        }
    )
    if entry.get("cold_first_call") is None:
        entry["cold_first_call"] = first_call
    else:  # a later run found the caches warm
        entry["warm_first_call"] = first_call
    records[_record_key(x)] = entry
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(records, indent=1))
    except OSError:
        pass  # a read-only cache dir only costs the next run its estimate


def choose_method(steps: int, eager_step: float, x: torch.Tensor) -> tuple[str, str]:
    """("eager" | "compiled", why): the one with the least expected wall time for ``steps`` more
    steps, given an eager step of ``eager_step`` seconds on data like ``x``."""
    eager_total = steps * eager_step
    record = _recorded(x)
    if record is not None:
        compile_cost = record.get("warm_first_call", record["last_first_call"])
        compiled_step = record["step_seconds"]
        known = f"compiled step cached on disk: first call ~{compile_cost:.1f} s"
    else:
        compile_cost = COLD_COMPILE_SECONDS
        compiled_step = eager_step / COMPILED_SPEEDUP
        known = f"nothing compiled cached: first call ~{compile_cost:.0f} s to compile"
    compiled_total = compile_cost + steps * compiled_step
    method = "compiled" if compiled_total < eager_total else "eager"
    reason = (
        f"{steps:,} steps: eager ~{eager_total:.1f} s ({eager_step * 1e3:.2f} ms/step) vs "
        f"compiled ~{compiled_total:.1f} s ({known})"
    )
    return method, reason


def _logged(losses: list[float], log: Callable[[int, float], None] | None, every: int) -> None:
    t = len(losses) - 1
    if log is not None and t % every == every - 1:
        log(t, losses[-1])


class _TraceableP3(LegendrePolynomial3):
    """LegendrePolynomial3's forward and backward, minus its jvp: dynamo cannot trace an
    autograd.Function that defines jvp (it graph-breaks around it, and the compiled step is then
    slower than eager). The training step needs no forward-mode AD."""

    jvp = torch.autograd.Function.jvp


def _loss(theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    a, b, c, d = theta.unbind()
    return (a + b * _TraceableP3.apply(c + d * x) - y).pow(2).sum()


def _step(theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, lr: float):
    grads, loss = torch.func.grad_and_value(_loss)(theta, x, y)
    return theta - lr * grads, loss


#: steps per compiled call: amortises the ~30 us call overhead (10: ~9 s cold compile, cached)
CHUNK = 10


def _chunk(theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, lr: float):
    losses = []
    for _ in range(CHUNK):
        theta, loss = _step(theta, x, y, lr)
        losses.append(loss)
    return theta, torch.stack(losses)


_STEP = "training step (torch.compile)"


def _fit_compiled(x, y, steps, lr, log, log_every, loop: _EagerLoop):
    """The tutorial's step (autograd through LegendrePolynomial3) compiled, CHUNK steps a call,
    from where ``loop`` (the eager steps already taken, if any) left off, to ``steps`` in all.

    Functional on purpose: parameters live in one shape-(4,) tensor and come back as a new
    tensor, and no ``.grad`` is touched inside (torch.compile drops ``p.grad = None`` and
    in-place updates of 0-d tensors it does not return, silently).
    """
    t0 = time.perf_counter()  # the first call's cost includes importing the compiler
    chunk = dispatch.DISPATCHER.compiled_function(_STEP, _chunk)
    theta = torch.tensor(loop.parameters(), dtype=x.dtype, device=x.device)
    losses = loop.losses
    first = 0.0
    chunk_seconds = []
    while len(losses) < steps:
        if steps - len(losses) >= CHUNK:
            start = time.perf_counter()
            theta, chunk_losses = chunk(theta, x, y, lr)
            new = chunk_losses.tolist()
            if not loop.compiled_steps:  # the first call compiles (or loads from the cache)
                first = time.perf_counter() - t0
                dispatch.DISPATCHER.note_compiled_call(_STEP, first)
            else:
                dispatch.DISPATCHER.note_compiled_call(_STEP)
                chunk_seconds.append(time.perf_counter() - start)
            loop.compiled_steps += CHUNK
        else:  # the remainder, without compiling another graph
            theta, loss = _step(theta, x, y, lr)
            new = [loss.item()]
        for value in new:
            losses.append(value)
            _logged(losses, log, log_every)
    if loop.compiled_steps:
        step = statistics.median(chunk_seconds) / CHUNK if chunk_seconds else first / CHUNK
        _remember(x, first, step)
    return tuple(theta.tolist()), first


def _fit_fused(x, y, steps, lr, log, log_every):
    """Analytic gradients from moments, in float64 Python scalars: O(1) work per step.

    With u = c + d x, P3(u) = q0 + q1 x + q2 x^2 + q3 x^3, so the prediction is
    w0 + w1 x + w2 x^2 + w3 x^3 with w = (a + b q0, b q1, b q2, b q3), and
    L = sum_jk w_j w_k M_{j+k} - 2 sum_j w_j V_j + S  (M_m = sum x^m, V_j = sum x^j y, S = sum y^2).
    """
    xs, ys = x.detach().double().cpu(), y.detach().double().cpu()
    m0, m1, m2, m3, m4, m5, m6 = (float((xs**m).sum()) for m in range(7))
    v0, v1, v2, v3 = (float((xs**j * ys).sum()) for j in range(4))
    s = float((ys**2).sum())
    a, b, c, d = INITIAL
    losses: list[float] = []
    for _ in range(steps):  # unrolled scalar arithmetic: ~100 float operations a step
        cc, dd, cd = c * c, d * d, c * d
        q0, q1, q2, q3 = 2.5 * cc * c - 1.5 * c, 7.5 * cc * d - 1.5 * d, 7.5 * c * dd, 2.5 * dd * d
        w0, w1, w2, w3 = a + b * q0, b * q1, b * q2, b * q3
        mw0 = m0 * w0 + m1 * w1 + m2 * w2 + m3 * w3  # (M w)_j
        mw1 = m1 * w0 + m2 * w1 + m3 * w2 + m4 * w3
        mw2 = m2 * w0 + m3 * w1 + m4 * w2 + m5 * w3
        mw3 = m3 * w0 + m4 * w1 + m5 * w2 + m6 * w3
        losses.append(
            w0 * (mw0 - 2 * v0)
            + w1 * (mw1 - 2 * v1)
            + w2 * (mw2 - 2 * v2)
            + w3 * (mw3 - 2 * v3)
            + s
        )
        if log is not None and (len(losses) - 1) % log_every == log_every - 1:
            log(len(losses) - 1, losses[-1])
        g0, g1, g2, g3 = 2 * (mw0 - v0), 2 * (mw1 - v1), 2 * (mw2 - v2), 2 * (mw3 - v3)  # dL/dw
        e = 7.5 * cc - 1.5  # dq0/dc = dq1/dd
        grad_a = g0
        grad_b = g0 * q0 + g1 * q1 + g2 * q2 + g3 * q3
        grad_c = b * (g0 * e + g1 * 15 * cd + g2 * 7.5 * dd)
        grad_d = b * (g1 * e + g2 * 15 * cd + g3 * 7.5 * dd)
        a, b, c, d = a - lr * grad_a, b - lr * grad_b, c - lr * grad_c, d - lr * grad_d
    return (a, b, c, d), losses
