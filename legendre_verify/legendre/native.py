"""The compiled CPU kernel: ``recurrence.c`` built with the system C compiler, called by ctypes.

Why not inductor on the CPU: one C loop over coefficient arrays takes the degree at run time,
so a single build (about half a second, measured) serves every n and k, where inductor unrolled
one kernel per degree (1 s at n = 3 to 59 s at n = 128, cold) and stopped at n = 128. It keeps
the whole recurrence in registers, so it reads x once and writes once for any n, and it runs
faster than the inductor kernels it replaces at every degree measured (see benchmarks/README.md).

The build is cached on disk under :func:`cache_dir`, keyed by the source, the compiler and its
flags, so later processes only load it (milliseconds). Any failure (no compiler, a compiler
error, an ABI mismatch) raises :class:`NativeBuildError`; the dispatcher then stays eager.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from legendre_verify.legendre.kernels import (
    ENDPOINT_MIN_DEGREE,
    ENDPOINT_RADIUS,
    _monic_coefficients,
    compute_dtype,
    endpoint_coefficients,
    recurrence_coefficients,
)

__all__ = ["NativeBuildError", "NativeKernel", "build", "cache_dir", "cached_library"]

ABI_VERSION = 5
#: tried in order: the first set the compiler accepts is used
FLAG_SETS = (("-O3", "-march=native"), ("-O3",))
_COMMON_FLAGS = ("-shared", "-fPIC", "-std=c11", "-ffp-contract=fast", "-pthread")
_DTYPES = {torch.float32: "float32", torch.float64: "float64"}


class NativeBuildError(RuntimeError):
    """The C kernel could not be built or loaded here (the message says why)."""


def cache_dir() -> Path:
    """Where built kernels live: ``$LEGENDRE_VERIFY_CACHE_DIR``, else the user cache dir."""
    explicit = os.environ.get("LEGENDRE_VERIFY_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "legendre_verify"


@functools.cache
def _source() -> bytes:
    return resources.files("legendre_verify.legendre").joinpath("recurrence.c").read_bytes()


def _compiler() -> str | None:
    return (
        os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    )


def _compiler_identity(compiler: str) -> str:
    """The compiler's resolved path, size and mtime: changes when it is upgraded, and costs a
    stat (not a ``--version`` subprocess) on the first call of a process."""
    resolved = shutil.which(compiler) or compiler
    try:
        stat = os.stat(resolved)
    except OSError:
        return resolved
    return f"{os.path.realpath(resolved)} {stat.st_size} {stat.st_mtime_ns}"


def _library_path(compiler: str) -> Path:
    key = hashlib.sha256(
        b"\0".join(
            [
                _source(),
                _compiler_identity(compiler).encode(),
                repr((FLAG_SETS, _COMMON_FLAGS, ABI_VERSION)).encode(),
                platform.machine().encode(),
                platform.node().encode(),  # -march=native: the build belongs to this machine
            ]
        )
    ).hexdigest()[:16]
    return cache_dir() / f"recurrence-{key}.so"


def cached_library() -> Path | None:
    """The built library for this source and compiler if it is on disk already, else None."""
    compiler = _compiler()
    if compiler is None:
        return None
    path = _library_path(compiler)
    return path if path.exists() else None


def build() -> Path:
    """Compile ``recurrence.c`` into the cache (or find it there) and return the library's path.

    Runs the compiler in a subprocess (safe from a worker thread: the GIL is released while it
    waits). The file appears atomically, so concurrent processes never load half a library.
    """
    compiler = _compiler()
    if compiler is None:
        raise NativeBuildError("no C compiler found (set CC, or install cc/gcc/clang)")
    target = _library_path(compiler)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        source = Path(work) / "recurrence.c"
        source.write_bytes(_source())
        output = Path(work) / target.name
        for flags in FLAG_SETS:
            command = [compiler, *flags, *_COMMON_FLAGS, str(source), "-o", str(output), "-lm"]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=300)
            except (OSError, subprocess.SubprocessError) as error:
                raise NativeBuildError(f"{compiler} could not run: {error}") from error
            if done.returncode == 0:
                os.replace(output, target)
                return target
            errors.append(f"{' '.join(flags)}: {done.stderr.strip().splitlines()[-1:]}")
    raise NativeBuildError(f"{compiler} failed to build recurrence.c ({'; '.join(errors)})")


@dataclass(frozen=True)
class _Coefficients:
    """Everything the C kernel needs for one (n, k, compute dtype), as arrays it can read."""

    alpha: torch.Tensor
    beta: torch.Tensor
    c0: float
    scale: float
    monic: bool
    series: torch.Tensor
    radius: float
    odd: bool


@functools.lru_cache(maxsize=512)
def _coefficients(n: int, k: int, wide: torch.dtype) -> _Coefficients:
    """The recurrence for P_n^{(k)} (n > k) in ``wide`` arithmetic, as in kernels._fused."""
    monic = _monic_coefficients(n, k, wide)
    if monic is not None:
        scale, betas = monic
        alpha = [1.0] * (len(betas) + 1)
        beta = [0.0, *betas]
        c0 = 1.0
    else:
        c0, c1, steps = recurrence_coefficients(n, k)
        scale = 1.0
        alpha = [c1, *(a for a, _ in steps)]
        beta = [0.0, *(b for _, b in steps)]
    series = endpoint_coefficients(n, k, wide) if n >= ENDPOINT_MIN_DEGREE else None
    radius = 0.0 if series is None else ENDPOINT_RADIUS / (n * n)  # as kernels._endpoint_series
    return _Coefficients(
        alpha=torch.tensor(alpha, dtype=wide),
        beta=torch.tensor(beta, dtype=wide),
        c0=c0,
        scale=scale,
        monic=monic is not None,
        series=torch.tensor(series or [0.0], dtype=torch.float64),
        radius=radius,
        odd=bool((n + k) % 2),
    )


class NativeKernel:
    """The loaded library: ``evaluate(x, n, k, g)`` is ``g * P_n^{(k)}(x)`` (or P_n^{(k)})."""

    def __init__(self, path: Path) -> None:
        try:
            self._lib = ctypes.CDLL(str(path))
            version = self._lib.legendre_abi_version()
        except (OSError, AttributeError) as error:
            raise NativeBuildError(f"could not load {path}: {error}") from error
        if version != ABI_VERSION:
            raise NativeBuildError(f"{path} has ABI {version}, expected {ABI_VERSION}")
        self.path = path
        p, i64, f64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double, ctypes.c_int
        self._functions = {}
        for name in (
            "legendre_float32_in_float32",
            "legendre_float32_in_float64",
            "legendre_float64_in_float64",
        ):
            fn = getattr(self._lib, name)
            fn.restype = None
            fn.argtypes = [p, p, p, i64, p, p, i64, f64, f64, i32, p, i64, f64, i32, i32]
            self._functions[name] = fn

    def evaluate(
        self, x: torch.Tensor, n: int, k: int, g: torch.Tensor | None = None
    ) -> torch.Tensor:
        """For float32/float64 CPU tensors and n > k; ``g`` has x's shape and dtype."""
        wide = compute_dtype(x.dtype, n)
        fn = self._functions[f"legendre_{_DTYPES[x.dtype]}_in_{_DTYPES[wide]}"]
        c = _coefficients(n, k, wide)
        xs = x.detach().contiguous()
        gs = None if g is None else g.detach().contiguous()
        out = torch.empty(x.shape, dtype=x.dtype)
        fn(
            xs.data_ptr(),
            None if gs is None else gs.data_ptr(),
            out.data_ptr(),
            xs.numel(),
            c.alpha.data_ptr(),
            c.beta.data_ptr(),
            c.alpha.numel(),
            c.c0,
            c.scale,
            int(c.monic),
            c.series.data_ptr(),
            c.series.numel() if c.radius else 0,
            c.radius,
            int(c.odd),
            torch.get_num_threads(),
        )
        return out
