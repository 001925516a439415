"""The Legendre library: P3 and P_n as differentiable autograd Functions (torch only).

:mod:`.kernels` holds the recurrences (eager, and what inductor compiles), :mod:`.native` the
C kernel for any degree, :mod:`.dispatch` the one dispatcher that picks eager or compiled
(tiered) and owns the compiled kernels, :mod:`.functions` the Functions, :mod:`.bounds` their
error bounds and :mod:`.accuracy` the table against the exact truth.
"""

from __future__ import annotations

from legendre_verify.legendre.dispatch import compile_status
from legendre_verify.legendre.functions import (
    LegendrePolynomial,
    LegendrePolynomial3,
    LegendrePolynomialDerivative,
    legendre_p,
    legendre_p_derivative,
)

__all__ = [
    "LegendrePolynomial",
    "LegendrePolynomial3",
    "LegendrePolynomialDerivative",
    "compile_status",
    "legendre_p",
    "legendre_p_derivative",
]
