"""Benchmark 5: memory growth over many create/get calls through one client.

After a warm-up (lazy validators built, pools and caches filled), the client alternates
``create()`` and ``get()`` against a ``MockTransport``. Two views: the process's resident set
(RSS, from /proc) over all the calls, and tracemalloc's count of live Python allocations over a
shorter stretch (tracing slows every allocation, so it watches fewer calls).
"""

from __future__ import annotations

import asyncio
import gc
import os
import tracemalloc

import httpx

from fibrecafe_client import AsyncFibreCafe, FibreCafe

from ._gateway import BASE_URL, CLIENT_ID, CLIENT_SECRET, CREATE_ARGS, MockGateway
from ._report import Figure

__all__ = ["run"]

NAME = "5. memory"
TARGET_MB = 5.0
_WARMUP = 2000
_MB = 1024 * 1024


def rss_bytes() -> int:
    """Resident set size of this process (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _sync_client(gateway: MockGateway) -> FibreCafe:
    http = httpx.Client(transport=gateway.transport())
    return FibreCafe(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, base_url=BASE_URL, http_client=http
    )


def _sync_calls(client: FibreCafe, count: int) -> None:
    for _ in range(count // 2):
        created = client.service_tests.create(**CREATE_ARGS)
        client.service_tests.get(created.id)


def _traced_growth(calls: int) -> float:
    gateway = MockGateway()
    client = _sync_client(gateway)
    _sync_calls(client, _WARMUP)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        _sync_calls(client, calls)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (after - before) / _MB


def _rss_growth_sync(calls: int) -> tuple[float, int]:
    gateway = MockGateway()
    client = _sync_client(gateway)
    _sync_calls(client, _WARMUP)
    gc.collect()
    before = rss_bytes()
    _sync_calls(client, calls)
    gc.collect()
    return (rss_bytes() - before) / _MB, gateway.api_requests


async def _rss_growth_async(calls: int) -> tuple[float, int]:
    gateway = MockGateway()
    http = httpx.AsyncClient(transport=gateway.async_transport())
    client = AsyncFibreCafe(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, base_url=BASE_URL, http_client=http
    )

    async def calls_of(count: int) -> None:
        for _ in range(count // 2):
            created = await client.service_tests.create(**CREATE_ARGS)
            await client.service_tests.get(created.id)

    await calls_of(_WARMUP)
    gc.collect()
    before = rss_bytes()
    await calls_of(calls)
    gc.collect()
    growth = (rss_bytes() - before) / _MB
    await http.aclose()
    return growth, gateway.api_requests


def run(*, quick: bool) -> list[Figure]:
    """RSS growth over ``calls`` sync and async calls; tracemalloc growth over fewer."""
    calls, traced = (2000, 1000) if quick else (100_000, 20_000)
    sync_mb, sync_requests = _rss_growth_sync(calls)
    async_mb, async_requests = asyncio.run(_rss_growth_async(calls))
    expected = calls + _WARMUP
    if (sync_requests, async_requests) != (expected, expected):
        raise AssertionError(f"requests made: {sync_requests}, {async_requests} (not {expected})")
    return [
        Figure(NAME, f"RSS growth, {calls:,} sync calls", sync_mb, "MB", "<", TARGET_MB),
        Figure(NAME, f"RSS growth, {calls:,} async calls", async_mb, "MB", "<", TARGET_MB),
        Figure(
            NAME,
            f"live Python allocations growth, {traced:,} sync calls (tracemalloc)",
            _traced_growth(traced),
            "MB",
            "<",
            TARGET_MB,
        ),
    ]
