"""``verify()``'s options, each stated once, in four groups:

- :class:`CallOptions` — what is called: ``example``, ``kwargs``, ``signature``, ``batch``,
  ``arity``;
- :class:`TruthOptions` — what is true: ``symbolic``, ``reference``, ``derived``,
  ``reference_error``, ``compare``, ``kinks``, ``domain``;
- :class:`SearchOptions` — how hard to look: ``max_examples``, ``thorough``, ``seed``,
  ``database``, ``settings`` (a Hypothesis settings object or profile name), ``timeout``;
- :class:`RunOptions` — what runs: ``checks``, ``skip``, ``dtypes``, ``devices``,
  ``inductor``, ``fail_fast``.

``verify()``, ``verification_tests()`` and the command line all build one :class:`Options`
from the same keywords (:meth:`Options.from_keywords`): an unknown keyword is a ``TypeError``
that lists the known ones, by group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from legendre_verify.verification.limits import DEFAULT_TIMEOUT

__all__ = ["CallOptions", "Options", "RunOptions", "SearchOptions", "TruthOptions"]


@dataclass(frozen=True)
class CallOptions:
    """What is called.

    ``example``: one call's positional arguments (floating tensors are the differentiable
    inputs; ``constant()``, ``index()`` and ``size()`` markers, other values and Hypothesis
    strategies as their docs say); without it, the elementwise form (``arity`` tensors of one
    shape). ``kwargs``: keyword arguments. ``signature``: numpy's gufunc syntax over the
    floating and index tensors, then the outputs, with optional size bounds. ``batch``: every
    floating input also gets the same drawn leading loop dimensions.
    """

    example: tuple[Any, ...] | None = None
    kwargs: Mapping[str, Any] | None = None
    signature: str | None = None
    batch: bool = False
    arity: int | None = None


@dataclass(frozen=True)
class TruthOptions:
    """What is true.

    ``symbolic``: sympy (elementwise); ``reference``: plain differentiable torch with the
    Function's call signature; ``derived``: the Function's own forward run outside it (None:
    when nothing else is given); ``reference_error``: the relative error the reference's
    derivatives are trusted to (only when it is measurably imprecise, and only by name);
    ``compare``: ``{output: "close" | "exact" | "ties" | "ignore" | callable}``; ``kinks``:
    points where a derivative jumps (beyond those found); ``domain``: the floating inputs'
    values, ``(lo, hi)`` or ``"(0, 4]"`` (None: (-1, 1), and a general Function's edges also
    at magnitudes where exp overflows).
    """

    symbolic: Callable[..., Any] | None = None
    reference: Callable[..., Any] | None = None
    derived: bool | None = None
    reference_error: float | None = None
    compare: Mapping[int, Any] | None = None
    kinks: Sequence[float] = ()
    domain: Sequence[float] | str | None = None


@dataclass(frozen=True)
class SearchOptions:
    """How hard to look.

    ``max_examples``: samples per check (a check's cost divides it); ``thorough``: 10x as many,
    random, from a printed seed (``seed`` replays it); ``database``: a Hypothesis example
    database or a directory: failing samples are saved and replayed first next time (random
    runs); ``settings``: a ``hypothesis.settings`` object or a registered profile's name,
    whose ``max_examples``, ``derandomize`` and ``database`` are used where the keywords above
    are not given; ``timeout``: seconds a check may spend in the Function on one sample
    (None: no limit).
    """

    max_examples: int | None = None
    thorough: bool = False
    seed: int | None = None
    database: Any = None
    settings: Any = None
    timeout: float | None = DEFAULT_TIMEOUT
    derandomize: bool | None = None


@dataclass(frozen=True)
class RunOptions:
    """What runs.

    ``checks``: the checks to run (default: every default check); ``skip``: checks to leave
    out; ``dtypes``/``devices``: those drawn; ``inductor``: add the slow inductor compile
    check; ``fail_fast``: stop at the first failing check.
    """

    checks: Iterable[str] | None = None
    skip: Iterable[str] = ()
    dtypes: Iterable[Any] | None = None
    devices: Iterable[Any] | None = None
    inductor: bool = False
    fail_fast: bool = False


_GROUPS = {
    "call": CallOptions,
    "truth": TruthOptions,
    "search": SearchOptions,
    "run": RunOptions,
}


@dataclass(frozen=True)
class Options:
    """All of verify()'s options, by group; ``name`` names the Function in reports."""

    call: CallOptions = field(default_factory=CallOptions)
    truth: TruthOptions = field(default_factory=TruthOptions)
    search: SearchOptions = field(default_factory=SearchOptions)
    run: RunOptions = field(default_factory=RunOptions)
    name: str | None = None

    @classmethod
    def keywords(cls) -> dict[str, str]:
        """Every keyword and the group it belongs to."""
        return {f.name: group for group, kind in _GROUPS.items() for f in fields(kind)}

    @classmethod
    def from_keywords(cls, **keywords: Any) -> Options:
        """Options from flat keywords (``example=``, ``reference=``, ...) or whole groups
        (``call=CallOptions(...)``); an unknown keyword is a ``TypeError`` listing the known."""
        known = cls.keywords()
        groups: dict[str, dict[str, Any]] = {group: {} for group in _GROUPS}
        whole: dict[str, Any] = {}
        name = keywords.pop("name", None)
        for key, value in keywords.items():
            if key in _GROUPS:
                if not isinstance(value, _GROUPS[key]):
                    raise TypeError(
                        f"{key}= must be a {_GROUPS[key].__name__}, got {type(value).__name__}"
                    )
                whole[key] = value
            elif key in known:
                groups[known[key]][key] = value
            else:
                listing = "; ".join(
                    f"{group}: {', '.join(f.name for f in fields(kind))}"
                    for group, kind in _GROUPS.items()
                )
                raise TypeError(f"verify() got an unexpected keyword {key!r}; known: {listing}")
        built = {}
        for group, kind in _GROUPS.items():
            base = whole.get(group, kind())
            values = {f.name: getattr(base, f.name) for f in fields(kind)}
            values.update(groups[group])
            built[group] = kind(**values)
        return cls(**built, name=name)

    def subject_keywords(self) -> dict[str, Any]:
        """What ``build_subject`` takes."""
        call, truth = self.call, self.truth
        return {
            "example": call.example,
            "kwargs": call.kwargs,
            "signature": call.signature,
            "batch": call.batch,
            "arity": call.arity,
            "symbolic": truth.symbolic,
            "reference": truth.reference,
            "derived": truth.derived,
            "reference_error": truth.reference_error,
            "compare": truth.compare,
            "kinks": truth.kinks,
            "domain": truth.domain,
            "name": self.name,
            "timeout": self.search.timeout,
        }
