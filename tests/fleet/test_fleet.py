"""N receiver processes on one Redis act as one receiver (issue 10): real uvicorn processes,
a real redis-server, KCIs delivered with fan-out, duplicates, reordering and redelivery.

Side effects are counted in Redis by the handler (see ``app.py``), outside the processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from .conftest import deliver

# The published KCIs of one service test's journey, in order (sequence numbers 1, 2, 3).
_JOURNEY = [
    json.loads((Path(__file__).parents[1] / "fixtures" / "kcis" / f"{name}.json").read_text())
    for name in (
        "service-test-sent-to-supplier",
        "service-test-in-progress",
        "service-test-completed",
    )
]


def _kci(test_id: int, sequence: int) -> bytes:
    """KCI ``sequence`` of service test ``test_id``, with an id of its own."""
    doc = {**_JOURNEY[sequence - 1], "id": f"kci-{test_id}-{sequence}", "sequenceNumber": sequence}
    doc["entity"] = {**doc["entity"], "id": test_id}
    return json.dumps(doc).encode()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _effects(url: str) -> tuple[dict[str, int], dict[str, int], int]:
    raw: redis.Redis = redis.Redis.from_url(url)
    effects = {_text(k): int(v) for k, v in raw.hgetall("fleet:effects").items()}
    stale = {_text(k): int(v) for k, v in raw.hgetall("fleet:stale").items()}
    overlaps = int(raw.get("fleet:overlaps") or 0)
    raw.close()
    return effects, stale, overlaps


def test_every_kci_is_handled_exactly_once_across_three_replicas(
    start_fleet: Any, fibrecafe_redis_url: str
) -> None:
    fleet = start_fleet(3)
    tests = range(1, 101)
    rng = random.Random(10)
    reordered = {t for t in tests if rng.random() < 0.35}
    late_duplicates = {t for t in tests if rng.random() < 0.2}
    statuses: list[int] = []

    async def one_test(client: httpx.AsyncClient, test_id: int) -> None:
        order = (1, 3, 2) if test_id in reordered else (1, 2, 3)
        for sequence in order:
            body = _kci(test_id, sequence)
            # fan-out and duplicates: one copy to every replica at once
            copies = [deliver(client, url, body) for url in fleet.urls]
            for seen in await asyncio.gather(*copies):
                statuses.extend(seen)
        if test_id in late_duplicates:  # a redelivery long after the first was acknowledged
            statuses.extend(await deliver(client, rng.choice(fleet.urls), _kci(test_id, 3)))

    async def run() -> None:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            gate = asyncio.Semaphore(25)

            async def gated(test_id: int) -> None:
                async with gate:
                    await one_test(client, test_id)

            await asyncio.gather(*(gated(t) for t in tests))

    asyncio.run(run())

    effects, stale, _ = _effects(fibrecafe_redis_url)
    expected = {f"kci-{t}-{s}|{s}" for t in tests for s in (1, 2, 3)}
    assert set(effects) == expected  # nothing lost: every KCI, every terminal one, handled
    assert {k: v for k, v in effects.items() if v != 1} == {}  # exactly once across processes
    flagged = {k for k, v in stale.items() if v}
    assert flagged == {f"kci-{t}-2|2" for t in reordered}  # stale exactly when reordered
    assert statuses.count(204) >= 900  # every copy was acknowledged
    assert set(statuses) <= {204, 503}


def test_exclusive_per_entity_never_runs_two_handlers_of_one_entity_at_once(
    start_fleet: Any, fibrecafe_redis_url: str
) -> None:
    fleet = start_fleet(3, FLEET_EXCLUSIVE="1", FLEET_IN_FLIGHT_TIMEOUT="0.5")
    raw = redis.Redis.from_url(fibrecafe_redis_url)
    for test_id in range(1, 11):
        for sequence in (1, 2, 3):
            raw.set(f"fleet:block:kci-{test_id}-{sequence}", "0.05")
    raw.close()

    async def run() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            # every KCI of every entity at once, each to another replica
            await asyncio.gather(
                *(
                    deliver(client, fleet.urls[(t + s) % 3], _kci(t, s))
                    for t in range(1, 11)
                    for s in (1, 2, 3)
                )
            )

    asyncio.run(run())
    effects, _, overlaps = _effects(fibrecafe_redis_url)
    assert len(effects) == 30
    assert set(effects.values()) == {1}
    assert overlaps == 0


def _wait_entered(raw: redis.Redis, kci_id: str) -> str:
    entered = raw.blpop([f"fleet:entered:{kci_id}"], timeout=30)
    assert entered is not None, "the handler never started"
    worker: bytes = entered[1]  # type: ignore[assignment]
    return worker.decode()


def test_a_worker_killed_mid_handler_is_redelivered_and_handled_once(
    start_fleet: Any, fibrecafe_redis_url: str
) -> None:
    fleet = start_fleet(2, FLEET_LEASE="1", FLEET_IN_FLIGHT_TIMEOUT="0.3")
    raw = redis.Redis.from_url(fibrecafe_redis_url)
    raw.set("fleet:block:kci-7-1", "60")
    body = _kci(7, 1)

    async def run() -> list[int]:
        async with httpx.AsyncClient(timeout=90) as client:
            first = asyncio.create_task(deliver(client, fleet.urls[0], body, attempts=1))
            assert await asyncio.to_thread(_wait_entered, raw, "kci-7-1") == "0"
            raw.delete("fleet:block:kci-7-1")
            fleet.kill(0)  # kill -9 in the middle of the handler
            with pytest.raises(AssertionError, match="never acknowledged"):
                await first  # the connection broke: the gateway will redeliver
            return await deliver(client, fleet.urls[1], body)

    statuses = asyncio.run(run())
    assert statuses[-1] == 204
    assert 503 in statuses  # the dead worker's claim held until its lease ran out
    effects, _, _ = _effects(fibrecafe_redis_url)
    assert effects == {"kci-7-1|1": 1}
    assert raw.hget("fleet:worker", "kci-7-1|1") == b"1"
    raw.close()


def test_a_handler_longer_than_the_lease_is_not_run_a_second_time(
    start_fleet: Any, fibrecafe_redis_url: str
) -> None:
    fleet = start_fleet(2, FLEET_LEASE="0.6", FLEET_IN_FLIGHT_TIMEOUT="0.3")
    raw = redis.Redis.from_url(fibrecafe_redis_url)
    raw.set("fleet:block:kci-8-1", "2.5")  # four leases long
    body = _kci(8, 1)

    async def run() -> tuple[list[int], list[int]]:
        async with httpx.AsyncClient(timeout=30) as client:
            first = asyncio.create_task(deliver(client, fleet.urls[0], body, attempts=1))
            await asyncio.to_thread(_wait_entered, raw, "kci-8-1")
            second = await deliver(client, fleet.urls[1], body)  # redelivered meanwhile
            return await first, second

    first, second = asyncio.run(run())
    assert first == [204]
    assert second[-1] == 204
    assert second.count(503) >= 2  # kept waiting across several leases, never handled
    effects, _, _ = _effects(fibrecafe_redis_url)
    assert effects == {"kci-8-1|1": 1}
    assert raw.llen("fleet:entered:kci-8-1") == 0  # popped once: only one handler entered
    raw.close()


def test_redis_stopped_mid_run_gives_503s_then_recovers_losing_nothing(
    start_fleet: Any, fibrecafe_redis_url: str
) -> None:
    fleet = start_fleet(3, FLEET_LEASE="2", FLEET_IN_FLIGHT_TIMEOUT="0.5")
    raw = redis.Redis.from_url(fibrecafe_redis_url)
    pid = int(raw.info("server")["process_id"])
    raw.close()
    bodies = [_kci(t, 1) for t in range(1, 31)]

    async def run() -> list[int]:
        async with httpx.AsyncClient(timeout=60) as client:
            os.kill(pid, signal.SIGSTOP)  # Redis stops answering
            try:
                tasks = [
                    asyncio.create_task(deliver(client, fleet.urls[i % 3], body))
                    for i, body in enumerate(bodies)
                    for _ in range(2)  # and every KCI twice
                ]
                await asyncio.sleep(4)  # longer than the store's 2 s timeout
            finally:
                os.kill(pid, signal.SIGCONT)
            return [s for seen in await asyncio.gather(*tasks) for s in seen]

    statuses = asyncio.run(run())
    assert statuses.count(503) >= 60  # every delivery during the outage: 503, not 2xx
    assert set(statuses) <= {204, 503}
    effects, _, _ = _effects(fibrecafe_redis_url)
    assert effects == {f"kci-{t}-1|1": 1 for t in range(1, 31)}
