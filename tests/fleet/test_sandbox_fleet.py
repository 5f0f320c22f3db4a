"""The sandbox gateway delivers every KCI of 100 service tests to three receiver processes on one
Redis, as through a load balancer: round-robin fan-out, three concurrent copies of every KCI,
consecutive KCIs swapped, and redeliveries (a copy that finds its twin still running gets 503).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from fibrecafe_client import FibreCafe, ServiceTestCharacteristics
from fibrecafe_client.sandbox import Sandbox

TERMINAL = {"COMPLETED", "FAILED", "REJECTED", "FAILED_TO_SEND"}


def _hash(raw: redis.Redis, name: str) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in raw.hgetall(name).items()
    }


def test_the_sandbox_fanning_out_to_three_replicas_gets_every_kci_handled_once(
    start_fleet: Any, fibrecafe_redis_url: str
) -> None:
    # A tiny in-flight wait: a duplicate arriving while its twin runs answers 503, so the
    # sandbox redelivers it (to the next replica).
    fleet = start_fleet(3, FLEET_IN_FLIGHT_TIMEOUT="0.001")
    characteristics = ServiceTestCharacteristics(
        service_has_worked=True, service_last_worked=datetime.now(UTC) - timedelta(hours=3)
    )
    with (
        Sandbox.start(
            webhooks=fleet.urls,
            kci_delay=0.01,
            kci_fanout="round_robin",
            kci_duplicates=3,
            kci_reorder=True,
            kci_timeout=2.0,
            kci_retry_backoff=0.05,
            kci_retry_max_backoff=0.2,
            kci_max_attempts=50,
        ) as sandbox,
        FibreCafe(**sandbox.client_kwargs()) as client,
    ):
        test_ids = [
            client.service_tests.create(
                service_id=f"FLEET-{n}",
                problem_type="OUTAGE",
                service_specification="FTTP",
                supplier="FIBRECO",
                characteristics=characteristics,
            ).id
            for n in range(100)
        ]
        raw = redis.Redis.from_url(fibrecafe_redis_url)
        deadline = time.monotonic() + 240
        while True:  # until the sandbox has nothing left to deliver
            stats = sandbox.stats
            entity = _hash(raw, "fleet:entity")
            terminal = {v.split("|")[0] for v in entity.values() if v.split("|")[1] in TERMINAL}
            if len(terminal) == len(test_ids) and len(entity) == stats.kcis_emitted:
                break
            assert time.monotonic() < deadline, f"not all handled: {len(entity)} of {stats}"
            time.sleep(0.1)
        stats = sandbox.stats

    effects = _hash(raw, "fleet:effects")
    stale = _hash(raw, "fleet:stale")
    raw.close()
    assert len(effects) == stats.kcis_emitted >= 2 * len(test_ids)
    assert {k: v for k, v in effects.items() if v != "1"} == {}  # exactly once, all processes
    assert terminal == {str(t) for t in test_ids}  # no test's terminal KCI lost
    assert stats.kcis_given_up == 0
    assert stats.kci_delivery_attempts > 3 * stats.kcis_emitted  # redeliveries happened
    # stale flags agree with the sequence numbers: a KCI is flagged only if a later one of the
    # same test was handled, and reordering made some stale
    by_test: dict[str, list[int]] = {}
    for key, value in entity.items():
        by_test.setdefault(value.split("|")[0], []).append(int(key.rsplit("|", 1)[1]))
    flagged = [key for key, v in stale.items() if v == "1"]
    assert flagged
    for key in flagged:
        test_id = entity[key].split("|")[0]
        assert int(key.rsplit("|", 1)[1]) < max(by_test[test_id])
