"""Benchmark 7: KCIs per second through one uvicorn process, and Redis round trips per KCI.

Three apps in one run, each in its own uvicorn process on 127.0.0.1 (the load comes from this
process, so server and client each have a core on a 2-core machine): a bare ASGI endpoint that
only ``json.loads`` the body and answers 204, the ``KciReceiver`` with its in-memory store, and
the receiver on ``RedisKciStore`` against a real redis-server started here. Every KCI is a new
one (a distinct id), as in a burst after an outage. Redis round trips per KCI come from Redis's
own command statistics; the bytes Redis keeps per KCI from ``MEMORY USAGE``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis

from fibrecafe_client._loopback import free_loopback_port
from fibrecafe_client.testing import redis_server

from ._report import Figure

__all__ = ["run"]

NAME = "7. KCI receiver throughput"
MEMORY_TARGET = 0.7
ROUND_TRIP_TARGET = 3.0
_ROOT = Path(__file__).resolve().parents[1]
_TEMPLATE = json.loads(
    (_ROOT / "tests" / "fixtures" / "kcis" / "service-test-in-progress.json").read_text()
)
_WIDTH = 50


@contextmanager
def _uvicorn(app: str, redis_url: str) -> Iterator[str]:
    port = free_loopback_port()
    env = {**os.environ, "BENCH_APP": app, "FIBRECAFE_KCI_STORE_URL": redis_url}
    command = [sys.executable, "-m", "uvicorn", "benchmarks._receiver_app:app"]
    child = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        [*command, "--port", str(port), "--log-level", "error", "--no-access-log"],
        cwd=_ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}/kcis"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.post(url, content=b"{}", headers={"content-type": "application/json"})
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise RuntimeError(f"benchmark app {app} did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        child.terminate()
        child.wait(10)


def _bodies(count: int, start: int) -> list[bytes]:
    bodies = []
    for n in range(start, start + count):
        doc = {**_TEMPLATE, "id": f"bench-{n}", "sequenceNumber": 1}
        doc["entity"] = {**doc["entity"], "id": n}
        bodies.append(json.dumps(doc).encode())
    return bodies


async def _blast(url: str, bodies: list[bytes]) -> float:
    """Post every body, ``_WIDTH`` at a time; seconds taken. All must be acknowledged.

    The load comes from aiohttp (the ``aiohttp`` extra, in ``dev``): measured here, httpx's
    AsyncClient posting at 50 in flight tops out near 140 requests/s on loopback, far below
    what uvicorn serves, so it would measure the client instead of the receiver.
    """
    import aiohttp

    headers = {"content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=_WIDTH)
    async with aiohttp.ClientSession(connector=connector) as session:
        queue = list(reversed(bodies))

        async def worker() -> None:
            while queue:
                async with session.post(url, data=queue.pop(), headers=headers) as response:
                    await response.read()
                    if response.status != 204:
                        raise RuntimeError(f"benchmark KCI answered {response.status}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(_WIDTH)))
        return time.perf_counter() - start


def _redis_figures(redis_url: str, kcis: int) -> tuple[float, float]:
    raw = redis.Redis.from_url(redis_url)
    stats: dict[str, Any] = raw.info("commandstats")
    # Commands the receiver sent: its scripts (the GET/SET/PEXPIRE inside them are counted by
    # Redis too, but cost no round trip) and anything else it might send.
    # Connection set-up (CLIENT SETINFO, HELLO, SELECT) is paid once per pooled connection, not
    # per KCI, and is left out too.
    not_per_kci = {"cmdstat_get", "cmdstat_set", "cmdstat_pexpire", "cmdstat_del"}
    not_per_kci |= {"cmdstat_config", "cmdstat_client", "cmdstat_client|setinfo", "cmdstat_hello"}
    calls = sum(int(v["calls"]) for k, v in stats.items() if k not in not_per_kci)
    claim = raw.memory_usage("fibrecafe:kci:c:bench-1|1|INFORMATIONAL|IN_PROGRESS") or 0
    sequence = raw.memory_usage("fibrecafe:kci:s:SERVICE_TEST:1") or 0
    raw.close()
    return calls / kcis, float(claim + sequence)


def run(*, quick: bool) -> list[Figure]:
    """KCIs per second for the three apps; Redis round trips and bytes per KCI."""
    per_round = 1000 if quick else 10_000
    rounds = 1 if quick else 3
    rates: dict[str, list[float]] = {"bare": [], "memory": [], "redis": []}
    round_trips = kept = 0.0
    with redis_server() as redis_url:
        for round_index in range(rounds):
            for app, samples in rates.items():
                bodies = _bodies(per_round, 1 + round_index * per_round)
                with _uvicorn(app, redis_url) as url:
                    asyncio.run(_blast(url, _bodies(50, 10_000_000)))  # warm up
                    raw = redis.Redis.from_url(redis_url)
                    raw.config_resetstat()
                    raw.close()
                    samples.append(per_round / asyncio.run(_blast(url, bodies)))
                    if app == "redis":
                        round_trips, kept = _redis_figures(redis_url, per_round)
    rate = {app: statistics.median(values) for app, values in rates.items()}
    note = ", ".join(f"{app} {value:.0f} KCI/s" for app, value in rate.items())

    def ratio(app: str) -> float:
        return statistics.median(a / b for a, b in zip(rates[app], rates["bare"], strict=True))

    return [
        Figure(
            NAME,
            "receiver (in-memory) / bare json.loads endpoint",
            ratio("memory"),
            "x",
            ">=",
            MEMORY_TARGET,
            note,
        ),
        Figure(NAME, "receiver (Redis) / bare json.loads endpoint", ratio("redis"), "x"),
        Figure(
            NAME,
            "Redis round trips per KCI (happy path)",
            round_trips,
            "requests",
            "<=",
            ROUND_TRIP_TARGET,
            "from INFO commandstats",
        ),
        Figure(
            NAME,
            "bytes Redis keeps per KCI (claim + entity sequence)",
            kept,
            "B",
            note="MEMORY USAGE of one handled KCI's keys",
        ),
    ]
