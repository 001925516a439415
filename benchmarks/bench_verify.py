"""Seconds for a default verify(): the tutorial's P3 (elementwise, sympy truth; goal <= 10 s on
2 CPU cores) and a 3-input LinearFunction against F.linear with drawn shapes (goal <= 15 s)."""

from __future__ import annotations

import sympy
import torch
import torch.nn.functional as F

from legendre_verify import LegendrePolynomial3, verify
from legendre_verify.verification.mutants.general import LinearFunction


class Verify:
    number = 1
    repeat = (1, 3, 60.0)
    processes = 1
    timeout = 300

    def time_verify_legendre_polynomial3(self):
        verify(LegendrePolynomial3.apply, symbolic=lambda x: sympy.legendre(3, x))

    def time_verify_linear_function(self):
        verify(
            LinearFunction.apply,
            example=(torch.ones(3, 4), torch.ones(5, 4), torch.ones(5)),
            signature="(m,n),(k,n),(k)->(m,k)",
            reference=F.linear,
        )
