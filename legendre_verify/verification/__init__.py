"""The verifier: proves custom autograd Functions right or shows a minimal counterexample.

It stands alone: importing it never imports the Legendre library. The public names are
re-exported by ``legendre_verify`` (``verify``, ``Report``, ``VerificationError``, ...).
"""
