"""What a mutant is: a deliberately wrong Function, the bug class it stands for, and the
``verify()`` arguments (call description and oracle) it should have met."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Mutant"]


@dataclass(frozen=True)
class Mutant:
    """A wrong Function and how ``verify`` is asked about it.

    ``options`` holds every ``verify()`` keyword argument other than ``fn`` and ``name``:
    ``symbolic=``/``reference=`` (the truth), ``example=``/``signature=``/``kwargs=`` (the call
    description), ``domain=``, ``compare=`` ... exactly as a user would pass them.
    """

    name: str
    bug: str
    fn: Callable[..., Any]
    options: Mapping[str, Any] = field(default_factory=dict)

    def verify_kwargs(self) -> dict[str, Any]:
        """The keyword arguments for ``verify(mutant.fn, **mutant.verify_kwargs())``."""
        return {"name": self.name, **self.options}
