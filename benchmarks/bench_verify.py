"""Seconds for the default verify() of LegendrePolynomial3 (goal: <= 10 s on 2 CPU cores)."""

from __future__ import annotations

import sympy

from legendre_verify import LegendrePolynomial3, verify


class Verify:
    number = 1
    repeat = (1, 3, 60.0)
    processes = 1
    timeout = 300

    def time_verify_legendre_polynomial3(self):
        verify(LegendrePolynomial3.apply, symbolic=lambda x: sympy.legendre(3, x))
