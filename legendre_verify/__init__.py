"""legendre-verify: differentiable Legendre polynomials and property-based verification of
custom ``torch.autograd.Function``s. Two parts that a reader should see as two:

- :mod:`legendre_verify.verification`: the verifier (``verify``, its checks, oracles,
  strategies, tolerances, mutant zoos); torch, Hypothesis and sympy, never the polynomials;
- :mod:`legendre_verify.legendre`: P3 and P_n as autograd Functions and their kernels (torch
  alone).

Every public name is imported on first use, so ``from legendre_verify import verify`` loads
no Legendre numerics, and ``from legendre_verify import legendre_p`` no Hypothesis or sympy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from legendre_verify.legendre import (
        LegendrePolynomial,
        LegendrePolynomial3,
        LegendrePolynomialDerivative,
        compile_status,
        legendre_p,
        legendre_p_derivative,
    )
    from legendre_verify.verification import checks, oracles, strategies, tolerances
    from legendre_verify.verification.arguments import constant, index, size
    from legendre_verify.verification.driver import verify
    from legendre_verify.verification.oracles import OracleError
    from legendre_verify.verification.pytest_plugin import verification_tests
    from legendre_verify.verification.report import (
        CheckResult,
        InternalError,
        Report,
        VerificationError,
    )

__all__ = [
    "CheckResult",
    "InternalError",
    "LegendrePolynomial",
    "LegendrePolynomial3",
    "LegendrePolynomialDerivative",
    "OracleError",
    "Report",
    "VerificationError",
    "checks",
    "compile_status",
    "constant",
    "index",
    "legendre_p",
    "legendre_p_derivative",
    "oracles",
    "size",
    "strategies",
    "tolerances",
    "verification_tests",
    "verify",
]

__version__ = "0.1.0"

_VERIFICATION = "legendre_verify.verification"
_LAZY = {
    "verify": (f"{_VERIFICATION}.driver", "verify"),
    "VerificationError": (f"{_VERIFICATION}.report", "VerificationError"),
    "Report": (f"{_VERIFICATION}.report", "Report"),
    "CheckResult": (f"{_VERIFICATION}.report", "CheckResult"),
    "InternalError": (f"{_VERIFICATION}.report", "InternalError"),
    "OracleError": (f"{_VERIFICATION}.oracles", "OracleError"),
    "verification_tests": (f"{_VERIFICATION}.pytest_plugin", "verification_tests"),
    "constant": (f"{_VERIFICATION}.arguments", "constant"),
    "index": (f"{_VERIFICATION}.arguments", "index"),
    "size": (f"{_VERIFICATION}.arguments", "size"),
    "checks": (f"{_VERIFICATION}.checks", None),
    "oracles": (f"{_VERIFICATION}.oracles", None),
    "strategies": (f"{_VERIFICATION}.strategies", None),
    "tolerances": (f"{_VERIFICATION}.tolerances", None),
    **{
        name: ("legendre_verify.legendre", name)
        for name in (
            "LegendrePolynomial",
            "LegendrePolynomial3",
            "LegendrePolynomialDerivative",
            "compile_status",
            "legendre_p",
            "legendre_p_derivative",
        )
    },
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'legendre_verify' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
