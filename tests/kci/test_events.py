"""``KciReceiver.on_event``: one event per delivery, whatever became of it (issue 13.3)."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from fibrecafe_client import (
    BearerTokenVerifier,
    InMemoryKciStore,
    Kci,
    KciClaimResult,
    KciEvent,
    KciReceiver,
    NoAuth,
)

from .conftest import KciFactory

AUTH = {"Authorization": "Bearer right-token-canary", "Content-Type": "application/json"}


def body(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


@pytest.fixture
def events() -> list[KciEvent]:
    return []


def test_every_outcome_is_one_event(make_kci: KciFactory, events: list[KciEvent]) -> None:
    receiver = KciReceiver(verifier=BearerTokenVerifier("right-token-canary"), stale="drop")
    remove = receiver.on_event(events.append)

    @receiver.on_any
    def handle(kci: Kci) -> None:
        if kci.sequence_number == 9:
            raise ValueError("boom")

    newer, older, failing = (make_kci(sequence_number=n) for n in (5, 4, 9))
    failing["entity"]["id"] = 99
    answers = [
        receiver.handle(
            "POST", {**AUTH, "X-Request-ID": "r-1", "X-Conversation-ID": "c-1"}, body(newer)
        ),
        receiver.handle("POST", AUTH, body(newer)),
        receiver.handle("POST", AUTH, body(older)),
        receiver.handle("POST", AUTH, body(failing)),
        receiver.handle("POST", {"Authorization": "Bearer wrong"}, body(newer)),
        receiver.handle("GET", AUTH, b""),
        receiver.handle("POST", {**AUTH, "Content-Type": "text/plain"}, b"x"),
        receiver.handle("POST", AUTH, b"{not json"),
        receiver.handle("POST", AUTH, b'{"id": 5}'),
    ]
    statuses = [a.status for a in answers]
    assert [(e.outcome, e.status) for e in events] == [
        ("handled", 204),
        ("duplicate", 204),
        ("stale_dropped", 204),
        ("handler_failed", 500),
        ("refused", 401),
        ("refused", 405),
        ("refused", 415),
        ("refused", 400),
        (events[8].outcome, statuses[8]),
    ]
    assert events[8].outcome == "refused"
    assert [e.status for e in events] == statuses
    first = events[0]
    assert (first.request_id, first.conversation_id) == ("r-1", "c-1")
    assert first.kci is not None
    assert first.kci.sequence_number == 5
    assert first.handler_seconds is not None
    assert first.handler_seconds >= 0
    assert events[3].reason == "ValueError"
    assert events[3].error_uuid == answers[3].error_uuid
    assert events[4].kci is None
    assert all("right-token-canary" not in repr(e) for e in events)
    remove()
    receiver.handle("POST", AUTH, body(make_kci()))
    assert len(events) == 9  # removed


def test_store_failures_and_busy_twins_are_events(
    make_kci: KciFactory, events: list[KciEvent]
) -> None:
    class Down(InMemoryKciStore):
        async def claim_async(self, key: str, lease: float) -> KciClaimResult:
            raise ConnectionError("down")

    down = KciReceiver(verifier=NoAuth(), store=Down())
    down.on_event(events.append)
    assert asyncio.run(down.handle_async("POST", {}, body(make_kci()))).status == 503
    assert (events[-1].outcome, events[-1].reason) == ("store_unavailable", "claim")

    busy = KciReceiver(verifier=NoAuth(), in_flight_timeout=0.01)
    busy.on_event(events.append)
    entered, release = threading.Event(), threading.Event()

    @busy.on_any
    def slow(kci: Kci) -> None:
        entered.set()
        assert release.wait(10)

    doc = make_kci()
    first = threading.Thread(target=lambda: busy.handle("POST", {}, body(doc)))
    first.start()
    assert entered.wait(10)
    assert busy.handle("POST", {}, body(doc)).status == 503
    release.set()
    first.join(10)
    assert [e.outcome for e in events[-2:]] == ["in_flight", "handled"]


def test_a_failing_listener_is_logged_and_changes_nothing(
    make_kci: KciFactory, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = KciReceiver(verifier=NoAuth())

    def broken(event: KciEvent) -> None:
        raise RuntimeError("listener bug")

    receiver.on_event(broken)
    assert receiver.handle("POST", {}, body(make_kci())).status == 204
    assert "KCI event listener" in caplog.text


def test_remove_unregisters_a_handler_everywhere_it_was_registered(
    make_kci: KciFactory,
) -> None:
    receiver = KciReceiver(verifier=NoAuth())
    seen: list[str] = []

    def record(kci: Kci) -> None:
        seen.append(kci.id)

    receiver.on_any(record)
    receiver.on("SERVICE_TEST")(record)
    receiver.handle("POST", {}, body(first := make_kci()))
    assert seen == [first["id"], first["id"]]
    assert receiver.remove(record) is True
    assert receiver.remove(record) is False
    receiver.handle("POST", {}, body(make_kci()))
    assert seen == [first["id"], first["id"]]
