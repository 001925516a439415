"""What the command line names: a Function or callable by ``module:Name`` or
``path/to/file.py:Name``, and Python/sympy expressions for ``--example``, ``--reference`` and
``--symbolic``. The CLI parses; this module resolves."""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

__all__ = ["evaluate", "resolve_target", "symbolic_from_text"]


def _load_file(path: Path) -> ModuleType:
    name = path.stem
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot import {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so that pickling, reproduce snippets and torch.library find it
    sys.path.insert(0, str(path.parent))
    spec.loader.exec_module(module)
    return module


def resolve_target(spec: str) -> tuple[Any, ModuleType]:
    """The callable ``spec`` names (a Function class becomes its ``apply``) and its module.

    ``spec`` is ``module.path:Name`` (imported with the current directory on ``sys.path``, as
    ``python -m`` would) or ``path/to/file.py:Name``; ``Name`` may be dotted.
    """
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise ValueError(
            "target must be MODULE:NAME or path/to/file.py:NAME (e.g. my_ops.py:MyExp), "
            f"got {spec!r}"
        )
    if module_name.endswith(".py") or os.sep in module_name:
        path = Path(module_name).resolve()
        if not path.is_file():
            raise ValueError(f"target file {module_name!r} does not exist")
        module = _load_file(path)
    else:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        module = importlib.import_module(module_name)
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as error:
            raise ValueError(f"target {spec!r}: {module.__name__} has no {attr!r}") from error
    if isinstance(target, type) and issubclass(target, torch.autograd.Function):
        return target.apply, module
    if not callable(target):
        raise TypeError(f"target {spec!r} is not callable: {target!r}")
    return target, module


def evaluate(text: str, what: str, module: ModuleType | None = None) -> Any:
    """Evaluate a Python expression with ``torch``, ``F`` (torch.nn.functional), ``st``
    (hypothesis.strategies), ``math`` and the target module's names in scope."""
    from hypothesis import strategies as st

    scope: dict[str, Any] = dict(vars(module)) if module is not None else {}
    scope.update(torch=torch, F=torch.nn.functional, st=st, math=math)
    try:
        return eval(text, scope)
    except Exception as error:
        raise ValueError(
            f"{what} {text!r} does not evaluate: {type(error).__name__}: {error}"
        ) from error


def symbolic_from_text(text: str, n: int | None = None) -> tuple[Callable[..., Any], int]:
    """A sympy expression's text (``n`` bound to an integer when given) as a symbolic oracle
    and the number of its variables (taken in alphabetical order)."""
    import sympy

    namespace = {"n": sympy.Integer(n)} if n is not None else {}
    try:
        expr = sympy.sympify(text, locals=namespace)
    except (sympy.SympifyError, TypeError, SyntaxError) as error:
        raise ValueError(f"--symbolic {text!r} is not a sympy expression: {error}") from error
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    if not symbols:
        raise ValueError(f"--symbolic {text!r} has no variable (use x, or x and y, ...)")

    def symbolic(*args: Any) -> Any:
        return expr.subs(dict(zip(symbols, args, strict=True)), simultaneous=True)

    return symbolic, len(symbols)
