"""Interleaved timing: every case runs once per round, rounds repeat, medians are kept.

Absolute times drift on a shared machine (other processes, frequency scaling), so cases are never
timed in separate phases: each round runs every case back to back, in an order that rotates, and
a ratio is the median over the rounds of that round's ratio.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

__all__ = ["Samples", "time_async", "time_sync"]


@dataclass(frozen=True, slots=True)
class Samples:
    """Seconds per call of each case, one sample per round."""

    per_call: Mapping[str, list[float]]

    def median_us(self, case: str) -> float:
        """Median over the rounds of the time per call, in microseconds."""
        return statistics.median(self.per_call[case]) * 1e6

    def ratio(self, case: str, baseline: str) -> float:
        """Median over the rounds of ``case / baseline`` (both timed in the same round)."""
        pairs = zip(self.per_call[case], self.per_call[baseline], strict=True)
        return statistics.median(a / b for a, b in pairs)


def _orders(names: list[str], rounds: int) -> list[list[str]]:
    # Rotate the order so no case always runs first (caches) or last (after the others' garbage).
    return [names[r % len(names) :] + names[: r % len(names)] for r in range(rounds)]


def time_sync(
    cases: Mapping[str, Callable[[], object]], *, rounds: int, number: int, warmup: int
) -> Samples:
    """Time each case ``number`` calls per round, for ``rounds`` rounds, after ``warmup`` calls."""
    for func in cases.values():
        for _ in range(warmup):
            func()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for order in _orders(list(cases), rounds):
        for name in order:
            func = cases[name]
            gc.collect()
            start = time.perf_counter()
            for _ in range(number):
                func()
            samples[name].append((time.perf_counter() - start) / number)
    return Samples(samples)


async def time_async(
    cases: Mapping[str, Callable[[], Awaitable[object]]], *, rounds: int, number: int, warmup: int
) -> Samples:
    """:func:`time_sync` for coroutine functions (awaited one after the other)."""
    for func in cases.values():
        for _ in range(warmup):
            await func()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for order in _orders(list(cases), rounds):
        for name in order:
            func = cases[name]
            gc.collect()
            start = time.perf_counter()
            for _ in range(number):
                await func()
            samples[name].append((time.perf_counter() - start) / number)
    return Samples(samples)
