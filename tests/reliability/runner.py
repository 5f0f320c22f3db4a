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
from fibrecafe_client._aiohttp import HttpBackend

__all__ = [
    "ASYNC_BACKENDS",
    "KINDS",
    "Kind",
    "Outcome",
    "SleepRecorder",
    "async_backend",
    "run_bounded",
    "run_in_thread",
]

#: ``sync``: ``FibreCafe``; ``async``: ``AsyncFibreCafe`` on httpx's pool; ``aiohttp``:
#: ``AsyncFibreCafe(http_backend="aiohttp")``. Every real-socket case runs on each.
Kind = Literal["sync", "async", "aiohttp"]
KINDS: tuple[Kind, ...] = ("sync", "async", "aiohttp")
#: The async client's HTTP backends, for tests parametrised on them.
ASYNC_BACKENDS: tuple[HttpBackend, ...] = ("httpx", "aiohttp")


def async_backend(kind: Kind) -> HttpBackend:
    """The ``http_backend`` of an async kind."""
    return "aiohttp" if kind == "aiohttp" else "httpx"


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
        backend = async_backend(kind)
        async with AsyncFibreCafe(
            **client_kwargs, sleep=recorder.asleep, http_backend=backend
        ) as client:
            return await async_call(client)

    work = sync_work if kind == "sync" else (lambda: asyncio.run(async_work()))
    outcome = run_in_thread(work, limit, what)
    outcome.waits = list(recorder.waits)
    return outcome
