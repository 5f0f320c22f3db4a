"""Benchmarks of fibrecafe-client: what the SDK costs next to what a tenant would write by hand.

Run ``python -m benchmarks`` (full) or ``python -m benchmarks --quick`` (the short CI mode). Every
timing figure is a ratio measured in the same run (interleaved rounds, median), because absolute
times on shared machines drift; the other figures are counts and bytes. See docs/performance.md.
"""

from ._report import Figure, Report

__all__ = ["Figure", "Report"]
