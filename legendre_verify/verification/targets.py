"""What the command line names: a Function or callable by ``module:Name`` or
``path/to/file.py:Name``, and Python/sympy expressions for ``--example``, ``--reference`` and
``--symbolic``. The CLI parses; this module resolves. Every mistake in what is named is a
``ValueError``/``TypeError`` with a one-line message that names the argument, the bad value and,
for an error in the user's own file, the file and line."""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import torch

__all__ = ["evaluate", "resolve_target", "symbolic_from_text", "where"]


def _shown(filename: str) -> str:
    """A file name as a user would type it: relative to the current directory when inside it."""
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive (Windows)
        return filename
    return filename if relative.startswith(os.pardir) else relative


def where(tb: TracebackType | None, prefer: str | None = None, *, only: bool = False) -> str | None:
    """``file, line N`` of a traceback's frame: the innermost one in ``prefer`` (a file name)
    if any (``only``: else None), else the innermost one in the user's code (not Python's or an
    installed package's), else the innermost one."""
    frames = [(f.filename, f.lineno) for f in traceback.extract_tb(tb)]
    if not frames:
        return None
    roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}

    def installed(filename: str) -> bool:
        real = os.path.realpath(filename)
        return filename.startswith("<") or any(real.startswith(root + os.sep) for root in roots)

    chosen = None
    if prefer is not None:
        mine = [f for f in frames if os.path.realpath(f[0]) == os.path.realpath(prefer)]
        chosen = mine[-1] if mine else None
        if chosen is None and only:
            return None
    if chosen is None:
        user = [f for f in frames if not installed(f[0])]
        chosen = user[-1] if user else frames[-1]
    return f"{_shown(chosen[0])}, line {chosen[1]}"


def _first_line(error: BaseException) -> str:
    """``Type: message`` in one line (a SyntaxError's message without its ``(file, line)``)."""
    if isinstance(error, SyntaxError) and error.msg:
        return f"{type(error).__name__}: {error.msg}"
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _import_failure(what: str, error: BaseException, prefer: str | None) -> ValueError:
    """A one-line ValueError for a target whose import raised ``error``."""
    if isinstance(error, SyntaxError):
        place = f"{_shown(error.filename)}, line {error.lineno}" if error.filename else None
        place = place or where(error.__traceback__, prefer)
        return ValueError(
            f"{what} does not compile: {type(error).__name__} at {place}: {error.msg}"
        )
    place = where(error.__traceback__, prefer)
    at = f", at {place}" if place else ""
    return ValueError(f"{what} raised on import{at}: {_first_line(error)}")


def _load_file(path: Path, shown: str) -> ModuleType:
    name = path.stem
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"target file {shown!r} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(name)
    sys.modules[name] = module  # so that pickling, reproduce snippets and torch.library find it
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
        raise _import_failure(f"target file {shown!r}", error, str(path)) from error
    return module


def _import_module(module_name: str) -> ModuleType:
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise ValueError(
                f"target module {module_name!r} is not found (no module {missing!r} on sys.path, "
                "which holds the current directory); give path/to/file.py:NAME for a file"
            ) from error
        raise _import_failure(f"target module {module_name!r}", error, None) from error
    except (Exception, SystemExit) as error:
        raise _import_failure(f"target module {module_name!r}", error, None) from error


def _functions_in(module: ModuleType) -> list[str]:
    """The autograd Functions a module defines (for a hint)."""
    return sorted(
        name
        for name, value in vars(module).items()
        if isinstance(value, type)
        and issubclass(value, torch.autograd.Function)
        and getattr(value, "__module__", None) == module.__name__
    )


def resolve_target(spec: str) -> tuple[Any, ModuleType]:
    """The callable ``spec`` names (a Function class becomes its ``apply``) and its module.

    ``spec`` is ``module.path:Name`` (imported with the current directory on ``sys.path``, as
    ``python -m`` would) or ``path/to/file.py:Name``; ``Name`` may be dotted.
    """
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise ValueError(
            "TARGET must be MODULE:NAME or path/to/file.py:NAME (e.g. my_ops.py:MyExp), "
            f"got {spec!r}"
        )
    if module_name.endswith(".py") or os.sep in module_name or "/" in module_name:
        path = Path(module_name).resolve()
        if not path.is_file():
            raise ValueError(f"target file {module_name!r} does not exist (TARGET {spec!r})")
        module = _load_file(path, module_name)
        owner = f"target file {module_name!r}"
    else:
        module = _import_module(module_name)
        owner = f"target module {module_name!r}"
    target: Any = module
    for i, part in enumerate(attr.split(".")):
        try:
            target = getattr(target, part)
        except AttributeError as error:
            if i == 0:
                functions = _functions_in(module)
                found = f"; its autograd Functions: {', '.join(functions)}" if functions else ""
                raise ValueError(f"{owner} has no {part!r} (TARGET {spec!r}){found}") from error
            raise ValueError(
                f"{owner}: {'.'.join(attr.split('.')[:i])} has no {part!r} (TARGET {spec!r})"
            ) from error
    if isinstance(target, type) and issubclass(target, torch.autograd.Function):
        return target.apply, module
    if not callable(target):
        raise TypeError(f"TARGET {spec!r} is not callable: {type(target).__name__} {target!r:.100}")
    return target, module


def _scope(module: ModuleType | None) -> dict[str, Any]:
    from hypothesis import strategies as st

    from legendre_verify.verification.arguments import constant, index, size

    scope: dict[str, Any] = dict(vars(module)) if module is not None else {}
    scope.update(
        torch=torch,
        F=torch.nn.functional,
        st=st,
        math=math,
        constant=constant,
        index=index,
        size=size,
    )
    return scope


def evaluate(text: str, what: str, module: ModuleType | None = None) -> Any:
    """Evaluate a Python expression with ``torch``, ``F`` (torch.nn.functional), ``st``
    (hypothesis.strategies), ``math``, ``constant``, ``index`` and ``size``
    (:mod:`legendre_verify.verification.arguments`) and the target module's names in scope."""
    scope = _scope(module)
    try:
        code = compile(text, f"<{what}>", "eval")
    except SyntaxError as error:
        column = f" at column {error.offset}" if error.offset else ""
        raise ValueError(
            f"{what} {text!r} is not a Python expression: SyntaxError{column}: {error.msg}"
        ) from error
    try:
        return eval(code, scope)
    except Exception as error:
        hint = ""
        if isinstance(error, NameError):
            names = "torch, F, st, math, constant, index, size"
            owner = f" and the names of {module.__name__}" if module is not None else ""
            hint = f" (in scope: {names}{owner})"
        raise ValueError(
            f"{what} {text!r} does not evaluate: {_first_line(error)}{hint}"
        ) from error


def symbolic_from_text(text: str, n: int | None = None) -> tuple[Callable[..., Any], int]:
    """A sympy expression's text (``n`` bound to an integer when given) as a symbolic oracle
    and the number of its variables (taken in alphabetical order)."""
    import sympy

    namespace = {"n": sympy.Integer(n)} if n is not None else {}
    try:
        expr = sympy.sympify(text, locals=namespace)
    except (sympy.SympifyError, TypeError, SyntaxError, ValueError, AttributeError) as error:
        cause = getattr(error, "base_exc", None) or error
        raise ValueError(
            f"--symbolic {text!r} is not a sympy expression: {_first_line(cause)}"
        ) from error
    if not isinstance(expr, sympy.Expr):
        raise ValueError(
            f"--symbolic {text!r} is not a sympy expression of numbers: got "
            f"{type(expr).__name__} {expr!r:.100}"
        )
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    if not symbols:
        raise ValueError(f"--symbolic {text!r} has no variable (use x, or x and y, ...)")

    def symbolic(*args: Any) -> Any:
        return expr.subs(dict(zip(symbols, args, strict=True)), simultaneous=True)

    return symbolic, len(symbols)
