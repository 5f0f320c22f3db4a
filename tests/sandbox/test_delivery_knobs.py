"""Delivery knobs for the multi-replica world: fan-out, duplicates, reordering, timeouts.

Every test delivers to real receivers on 127.0.0.1 (``KciCapture`` or a small ASGI app).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from fibrecafe_client.sandbox import (
    DeliveryKnobs,
    KciCapture,
    Sandbox,
    SandboxConfig,
    serve_asgi,
)

if TYPE_CHECKING:
    from conftest import Api

pytestmark = pytest.mark.network

Scope = dict[str, Any]


def _wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Bounded wait for a condition another thread makes true (not a race fix)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


@pytest.fixture
def two_captures() -> Iterator[tuple[KciCapture, KciCapture]]:
    with KciCapture() as first, KciCapture() as second:
        yield first, second


def _sequences(capture: KciCapture, test_id: int, *, accepted_only: bool = True) -> list[int]:
    return [
        d.sequence_number or 0
        for d in capture.deliveries
        if d.test_id == test_id and (d.accepted or not accepted_only)
    ]


def test_round_robin_spreads_the_kcis_of_one_test_over_the_replicas(
    fast: dict[str, Any],
    make_api: Callable[[Sandbox], Api],
    two_captures: tuple[KciCapture, KciCapture],
) -> None:
    first, second = two_captures
    with Sandbox.start(webhooks=[first.url, second.url], kci_fanout="round_robin", **fast) as sb:
        test_id = make_api(sb).create(scenario="SERVICE_TEST_RED").json()["id"]
        _wait_until(lambda: sb.stats.kcis_delivered == 3)
        # One lane for the test: in order overall, alternating between the two replicas.
        assert _sequences(first, test_id) == [1, 3]
        assert _sequences(second, test_id) == [2]
        assert sb.stats.kci_delivery_attempts == 3


def test_round_robin_redelivery_reaches_the_other_replica(
    fast: dict[str, Any],
    make_api: Callable[[Sandbox], Api],
    two_captures: tuple[KciCapture, KciCapture],
) -> None:
    first, second = two_captures
    first.fail_next(1, 503)
    with Sandbox.start(webhooks=[first.url, second.url], kci_fanout="round_robin", **fast) as sb:
        test_id = make_api(sb).create(scenario="SERVICE_TEST_RED").json()["id"]
        _wait_until(lambda: sb.stats.kcis_delivered == 3)
        assert _sequences(first, test_id, accepted_only=False) == [1, 2]  # #1 refused, #2 ok
        assert _sequences(first, test_id) == [2]
        assert _sequences(second, test_id) == [1, 3]  # #1's redelivery went to the other one
        assert sb.stats.kci_delivery_failures == 1


def test_fanout_all_is_the_default_every_webhook_gets_every_kci(
    fast: dict[str, Any],
    make_api: Callable[[Sandbox], Api],
    two_captures: tuple[KciCapture, KciCapture],
) -> None:
    first, second = two_captures
    with Sandbox.start(webhooks=[first.url, second.url], **fast) as sb:
        assert sb.delivery.fanout == "all"
        test_id = make_api(sb).create(scenario="SERVICE_TEST_RED").json()["id"]
        _wait_until(lambda: sb.stats.kcis_delivered == 6)
        assert _sequences(first, test_id) == _sequences(second, test_id) == [1, 2, 3]


class _Gate:
    """An ASGI webhook that holds each request until ``release`` is set (or its own limit).

    Records the most requests it held at once and every body's (KCI id, request id).
    """

    def __init__(self, hold_until_in_flight: int = 0) -> None:
        self.hold_until = hold_until_in_flight
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.received: list[tuple[str, str, int]] = []  # (kci id, request id, sequence)
        self.finished = 0
        self.release: asyncio.Event | None = None
        self.hold_first = False

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        kci = json.loads(body)
        headers = dict(scope["headers"])
        with self.lock:
            first = not self.received
            self.received.append(
                (kci["id"], headers[b"x-request-id"].decode(), kci["sequenceNumber"])
            )
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.release is None:
            self.release = asyncio.Event()
        if self.in_flight >= self.hold_until:
            self.release.set()
        if self.hold_first and first:
            # The slow handler: runs until the redelivery has arrived (bounded by 10 s).
            await _wait_for(lambda: len(self.received) >= 2)
        else:
            await asyncio.wait_for(self.release.wait(), 10)
        with self.lock:
            self.in_flight -= 1
            self.finished += 1
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def _wait_for(predicate: Callable[[], bool]) -> None:
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.01)


def test_duplicates_are_sent_concurrently_with_their_own_request_ids(
    fast: dict[str, Any], make_api: Callable[[Sandbox], Api]
) -> None:
    gate = _Gate(hold_until_in_flight=3)  # answers only once three requests are in at once
    with (
        serve_asgi(gate) as server,
        Sandbox.start(webhooks=[server.url], kci_duplicates=3, **fast) as sb,
    ):
        make_api(sb).create(scenario="SERVICE_TEST_RED")
        _wait_until(lambda: sb.stats.kcis_delivered == 9)
        assert gate.max_in_flight == 3
        by_kci: dict[str, list[str]] = {}
        for kci_id, request_id, _seq in gate.received:
            by_kci.setdefault(kci_id, []).append(request_id)
        assert len(by_kci) == 3
        assert all(len(ids) == len(set(ids)) == 3 for ids in by_kci.values())
        assert [seq for _id, _rid, seq in gate.received] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
        assert sb.stats.kcis_emitted == 3


def test_duplicates_with_round_robin_reach_different_replicas(
    fast: dict[str, Any],
    make_api: Callable[[Sandbox], Api],
    two_captures: tuple[KciCapture, KciCapture],
) -> None:
    first, second = two_captures
    with Sandbox.start(
        webhooks=[first.url, second.url], kci_fanout="round_robin", kci_duplicates=2, **fast
    ) as sb:
        test_id = make_api(sb).create(scenario="SERVICE_TEST_RED").json()["id"]
        _wait_until(lambda: sb.stats.kcis_delivered == 6)
        assert _sequences(first, test_id) == _sequences(second, test_id) == [1, 2, 3]


def test_reorder_swaps_consecutive_kcis_of_a_test(
    fast: dict[str, Any], make_api: Callable[[Sandbox], Api]
) -> None:
    with KciCapture() as own, Sandbox.start(webhooks=[own.url], kci_reorder=True, **fast) as sb:
        api = make_api(sb)
        red = api.create(scenario="SERVICE_TEST_RED").json()["id"]
        green = api.create(scenario="SERVICE_TEST_GREEN").json()["id"]
        own.wait_for_terminal(red)
        own.wait_for_terminal(green)
        _wait_until(lambda: sb.app.delivery.in_flight() == 0)
        # 2 before 1; the terminal #3 has nothing left to swap with and follows.
        assert _sequences(own, red) == [2, 1, 3]
        assert _sequences(own, green) == [2, 1, 3]


def test_a_webhook_slower_than_the_timeout_gets_a_redelivery_while_it_still_runs(
    fast: dict[str, Any], make_api: Callable[[Sandbox], Api]
) -> None:
    gate = _Gate()
    gate.hold_first = True
    with serve_asgi(gate) as server, Sandbox.start(webhooks=[server.url], **fast) as sb:
        sb.delivery.timeout = 0.2
        make_api(sb).create(scenario="SERVICE_TEST_RED")
        _wait_until(lambda: sb.stats.kcis_delivered == 3)
        first_kci = gate.received[0][0]
        copies = [r for r in gate.received if r[0] == first_kci]
        assert len(copies) == 2  # cut off, redelivered...
        assert gate.max_in_flight == 2  # ...while the first handler was still running
        assert sb.stats.kci_delivery_failures == 1
        _wait_until(lambda: gate.finished == 4)


def test_knobs_via_the_admin_api_and_reset(sandbox: Sandbox, http: httpx.Client) -> None:
    url = f"{sandbox.url}/_sandbox/delivery"
    assert http.get(url).json() == {
        "fanout": "all",
        "duplicates": 1,
        "reorder": False,
        "timeout": 2.0,
    }
    changed = http.post(url, json={"fanout": "round_robin", "duplicates": 4, "reorder": True})
    assert changed.status_code == 200
    assert changed.json() == {
        "fanout": "round_robin",
        "duplicates": 4,
        "reorder": True,
        "timeout": 2.0,
    }
    assert sandbox.delivery.duplicates == 4
    for bad in (
        {"fanout": "random"},
        {"duplicates": 0},
        {"duplicates": True},
        {"reorder": "yes"},
        {"timeout": 0},
        {"timeout": "1"},
        {"nope": 1},
        {"timeout": 1.0, "duplicates": 0},  # nothing is set when one value is bad
    ):
        answer = http.post(url, json=bad)
        assert answer.status_code == 400, bad
        assert "error" in answer.json()
    assert sandbox.delivery.timeout == 2.0
    sandbox.reset()
    assert sandbox.delivery.describe() == {
        "fanout": "all",
        "duplicates": 1,
        "reorder": False,
        "timeout": 2.0,
    }


def test_config_validates_the_delivery_settings() -> None:
    assert SandboxConfig(kci_fanout="round_robin", kci_duplicates=5).kci_duplicates == 5
    for bad in (
        {"kci_fanout": "all-of-them"},
        {"kci_duplicates": 0},
        {"kci_duplicates": 101},
        {"kci_reorder": 1},
    ):
        with pytest.raises(ValueError, match="kci_"):
            SandboxConfig(**bad)
    knobs = DeliveryKnobs(SandboxConfig(kci_reorder=True, kci_timeout=3))
    assert knobs.reorder is True
    assert knobs.timeout == 3.0
    knobs.fanout = "round_robin"
    with pytest.raises(ValueError, match="kci_fanout"):
        knobs.fanout = "random"  # type: ignore[assignment]
    knobs.reset()
    assert knobs.fanout == "all"
