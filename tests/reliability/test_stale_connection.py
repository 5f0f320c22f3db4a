"""A stale pooled connection (issue 11.8): a request whose head could not be written was not
sent, so it is not ``outcome_unknown`` and is resent, even a POST.

The network backend under httpcore is real (loopback sockets to the bad gateway); the wrapper
only makes the first API connection behave as one the server has reset while it sat in the
pool: its first write fails (as ``EPIPE`` would) and its reads fail after that.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpcore
import httpx
import pytest

from fibrecafe_client import AsyncFibreCafe, FibreCafe, RetryPolicy, ServiceTest

from .badserver import BadGateway
from .canaries import CANARY_SECRET, CLIENT_ID
from .runner import run_in_thread
from .test_faults import CREATE_ARGS

pytestmark = pytest.mark.network

POLICY = RetryPolicy(max_retries=2, initial_backoff=0.01, max_backoff=0.02, deadline=10.0)


class _Stale(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        self._dead = False

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not self._dead:
            self._dead = True
            self._inner.close()
            raise httpcore.WriteError("[Errno 32] Broken pipe")

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        raise httpcore.ReadError("[Errno 104] Connection reset by peer")

    def close(self) -> None:
        self._inner.close()

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _AsyncStale(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._dead = False

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        if not self._dead:
            self._dead = True
            await self._inner.aclose()
            raise httpcore.WriteError("[Errno 32] Broken pipe")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        raise httpcore.ReadError("[Errno 104] Connection reset by peer")

    async def aclose(self) -> None:
        await self._inner.aclose()

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.SyncBackend):
    def __init__(self, port: int) -> None:
        self.port = port
        self.broken = 0

    def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        stream = super().connect_tcp(host, port, *args, **kwargs)
        if port == self.port and self.broken == 0:
            self.broken += 1
            return _Stale(stream)
        return stream


class _AsyncBackend(httpcore.AnyIOBackend):
    def __init__(self, port: int) -> None:
        self.port = port
        self.broken = 0

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        stream = await super().connect_tcp(host, port, *args, **kwargs)
        if port == self.port and self.broken == 0:
            self.broken += 1
            return _AsyncStale(stream)
        return stream


def _api_port(bad: BadGateway) -> int:
    return httpx.URL(bad.base_url).port or 0


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_post_whose_head_was_never_written_is_resent(kind: str, bad: BadGateway) -> None:
    settings: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CANARY_SECRET,
        "base_url": bad.base_url,
        "token_url": bad.token_url,
        "retry": POLICY,
    }

    def sync_work() -> ServiceTest:
        transport = httpx.HTTPTransport()
        transport._pool = httpcore.ConnectionPool(network_backend=_Backend(_api_port(bad)))
        with (
            httpx.Client(transport=transport) as http,
            FibreCafe(**settings, http_client=http) as c,
        ):
            return c.service_tests.create(**CREATE_ARGS)

    async def async_work() -> ServiceTest:
        transport = httpx.AsyncHTTPTransport()
        transport._pool = httpcore.AsyncConnectionPool(
            network_backend=_AsyncBackend(_api_port(bad))
        )
        async with httpx.AsyncClient(transport=transport) as http:
            client = AsyncFibreCafe(**settings, http_client=http)
            return await client.service_tests.create(**CREATE_ARGS)

    work = sync_work if kind == "sync" else (lambda: asyncio.run(async_work()))
    outcome = run_in_thread(work, 20.0, "create over a stale connection")
    assert isinstance(outcome.result, ServiceTest), repr(outcome.error)
    assert bad.created == 1
    assert bad.seen("api") == 1  # the stale connection delivered nothing
