"""Run one SDK call, sync or async, in a worker thread with a bounded join (the hang check).

A call that has not returned ``limit`` seconds after it started fails the test: that is how
"every call returns within its deadline" is asserted without timing anything. The async client
gets its own event loop in the worker, so a call that blocked the loop is caught too.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from fibrecafe_client import AsyncFibreCafe, FibreCafe

__all__ = ["Kind", "Outcome", "SleepRecorder", "run_bounded", "run_in_thread"]

Kind = Literal["sync", "async"]


@dataclass
class SleepRecorder:
    """The SDK's ``sleep``: records each wait the retry policy asks for, and does not wait."""

    waits: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)

    async def asleep(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
        await asyncio.sleep(0)


@dataclass
class Outcome:
    """What a bounded call produced."""

    result: Any = None
    error: BaseException | None = None
    elapsed: float = 0.0
    waits: list[float] = field(default_factory=list)


def run_in_thread(work: Callable[[], Any], limit: float, what: str) -> Outcome:
    """Run ``work()`` in a daemon thread; fail the test if it is still running after ``limit``."""
    outcome = Outcome()
    started = time.monotonic()

    def target() -> None:
        try:
            outcome.result = work()
        except BaseException as exc:  # handed to the test
            outcome.error = exc
        finally:
            outcome.elapsed = time.monotonic() - started

    thread = threading.Thread(target=target, name=f"bounded-{what}", daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        pytest.fail(f"{what} hung: still running {limit:.0f}s after it started")
    return outcome


def run_bounded(
    kind: Kind,
    client_kwargs: dict[str, Any],
    sync_call: Callable[[FibreCafe], Any],
    async_call: Callable[[AsyncFibreCafe], Awaitable[Any]],
    *,
    limit: float,
    what: str,
) -> Outcome:
    """Build a fresh client of ``kind`` in the worker, make one call, close the client."""
    recorder = SleepRecorder()

    def sync_work() -> Any:
        with FibreCafe(**client_kwargs, sleep=recorder.sleep) as client:
            return sync_call(client)

    async def async_work() -> Any:
        async with AsyncFibreCafe(**client_kwargs, sleep=recorder.asleep) as client:
            return await async_call(client)

    work = sync_work if kind == "sync" else (lambda: asyncio.run(async_work()))
    outcome = run_in_thread(work, limit, what)
    outcome.waits = list(recorder.waits)
    return outcome
