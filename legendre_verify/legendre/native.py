"""The compiled CPU kernel: ``recurrence.c`` built with the system C compiler, called by ctypes.

Why not inductor on the CPU: one C loop over coefficient arrays takes the degree at run time,
so a single build (about half a second, measured) serves every n and k, where inductor unrolled
one kernel per degree (1 s at n = 3 to 59 s at n = 128, cold) and stopped at n = 128. It keeps
the whole recurrence in registers, so it reads x once and writes once for any n, and it runs
faster than the inductor kernels it replaces at every degree measured (see benchmarks/README.md).

The build is cached on disk under :func:`cache_dir`, keyed by the source, the compiler and its
flags, so later processes only load it (milliseconds). A cached library is *verified before it
is loaded*: beside ``recurrence-KEY.so`` lies ``recurrence-KEY.so.sha256`` with its SHA-256 and
size, both written atomically (built in a private ``build-*`` directory, then ``os.replace``d,
library first). A library whose bytes do not match (truncated, zeroed, empty, garbage, no stamp)
is never handed to ``dlopen`` (a damaged ELF file can kill the process with SIGBUS or SIGSEGV
inside it); the bytes that were checked are what is loaded (through a memfd on Linux, so the
file can change afterwards without harm). A library that fails to verify or to load is rebuilt
once; if that fails too, :class:`NativeBuildError` says why and the dispatcher stays eager.

No file-system error of the cache reaches a caller: a cache that cannot be read counts as empty,
one that cannot be written is skipped (the kernel is built in a private temporary directory for
this process). Build directories left behind by a killed build are removed by a later build once
they are older than any build can take (:data:`STALE_SECONDS`).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
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

__all__ = ["NativeBuildError", "NativeKernel", "build", "cache_dir", "cached_library", "load"]

ABI_VERSION = 5
#: tried in order: the first set the compiler accepts is used
FLAG_SETS = (("-O3", "-march=native"), ("-O3",))
_COMMON_FLAGS = ("-shared", "-fPIC", "-std=c11", "-ffp-contract=fast", "-pthread")
_DTYPES = {torch.float32: "float32", torch.float64: "float64"}
#: seconds one compiler run may take before it is stopped
COMPILE_TIMEOUT = 300
#: a build directory older than this belongs to no running build (each takes at most
#: ``len(FLAG_SETS) * COMPILE_TIMEOUT``): a later build removes it
STALE_SECONDS = 2 * len(FLAG_SETS) * COMPILE_TIMEOUT
_BUILD_PREFIX = "build-"
#: what the build directories were called before they had a prefix (tempfile's default names)
_OLD_BUILD = re.compile(r"tmp[a-z0-9_]{8}")
_STAMP_SUFFIX = ".sha256"


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
    found = (
        os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    )
    return None if found is None else shutil.which(found) or found  # absolute: runs in a tmp dir


def _compiler_identity(compiler: str) -> str:
    """The compiler's resolved path, size and mtime: changes when it is upgraded, and costs a
    stat (not a ``--version`` subprocess) on the first call of a process."""
    try:
        stat = os.stat(compiler)
        return f"{os.path.realpath(compiler)} {stat.st_size} {stat.st_mtime_ns}"
    except OSError:
        return compiler


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


def stamp_path(library: Path) -> Path:
    """The file beside ``library`` that holds its SHA-256 and size."""
    return library.with_name(library.name + _STAMP_SUFFIX)


def _stamp(data: bytes) -> str:
    return f"sha256={hashlib.sha256(data).hexdigest()} size={len(data)}\n"


def _verified(library: Path) -> bytes | None:
    """``library``'s bytes if its stamp matches them (size and SHA-256), else None (damaged,
    missing, unreadable: never an exception)."""
    try:
        stamp = stamp_path(library).read_text(encoding="ascii")
        if not stamp.endswith(f" size={os.stat(library).st_size}\n"):
            return None  # truncated or grown: not even read
        data = library.read_bytes()
    except (OSError, ValueError):
        return None
    return data if stamp == _stamp(data) else None


def cached_library() -> Path | None:
    """The built library for this source and compiler if a verified copy is on disk, else None.

    Never raises: a cache that cannot be read is an empty one."""
    compiler = _compiler()
    if compiler is None:
        return None
    path = _library_path(compiler)
    return path if _verified(path) is not None else None


def load() -> NativeKernel:
    """The C kernel, loaded: from the cache when a verified build is there, else built (into the
    cache where it can be written) and loaded. A cached library that fails to verify or to load
    is rebuilt once. Raises :class:`NativeBuildError` (never an OSError) when that fails."""
    compiler = _compiler()
    if compiler is None:
        raise NativeBuildError("no C compiler found (set CC, or install cc/gcc/clang)")
    target = _library_path(compiler)
    data = _verified(target)
    if data is not None:
        try:
            return NativeKernel(target, data)
        except NativeBuildError:
            pass  # verified but not loadable here: rebuilt below, once
    return _build(compiler, target, load=True)


def build() -> Path:
    """Compile ``recurrence.c`` into the cache (or find a verified build there) and return the
    library's path. Raises :class:`NativeBuildError` when it cannot be built or cached."""
    compiler = _compiler()
    if compiler is None:
        raise NativeBuildError("no C compiler found (set CC, or install cc/gcc/clang)")
    target = _library_path(compiler)
    if _verified(target) is None:
        _build(compiler, target, load=False)
        if _verified(target) is None:
            raise NativeBuildError(f"could not write the built library to {target.parent}")
    return target


def _build(compiler: str, target: Path, *, load: bool) -> NativeKernel | None:
    """Compile into a fresh build directory, publish the library and its stamp into the cache
    (atomically: the library, then its stamp) and, with ``load``, load the bytes just built.
    A cache that cannot be written costs only the publishing: the kernel is built (and
    loaded) in a private temporary directory instead."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_builds(target.parent)
        work = Path(tempfile.mkdtemp(prefix=_BUILD_PREFIX, dir=target.parent))
    except OSError:
        try:  # the cache cannot be written: build for this process only
            work = Path(tempfile.mkdtemp(prefix="legendre-verify-" + _BUILD_PREFIX))
        except OSError as error:
            raise NativeBuildError(f"no directory to build in: {error}") from error
    try:
        data = _compile(compiler, work, target.name)
        stamp = work / "stamp"
        built = work / target.name
        try:
            stamp.write_text(_stamp(data), encoding="ascii")
            os.replace(built, target)
            built = target
            os.replace(stamp, stamp_path(target))
        except OSError:
            pass  # not cached (read-only, full or vanished cache): loaded all the same
        if not load:
            return None
        kernel = NativeKernel(built, data)
        kernel.built_here = True
        return kernel
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _compile(compiler: str, work: Path, name: str) -> bytes:
    """``recurrence.c`` compiled in ``work`` into ``work / name``; its bytes. The compiler runs
    in ``work`` on relative names, so that no path of this build ends up in the library (two
    builds of one source give the same bytes)."""
    try:
        (work / "recurrence.c").write_bytes(_source())
    except OSError as error:
        raise NativeBuildError(f"could not write the source to {work}: {error}") from error
    errors = []
    for flags in FLAG_SETS:
        command = [compiler, *flags, *_COMMON_FLAGS, "recurrence.c", "-o", name, "-lm"]
        try:
            done = subprocess.run(
                command,
                cwd=work,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=COMPILE_TIMEOUT,
            )
        except (OSError, subprocess.SubprocessError) as error:
            raise NativeBuildError(f"{compiler} could not run: {error}") from error
        if done.returncode == 0:
            try:
                return (work / name).read_bytes()
            except OSError as error:
                raise NativeBuildError(f"could not read the built library: {error}") from error
        errors.append(f"{' '.join(flags)}: {done.stderr.strip().splitlines()[-1:]}")
    raise NativeBuildError(f"{compiler} failed to build recurrence.c ({'; '.join(errors)})")


def _remove_stale_builds(directory: Path) -> None:
    """Remove build directories that no running build can own (older than
    :data:`STALE_SECONDS`: left by a build that was killed). Never raises."""
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            if entry.name.startswith(_BUILD_PREFIX):
                pass
            elif not (
                _OLD_BUILD.fullmatch(entry.name)
                and os.path.exists(os.path.join(entry.path, "recurrence.c"))
            ):
                continue
            if now - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS:
                shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:
            continue


def _dlopen(path: Path, data: bytes | None) -> tuple[ctypes.CDLL, int | None]:
    """``data`` (the verified bytes of ``path``) loaded from a memfd where the system has one:
    what was checked is what runs, whatever happens to the file later. Else ``path``. Returns
    the library and the memfd, kept open for the library's life (glibc knows a loaded library
    by its name, /proc/self/fd/N: a reused N would hand back the old one)."""
    if data is not None and hasattr(os, "memfd_create"):
        fd = None
        try:
            fd = os.memfd_create(path.name)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            return ctypes.CDLL(f"/proc/self/fd/{fd}"), fd
        except OSError:
            if fd is not None:
                os.close(fd)  # no /proc, a noexec memfd: load the (verified) file
    return ctypes.CDLL(str(path)), None


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


#: the coefficient sets kept, by total length (alpha + beta): 64 MB of float64 (every degree up
#: to ~2,000 many times over; a few sets at n = MAX_DEGREE)
COEFFICIENT_CACHE_LENGTH = 1 << 23
_coefficient_cache: dict[tuple[int, int, torch.dtype], _Coefficients] = {}


def _coefficients(n: int, k: int, wide: torch.dtype) -> _Coefficients:
    """The recurrence for P_n^{(k)} (n > k) in ``wide`` arithmetic, as in kernels._fused;
    cached (the oldest sets leave first once :data:`COEFFICIENT_CACHE_LENGTH` is passed). Only
    atomic dict operations: callers may be threads, and a forked child inherits no lock."""
    key = (n, k, wide)
    found = _coefficient_cache.get(key)
    if found is None:
        found = _coefficient_cache[key] = _make_coefficients(n, k, wide)
        cached = list(_coefficient_cache.items())
        length = sum(c.alpha.numel() + c.beta.numel() for _, c in cached)
        for old, c in cached[:-1]:
            if length <= COEFFICIENT_CACHE_LENGTH:
                break
            _coefficient_cache.pop(old, None)
            length -= c.alpha.numel() + c.beta.numel()
    return found


def _make_coefficients(n: int, k: int, wide: torch.dtype) -> _Coefficients:
    monic = _monic_coefficients(n, k, wide)
    if monic is not None:
        scale, betas = monic
        alpha = [1.0] * (len(betas) + 1)
        beta = [0.0, *betas]
        c0 = 1.0
    else:
        c0, c1, alphas, betas = recurrence_coefficients(n, k)
        scale = 1.0
        alpha = [c1, *alphas]
        beta = [0.0, *betas]
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

    def __init__(self, path: Path, data: bytes | None = None) -> None:
        """Load ``path`` (``data``: its verified bytes, what is loaded where possible)."""
        try:
            self._lib, self._fd = _dlopen(path, data)
            version = self._lib.legendre_abi_version()
        except (OSError, AttributeError) as error:
            raise NativeBuildError(f"could not load {path}: {error}") from error
        if version != ABI_VERSION:
            raise NativeBuildError(f"{path} has ABI {version}, expected {ABI_VERSION}")
        self.path = path
        self.built_here = False  # True when :func:`load` had to build it
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
        xs = _readable(x)
        gs = None if g is None else _readable(g)
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


def _readable(t: torch.Tensor) -> torch.Tensor:
    """``t`` as memory the C kernel can read as it is: detached, contiguous, and with a
    negative or conjugate bit resolved (a ``torch._neg_view`` holds -x as x)."""
    return t.detach().resolve_neg().resolve_conj().contiguous()
