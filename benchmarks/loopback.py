"""Benchmark 6: throughput at 50 and 200 calls in flight against the sandbox in another process.

The sandbox (uvicorn) runs in a child process on 127.0.0.1; this process runs the clients, so
client and server each have a CPU of their own on a 2-core machine. The same ``get()`` calls go
through ``AsyncFibreCafe`` on httpx's pool, ``AsyncFibreCafe(http_backend="aiohttp")``, a raw
``httpx.AsyncClient`` (on httpx's pool, and on the SDK's aiohttp transport: the floor of anything
that speaks httpx) and a raw ``aiohttp.ClientSession`` sending the same bearer and id headers and
decoding the same JSON. The aiohttp rows need the ``aiohttp`` extra (in ``dev``).
"""

from __future__ import annotations

import asyncio
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
from importlib.util import find_spec
from pathlib import Path

import httpx

from fibrecafe_client import AsyncFibreCafe

from ._report import Figure

__all__ = ["IN_FLIGHT", "run", "sandbox_process"]

NAME = "6. loopback throughput"
#: The concurrency levels measured, in one run.
IN_FLIGHT = (50, 200)
TARGET = 0.9
#: SDK on aiohttp / SDK on httpx's pool.
BACKEND_TARGET = 3.0
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


def _has_aiohttp() -> bool:
    return find_spec("aiohttp") is not None and find_spec("httpx_aiohttp") is not None


async def _in_flight(call: Callable[[], Awaitable[object]], total: int, width: int) -> float:
    """Seconds to make ``total`` calls with ``width`` of them outstanding at any time."""
    remaining = iter(range(total))

    async def worker() -> None:
        for _ in remaining:
            await call()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(width)))
    return time.perf_counter() - start


Cases = dict[str, Callable[[], Awaitable[object]]]


async def _cases(
    settings: dict[str, str], width: int
) -> tuple[Cases, list[Callable[[], Awaitable[None]]]]:
    """The four ways to make the call, and what closes them."""
    limits = httpx.Limits(max_connections=width)
    plain = httpx.AsyncClient(limits=limits)
    sdk = AsyncFibreCafe(**settings, http_client=plain)  # type: ignore[arg-type]
    test = await sdk.service_tests.create(
        service_id="BBEU00537760",
        problem_type="OUTAGE",
        service_specification="FTTP",
        supplier="FIBRECO",
        characteristics={"SERVICE_HAS_WORKED": "false"},
    )
    raw = httpx.AsyncClient(limits=limits)
    token_response = await raw.post(
        settings["token_url"],
        data={"grant_type": "client_credentials", "scope": settings["scope"]},
        auth=(settings["client_id"], settings["client_secret"]),
    )
    token = token_response.raise_for_status().json()["access_token"]
    url = f"{settings['base_url']}/service-tests/{test.id}"

    def headers() -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "X-Request-ID": str(uuid.uuid4()),
            "X-Conversation-ID": str(uuid.uuid4()),
        }

    async def raw_get() -> object:
        response = await raw.get(url, headers=headers())
        if response.status_code != 200:
            raise AssertionError(f"raw httpx got {response.status_code}")
        return response.json()

    async def sdk_get() -> object:
        return await sdk.service_tests.get(test.id)

    cases: Cases = {"sdk": sdk_get, "raw": raw_get}
    closers: list[Callable[[], Awaitable[None]]] = [raw.aclose, plain.aclose]
    if _has_aiohttp():
        import aiohttp

        from fibrecafe_client import aiohttp_http_client

        aio = aiohttp_http_client(limits=limits)
        sdk_aio = AsyncFibreCafe(**settings, http_client=aio)  # type: ignore[arg-type]
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=width))
        closers += [aio.aclose, session.close]

        async def sdk_aio_get() -> object:
            return await sdk_aio.service_tests.get(test.id)

        async def httpx_aio_get() -> object:
            # The floor of any SDK built on httpx's interface: httpx's client on the same
            # aiohttp transport, no SDK.
            response = await aio.get(url, headers=headers())
            if response.status_code != 200:
                raise AssertionError(f"raw httpx on aiohttp got {response.status_code}")
            return response.json()

        async def raw_aio_get() -> object:
            async with session.get(url, headers=headers()) as response:
                if response.status != 200:
                    raise AssertionError(f"raw aiohttp got {response.status}")
                return json.loads(await response.read())

        cases |= {
            "sdk+aiohttp": sdk_aio_get,
            "httpx on aiohttp": httpx_aio_get,
            "raw aiohttp": raw_aio_get,
        }
    return cases, closers


async def _measure(
    settings: dict[str, str], width: int, total: int, rounds: int
) -> dict[str, list[float]]:
    cases, closers = await _cases(settings, width)
    try:
        for call in cases.values():
            await _in_flight(call, width * 2, width)  # connections opened, validators built
        samples: dict[str, list[float]] = {name: [] for name in cases}
        names = list(cases)
        for index in range(rounds):
            # Every case runs once per round, in a rotating order: the load of a shared machine
            # drifts over seconds, and a ratio compares runs of the same round only.
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                samples[name].append(await _in_flight(cases[name], total, width))
    finally:
        for close in closers:
            await close()
    return samples


def _ratio(samples: dict[str, list[float]], case: str, baseline: str) -> float:
    """Throughput of ``case`` / throughput of ``baseline``, median over the rounds."""
    return statistics.median(b / a for a, b in zip(samples[case], samples[baseline], strict=True))


def _figures(width: int, total: int, samples: dict[str, list[float]]) -> list[Figure]:
    rate = {name: total / statistics.median(values) for name, values in samples.items()}
    note = ", ".join(f"{name} {value:.0f} req/s" for name, value in rate.items())
    figures = [
        Figure(
            NAME,
            f"{width} in flight: SDK / raw httpx.AsyncClient",
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
                f"{width} in flight: SDK on aiohttp / SDK on httpx's pool",
                _ratio(samples, "sdk+aiohttp", "sdk"),
                "x",
                ">=",
                BACKEND_TARGET,
            ),
            Figure(
                NAME,
                f"{width} in flight: SDK on aiohttp / raw aiohttp.ClientSession",
                _ratio(samples, "sdk+aiohttp", "raw aiohttp"),
                "x",
                ">=",
                TARGET,
            ),
            Figure(
                NAME,
                f"{width} in flight: SDK on aiohttp / raw httpx.AsyncClient on aiohttp",
                _ratio(samples, "sdk+aiohttp", "httpx on aiohttp"),
                "x",
                ">=",
                TARGET,
            ),
            Figure(
                NAME,
                f"{width} in flight: raw httpx.AsyncClient on aiohttp / raw aiohttp (the floor)",
                _ratio(samples, "httpx on aiohttp", "raw aiohttp"),
                "x",
            ),
        ]
    return figures


def run(*, quick: bool) -> list[Figure]:
    """Time ``get()`` at each concurrency of ``IN_FLIGHT`` against one sandbox process."""
    rounds = 2 if quick else 10
    figures: list[Figure] = []
    with sandbox_process() as settings:
        for width in IN_FLIGHT:
            total = width * (2 if quick else 10)
            samples = asyncio.run(_measure(settings, width, total, rounds))
            figures += _figures(width, total, samples)
    return figures
