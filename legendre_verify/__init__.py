"""legendre-verify: differentiable Legendre polynomials and property-based verification of
custom ``torch.autograd.Function``s.

The numerics (:mod:`~legendre_verify.functions`) import torch alone; the verification parts
(``verify``, ``strategies``, ``checks``: Hypothesis and sympy) are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from legendre_verify.legendre import (
    LegendrePolynomial,
    LegendrePolynomial3,
    LegendrePolynomialDerivative,
    legendre_p,
    legendre_p_derivative,
)

if TYPE_CHECKING:
    from legendre_verify import checks, oracles, strategies
    from legendre_verify.driver import Report, VerificationError, verify

__all__ = [
    "LegendrePolynomial",
    "LegendrePolynomial3",
    "LegendrePolynomialDerivative",
    "Report",
    "VerificationError",
    "checks",
    "legendre_p",
    "legendre_p_derivative",
    "oracles",
    "strategies",
    "verify",
]

__version__ = "0.1.0"

_LAZY = {
    "verify": ("legendre_verify.driver", "verify"),
    "VerificationError": ("legendre_verify.driver", "VerificationError"),
    "Report": ("legendre_verify.driver", "Report"),
    "checks": ("legendre_verify.checks", None),
    "oracles": ("legendre_verify.oracles", None),
    "strategies": ("legendre_verify.strategies", None),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'legendre_verify' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value
