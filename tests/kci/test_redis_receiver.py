"""The receiver on a shared store, in one process: Redis through the receiver's own paths,
the event loop never blocked by the store, store outages, configuration from the environment.
(The multi-process proof is in tests/fleet.)"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis

from fibrecafe_client import (
    ConfigurationError,
    InMemoryKciStore,
    Kci,
    KciClaimResult,
    KciReceiver,
    NoAuth,
    RedisKciStore,
    store_from_env,
)

from .conftest import KciFactory


def body(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def _script_calls(url: str) -> int:
    raw = redis.Redis.from_url(url)
    stats: dict[str, Any] = raw.info("commandstats")
    raw.close()
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "eval"))


def test_the_happy_path_costs_three_redis_round_trips(
    fibrecafe_redis_url: str, make_kci: KciFactory
) -> None:
    receiver = KciReceiver(verifier=NoAuth(), store=fibrecafe_redis_url)
    assert isinstance(receiver.store, RedisKciStore)
    seen: list[int] = []
    receiver.on_any(lambda kci: seen.append(kci.sequence_number))
    receiver.handle("POST", {}, body(make_kci()))  # warm: scripts loaded, connection open
    raw = redis.Redis.from_url(fibrecafe_redis_url)
    raw.config_resetstat()
    raw.close()
    for n in range(2, 12):
        assert receiver.handle("POST", {}, body(make_kci(sequence_number=n))).status == 204
    assert _script_calls(fibrecafe_redis_url) == 30  # claim, advance, commit per KCI
    assert seen == list(range(1, 12))


def test_the_asgi_path_on_redis_deduplicates_and_flags_stale(
    fibrecafe_redis_url: str, make_kci: KciFactory
) -> None:
    # two receivers (two workers) on one Redis, driven through the async path
    worker_a = KciReceiver(verifier=NoAuth(), store=fibrecafe_redis_url)
    worker_b = KciReceiver(verifier=NoAuth(), store=fibrecafe_redis_url)
    handled: list[tuple[int, bool]] = []
    for worker in (worker_a, worker_b):
        worker.on_any(lambda kci: handled.append((kci.sequence_number, kci.is_stale)))
    newer, older = make_kci(sequence_number=3), make_kci(sequence_number=2)

    async def run() -> list[int]:
        first = await asyncio.gather(
            *(w.handle_async("POST", {}, body(newer)) for w in (worker_a, worker_b, worker_a))
        )
        second = await worker_b.handle_async("POST", {}, body(older))
        return [r.status for r in first] + [second.status]

    assert asyncio.run(run()) == [204, 204, 204, 204]
    assert handled == [(3, False), (2, True)]


class _LatencyProxy:
    """A TCP proxy on 127.0.0.1 that holds every answer from Redis for ``delay`` seconds."""

    def __init__(self, target_port: int, delay: float) -> None:
        self.target_port = target_port
        self.delay = delay
        self.port = 0

    async def __aenter__(self) -> _LatencyProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, delay: float) -> None:
            try:
                while chunk := await src.read(65536):
                    if delay:
                        await asyncio.sleep(delay)
                    dst.write(chunk)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer, 0), pipe(up_reader, writer, self.delay))


async def _late_ticks(start: Callable[[], Awaitable[object]], *, tick: float = 0.01) -> int:
    """Run ``start()`` while a ticker sleeps ``tick`` at a time; count ticks that came 0.15 s
    late or more (each one is the event loop blocked)."""
    late = 0
    done = asyncio.Event()
    started = asyncio.Event()

    async def ticker() -> None:
        nonlocal late
        while not done.is_set():
            before = time.monotonic()
            started.set()
            await asyncio.sleep(tick)
            if time.monotonic() - before > 0.15:
                late += 1

    ticking = asyncio.create_task(ticker())
    await started.wait()  # the ticker is asleep before the work begins
    try:
        await start()
    finally:
        done.set()
        await ticking
    return late


def test_a_slow_redis_never_blocks_the_event_loop(
    fibrecafe_redis_url: str, make_kci: KciFactory
) -> None:
    port = int(fibrecafe_redis_url.rsplit(":", 1)[1].split("/", maxsplit=1)[0])

    async def run() -> tuple[int, list[int]]:
        async with _LatencyProxy(port, 0.3) as proxy:
            receiver = KciReceiver(verifier=NoAuth(), store=f"redis://127.0.0.1:{proxy.port}/0")
            responses: list[Any] = []

            async def deliveries() -> None:
                responses.extend(
                    await asyncio.gather(
                        *(receiver.handle_async("POST", {}, body(make_kci())) for _ in range(5))
                    )
                )

            late = await _late_ticks(deliveries)
            statuses = [r.status for r in responses]
            assert isinstance(receiver.store, RedisKciStore)
            await receiver.store.aclose()
            return late, statuses

    late, statuses = asyncio.run(run())
    assert statuses == [204] * 5  # each took three 0.3 s round trips...
    assert late == 0  # ...and the loop served the ticker all along


def test_the_loop_lag_probe_does_see_a_store_that_blocks(make_kci: KciFactory) -> None:
    """The control for the test above: a store blocking in its async method is caught."""

    class BlockingStore(InMemoryKciStore):
        async def claim_async(self, key: str, lease: float) -> KciClaimResult:
            time.sleep(0.3)  # noqa: ASYNC251 - the bug under test: blocking the loop
            return self.claim(key, lease)

    receiver = KciReceiver(verifier=NoAuth(), store=BlockingStore())

    async def run() -> int:
        async def deliveries() -> None:
            await asyncio.gather(
                *(receiver.handle_async("POST", {}, body(make_kci())) for _ in range(3))
            )

        return await _late_ticks(deliveries)

    assert asyncio.run(run()) >= 1


def test_a_sync_only_store_runs_in_a_thread_on_the_async_path(make_kci: KciFactory) -> None:
    import threading

    threads: set[str] = set()

    class SyncOnly:
        def __init__(self) -> None:
            self.inner = InMemoryKciStore()

        def claim(self, key: str, lease: float) -> KciClaimResult:
            threads.add(threading.current_thread().name)
            return self.inner.claim(key, lease)

        def renew(self, key: str, token: str, lease: float) -> bool:
            return self.inner.renew(key, token, lease)

        def commit(self, key: str, token: str) -> bool:
            return self.inner.commit(key, token)

        def release(self, key: str, token: str) -> bool:
            return self.inner.release(key, token)

    receiver = KciReceiver(verifier=NoAuth(), store=SyncOnly())
    doc = make_kci()
    assert asyncio.run(receiver.handle_async("POST", {}, body(doc))).status == 204
    assert asyncio.run(receiver.handle_async("POST", {}, body(doc))).status == 204
    assert threads
    assert threading.main_thread().name not in threads


def test_an_async_only_store_refuses_the_wsgi_path(make_kci: KciFactory) -> None:
    class AsyncOnly:
        def __init__(self) -> None:
            self.inner = InMemoryKciStore()

        async def claim_async(self, key: str, lease: float) -> KciClaimResult:
            return self.inner.claim(key, lease)

        async def renew_async(self, key: str, token: str, lease: float) -> bool:
            return self.inner.renew(key, token, lease)

        async def commit_async(self, key: str, token: str) -> bool:
            return self.inner.commit(key, token)

        async def release_async(self, key: str, token: str) -> bool:
            return self.inner.release(key, token)

    receiver = KciReceiver(verifier=NoAuth(), store=AsyncOnly())
    assert asyncio.run(receiver.handle_async("POST", {}, body(make_kci()))).status == 204
    with pytest.raises(TypeError, match="sync KciStore"):
        receiver.wsgi_app()
    assert receiver.handle("POST", {}, body(make_kci())).status == 503  # never a handler


def test_an_outage_logs_one_warning_then_one_line_when_it_ends(
    make_kci: KciFactory, caplog: pytest.LogCaptureFixture
) -> None:
    class FlakyStore(InMemoryKciStore):
        down = True

        def claim(self, key: str, lease: float) -> KciClaimResult:
            if self.down:
                raise ConnectionError("store down")
            return super().claim(key, lease)

    store = FlakyStore()
    receiver = KciReceiver(verifier=NoAuth(), store=store)
    ran: list[Kci] = []
    receiver.on_any(ran.append)
    doc = make_kci()
    caplog.set_level(logging.INFO, logger="fibrecafe_client.kci")
    statuses = [receiver.handle("POST", {}, body(doc)).status for _ in range(5)]
    store.down = False
    statuses += [receiver.handle("POST", {}, body(doc)).status for _ in range(2)]
    assert statuses == [503] * 5 + [204, 204]
    assert len(ran) == 1  # the redelivery after recovery, once
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    unavailable = [m for m in warnings if "store unavailable" in m]
    back = [m for m in warnings if "available again" in m]
    assert len(unavailable) == 1
    assert back == ["KCI store available again (5 deliveries answered 503)"]


def test_a_redis_that_is_down_is_a_503_and_its_password_is_never_shown(
    make_kci: KciFactory, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"redis://tenant:canary-pw-77@127.0.0.1:{port}/0"
    caplog.set_level(logging.DEBUG)
    receiver = KciReceiver(verifier=NoAuth(), store=url)
    response = receiver.handle("POST", {}, body(make_kci()))
    async_response = asyncio.run(receiver.handle_async("POST", {}, body(make_kci())))
    assert (response.status, async_response.status) == (503, 503)
    assert "canary-pw-77" not in caplog.text + repr(receiver) + repr(receiver.store)
    assert "redis://***@127.0.0.1" in caplog.text


def test_store_from_env() -> None:
    assert store_from_env({}) is None
    assert store_from_env({"FIBRECAFE_KCI_STORE_URL": "  "}) is None
    store = store_from_env(
        {
            "FIBRECAFE_KCI_STORE_URL": "rediss://u:env-secret@redis.internal:6380/2",
            "FIBRECAFE_KCI_STORE_PREFIX": "acme:prod:",
        }
    )
    assert isinstance(store, RedisKciStore)
    assert store.prefix == "acme:prod:"
    assert store.url == "rediss://***@redis.internal:6380/2"
    assert "env-secret" not in repr(store)
    with pytest.raises(ConfigurationError, match="redis://") as refused:
        store_from_env({"FIBRECAFE_KCI_STORE_URL": "http://u:env-secret@x/"})
    assert "env-secret" not in str(refused.value)


def test_without_the_redis_extra_a_store_url_is_one_clear_line() -> None:
    script = (
        "import sys; sys.modules['redis'] = None\n"
        "from fibrecafe_client import KciReceiver, NoAuth, ConfigurationError\n"
        "try:\n"
        "    KciReceiver(verifier=NoAuth(), store='redis://127.0.0.1:1/0')\n"
        "except ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == (
        "the Redis KCI store needs the redis extra: pip install 'fibrecafe-client[redis]'"
    )
