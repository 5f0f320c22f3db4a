"""Real receiver processes (uvicorn, one per port, as replicas behind a load balancer) sharing
one real redis-server on 127.0.0.1, and a gateway-like deliverer that redelivers until a 2xx."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from fibrecafe_client._loopback import free_loopback_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Fleet:
    """Receiver processes, by index; ``urls[i]`` is process ``i``'s endpoint."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def kill(self, index: int) -> None:
        """``kill -9`` process ``index``."""
        self.procs[index].send_signal(signal.SIGKILL)
        self.procs[index].wait(10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _wait_ready(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"receiver process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 405:  # up: KCIs are POSTed
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError("receiver process did not start in 30 s")


@pytest.fixture
def start_fleet(fibrecafe_redis_url: str) -> Iterator[Any]:
    """``start_fleet(n, **env)``: n receiver processes on the test's (flushed) Redis."""
    fleets: list[Fleet] = []

    def start(count: int, **settings: str) -> Fleet:
        fleet = Fleet()
        fleets.append(fleet)
        for index in range(count):
            port = free_loopback_port()
            env = {
                **os.environ,
                "FIBRECAFE_KCI_STORE_URL": fibrecafe_redis_url,
                "FLEET_WORKER": str(index),
                **settings,
            }
            command = [sys.executable, "-m", "uvicorn", "tests.fleet.app:app", "--port", str(port)]
            proc = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
                [*command, "--host", "127.0.0.1", "--log-level", "warning", "--no-access-log"],
                cwd=ROOT,
                env=env,
            )
            fleet.procs.append(proc)
            fleet.urls.append(f"http://127.0.0.1:{port}/kcis")
        for proc, url in zip(fleet.procs, fleet.urls, strict=True):
            _wait_ready(proc, url)
        return fleet

    yield start
    for fleet in fleets:
        fleet.stop()


async def deliver(
    client: httpx.AsyncClient, url: str, body: bytes, *, attempts: int = 200
) -> list[int]:
    """Deliver like the gateway: redeliver after any non-2xx (or a broken connection) until a
    2xx; returns every status seen (0 for a transport failure)."""
    statuses: list[int] = []
    for _ in range(attempts):
        try:
            response = await client.post(
                url, content=body, headers={"content-type": "application/json"}
            )
            statuses.append(response.status_code)
            if response.status_code < 300:
                return statuses
        except httpx.TransportError:
            statuses.append(0)
        await asyncio.sleep(0.05)
    raise AssertionError(f"never acknowledged after {attempts} deliveries: {statuses[-5:]}")
