"""legendre-verify: differentiable Legendre polynomials and property-based verification of
custom ``torch.autograd.Function``s.

The numerics (:mod:`~legendre_verify.functions`) import torch alone; the verification parts
(Hypothesis, sympy) are imported lazily, on first use.
"""

from __future__ import annotations

from legendre_verify.functions import (
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
    "legendre_p",
    "legendre_p_derivative",
]

__version__ = "0.1.0"
