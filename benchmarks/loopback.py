"""Benchmark 6: throughput with 50 calls in flight against the sandbox in another process.

The sandbox (uvicorn) runs in a child process on 127.0.0.1; this process runs the clients, so
client and server each have a CPU of their own on a 2-core machine. The same ``get()`` calls go
through ``AsyncFibreCafe`` and through a raw ``httpx.AsyncClient`` sending the same bearer and id
headers. When the optional ``httpx-aiohttp`` package is installed, both are also measured with its
``AiohttpTransport`` (``AsyncFibreCafe(http_client=httpx.AsyncClient(transport=...))``).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import queue
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from fibrecafe_client import AsyncFibreCafe

from ._report import Figure

__all__ = ["IN_FLIGHT", "run", "sandbox_process"]

NAME = "6. loopback throughput"
IN_FLIGHT = 50
TARGET = 0.9
_ROOT = Path(__file__).resolve().parents[1]
_START_TIMEOUT = 30.0


@contextmanager
def sandbox_process() -> Iterator[dict[str, str]]:
    """Run the sandbox in a child process; yield its client settings; stop it after."""
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._sandbox_server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=_ROOT,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert child.stdout is not None
    stdout = child.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        try:
            line = lines.get(timeout=_START_TIMEOUT)
        except queue.Empty:
            raise RuntimeError("the sandbox process did not start in time") from None
        if not line:
            raise RuntimeError(f"the sandbox process exited ({child.wait(5)})")
        yield json.loads(line)
    finally:
        assert child.stdin is not None
        child.stdin.close()  # the child stops at EOF
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)
        stdout.close()


def _aiohttp_transport() -> Callable[[], httpx.AsyncBaseTransport] | None:
    """httpx-aiohttp's transport class when that optional package is installed, else None.

    Imported by name: it is not a dependency of the project, so type checkers need not find it.
    """
    try:
        module = importlib.import_module("httpx_aiohttp")
    except ImportError:
        return None
    transport: Callable[[], httpx.AsyncBaseTransport] = module.AiohttpTransport
    return transport


async def _in_flight(call: Callable[[], Awaitable[object]], total: int) -> float:
    """Seconds to make ``total`` calls with ``IN_FLIGHT`` of them outstanding at any time."""
    remaining = iter(range(total))

    async def worker() -> None:
        for _ in remaining:
            await call()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return time.perf_counter() - start


async def _measure(settings: dict[str, str], total: int, rounds: int) -> dict[str, list[float]]:
    plain = httpx.AsyncClient(limits=httpx.Limits(max_connections=IN_FLIGHT))
    sdk = AsyncFibreCafe(**settings, http_client=plain)  # type: ignore[arg-type]
    test = await sdk.service_tests.create(
        service_id="BBEU00537760",
        problem_type="OUTAGE",
        service_specification="FTTP",
        supplier="FIBRECO",
        characteristics={"SERVICE_HAS_WORKED": "false"},
    )
    raw = httpx.AsyncClient(limits=httpx.Limits(max_connections=IN_FLIGHT))
    token_response = await raw.post(
        settings["token_url"],
        data={"grant_type": "client_credentials", "scope": settings["scope"]},
        auth=(settings["client_id"], settings["client_secret"]),
    )
    token = token_response.raise_for_status().json()["access_token"]
    url = f"{settings['base_url']}/service-tests/{test.id}"

    async def raw_get(client: httpx.AsyncClient = raw) -> object:
        headers = {
            "Authorization": f"Bearer {token}",
            "X-Request-ID": str(uuid.uuid4()),
            "X-Conversation-ID": str(uuid.uuid4()),
        }
        response = await client.get(url, headers=headers)
        if response.status_code != 200:
            raise AssertionError(f"raw httpx got {response.status_code}")
        return response.json()

    async def sdk_get(client: AsyncFibreCafe = sdk) -> object:
        return await client.service_tests.get(test.id)

    cases: dict[str, Callable[[], Awaitable[object]]] = {"raw": raw_get, "sdk": sdk_get}
    closers: list[Callable[[], Awaitable[None]]] = [raw.aclose, plain.aclose]
    transport = _aiohttp_transport()
    if transport is not None:
        raw_aio = httpx.AsyncClient(transport=transport())
        aio = httpx.AsyncClient(transport=transport())
        sdk_aio = AsyncFibreCafe(**settings, http_client=aio)  # type: ignore[arg-type]
        closers += [raw_aio.aclose, aio.aclose]

        async def raw_aio_get() -> object:
            return await raw_get(raw_aio)

        async def sdk_aio_get() -> object:
            return await sdk_get(sdk_aio)

        cases |= {"raw+aiohttp": raw_aio_get, "sdk+aiohttp": sdk_aio_get}
    try:
        for call in cases.values():
            await _in_flight(call, IN_FLIGHT * 2)  # connections opened, validators built
        samples: dict[str, list[float]] = {name: [] for name in cases}
        pairs = [("raw", "sdk"), ("raw+aiohttp", "sdk+aiohttp")]
        for index in range(rounds):
            # Each SDK run sits next to its yardstick's, first or second in turn: the load of
            # a shared machine drifts over seconds, and a ratio compares neighbours only.
            for pair in pairs:
                for name in pair if index % 2 == 0 else pair[::-1]:
                    if name in cases:
                        samples[name].append(await _in_flight(cases[name], total))
    finally:
        for close in closers:
            await close()
    return samples


def _ratio(samples: dict[str, list[float]], case: str, baseline: str) -> float:
    """Throughput of ``case`` / throughput of ``baseline``, median over the rounds."""
    return statistics.median(b / a for a, b in zip(samples[case], samples[baseline], strict=True))


def run(*, quick: bool) -> list[Figure]:
    """Time ``get()`` at 50 in flight against the sandbox process."""
    total, rounds = (200, 2) if quick else (500, 12)
    with sandbox_process() as settings:
        samples = asyncio.run(_measure(settings, total, rounds))
    rate = {name: total / statistics.median(values) for name, values in samples.items()}
    note = ", ".join(f"{name} {value:.0f} req/s" for name, value in rate.items())
    figures = [
        Figure(
            NAME,
            f"{IN_FLIGHT} in flight: SDK / raw httpx.AsyncClient (throughput)",
            _ratio(samples, "sdk", "raw"),
            "x",
            ">=",
            TARGET,
            note,
        ),
    ]
    if "sdk+aiohttp" in samples:
        figures += [
            Figure(
                NAME,
                "SDK + httpx-aiohttp transport / raw httpx.AsyncClient",
                _ratio(samples, "sdk+aiohttp", "raw"),
                "x",
            ),
            Figure(
                NAME,
                "SDK + httpx-aiohttp transport / raw httpx + same transport",
                _ratio(samples, "sdk+aiohttp", "raw+aiohttp"),
                "x",
                ">=",
                TARGET,
            ),
        ]
    return figures
