"""The framework-agnostic receiver core: ``handle`` / ``handle_async`` without a network."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import pytest

from fibrecafe_client import (
    BearerTokenVerifier,
    EntityType,
    GenericKci,
    InMemoryKciStore,
    Kci,
    KciClaimResult,
    KciReceiver,
    NoAuth,
    RequestValidationError,
    ServiceTestKci,
    ServiceTestStatus,
    ServiceTestWaitTimeout,
    UpdateType,
)
from fibrecafe_client.kci import KciResponse

from .conftest import KciFactory

SECRET = "canary-bearer-9f2c"
HEADERS = {
    "Authorization": f"Bearer {SECRET}",
    "Content-Type": "application/json",
    "X-Request-ID": "req-1",
    "X-Conversation-ID": "conv-1",
}


def body(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def error_of(response: KciResponse) -> dict[str, Any]:
    assert ("content-type", "application/json") in response.headers
    decoded: dict[str, Any] = json.loads(response.body)
    assert set(decoded) == {"uuid", "code", "messages"}
    assert decoded["uuid"] == response.error_uuid
    return decoded


@pytest.fixture
def receiver() -> KciReceiver:
    return KciReceiver(verifier=BearerTokenVerifier(SECRET))


def test_verifier_is_required_and_checked() -> None:
    with pytest.raises(TypeError):
        KciReceiver()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="verify"):
        KciReceiver(verifier=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stale"):
        KciReceiver(verifier=NoAuth(), stale="ignore")  # type: ignore[arg-type]


def test_no_auth_is_announced(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="fibrecafe_client.kci"):
        KciReceiver(verifier=NoAuth())
    assert "not authenticated" in caplog.text


def test_handlers_are_routed_by_entity_type_status_and_update_type(
    receiver: KciReceiver, make_kci: KciFactory
) -> None:
    calls: list[str] = []

    @receiver.on(EntityType.SERVICE_TEST, status=ServiceTestStatus.COMPLETED)
    def completed(kci: ServiceTestKci) -> None:
        calls.append(f"completed:{kci.entity_id}")

    @receiver.on(EntityType.SERVICE_TEST, status=["REJECTED", ServiceTestStatus.FAILED_TO_SEND])
    def failed(kci: ServiceTestKci) -> None:
        calls.append(f"failed:{kci.entity_status}")

    @receiver.on("PROVIDE_ORDER")
    def orders(kci: GenericKci) -> None:
        calls.append(f"order:{kci.entity_id}")

    @receiver.on(update_type=UpdateType.ACTION_REQUIRED)
    def act(kci: Kci) -> None:
        calls.append(f"act:{kci.entity_type}")

    @receiver.on_any
    def everything(kci: Kci) -> None:
        calls.append("any")

    docs = [
        make_kci(status="COMPLETED", entity_id=1),
        make_kci(status="REJECTED", entity_id=2),
        make_kci(status="IN_PROGRESS", entity_id=3),
        make_kci("PROVIDE_ORDER", update_type="ACTION_REQUIRED"),
        make_kci("SERVICE_PROBLEM"),
    ]
    for doc in docs:
        assert receiver.handle("POST", HEADERS, body(doc)).status == 204

    assert calls == [
        "completed:1",
        "any",
        "failed:REJECTED",
        "any",
        "any",
        "order:ORD-1001",
        "act:PROVIDE_ORDER",
        "any",
        "any",
    ]
    with pytest.raises(ValueError, match="empty filter"):
        receiver.on(status=[])
    with pytest.raises(TypeError, match="callable"):
        receiver.on_any(42)  # type: ignore[type-var]


def test_a_kci_without_handlers_is_acknowledged(
    receiver: KciReceiver, make_kci: KciFactory
) -> None:
    assert receiver.handle("POST", HEADERS, body(make_kci())) == KciResponse(204)


def test_delivery_metadata_reaches_the_handler(receiver: KciReceiver, make_kci: KciFactory) -> None:
    seen: list[Kci] = []
    receiver.on_any(seen.append)
    receiver.handle("POST", HEADERS, body(make_kci()))

    (kci,) = seen
    assert kci.request_id == "req-1"
    assert kci.conversation_id == "conv-1"
    assert kci.delivery is not None
    assert not kci.is_stale


def test_duplicate_is_acknowledged_and_not_handled_again(
    receiver: KciReceiver, make_kci: KciFactory
) -> None:
    calls: list[str] = []
    receiver.on_any(lambda kci: calls.append(kci.id))
    doc = make_kci()

    first = receiver.handle("POST", HEADERS, body(doc))
    second = receiver.handle("POST", HEADERS, body(doc))

    assert (first.status, first.body, second.status, second.body) == (204, b"", 204, b"")
    assert calls == [doc["id"]]


def test_published_kcis_sharing_an_id_are_both_handled_and_still_deduplicated(
    published: dict[str, bytes],
) -> None:
    receiver = KciReceiver(verifier=NoAuth())
    seen: list[str] = []
    receiver.on_any(lambda kci: seen.append(str(kci.entity_status)))
    sent = published["service-test-sent-to-supplier"]
    failed = published["service-test-failed-to-send"]
    assert json.loads(sent)["id"] == json.loads(failed)["id"]

    for payload in (sent, failed, sent, failed):
        assert receiver.handle("POST", {}, payload).status == 204
    assert seen == ["SENT_TO_SUPPLIER", "FAILED_TO_SEND"]


def test_handler_failure_answers_500_and_the_redelivery_is_handled(
    receiver: KciReceiver, make_kci: KciFactory, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[int] = []

    @receiver.on_any
    def flaky(kci: Kci) -> None:
        attempts.append(kci.sequence_number)
        if len(attempts) == 1:
            raise RuntimeError("database down")

    doc = make_kci()
    with caplog.at_level(logging.ERROR, logger="fibrecafe_client.kci"):
        failed = receiver.handle("POST", HEADERS, body(doc))
    assert failed.status == 500
    assert error_of(failed)["code"] == "TENANT_FAULT"
    assert "database down" not in failed.body.decode()
    assert failed.error_uuid is not None
    assert failed.error_uuid in caplog.text

    assert receiver.handle("POST", HEADERS, body(doc)).status == 204
    assert receiver.handle("POST", HEADERS, body(doc)).status == 204
    assert attempts == [1, 1]


def test_later_handlers_failing_means_the_whole_kci_is_redelivered(
    receiver: KciReceiver, make_kci: KciFactory
) -> None:
    calls: list[str] = []
    receiver.on_any(lambda kci: calls.append("first"))

    @receiver.on_any
    def second(kci: Kci) -> None:
        calls.append("second")
        if calls.count("second") == 1:
            raise ValueError("boom")

    doc = make_kci()
    assert receiver.handle("POST", HEADERS, body(doc)).status == 500
    assert receiver.handle("POST", HEADERS, body(doc)).status == 204
    assert calls == ["first", "second", "first", "second"]


@pytest.mark.parametrize("policy", ["deliver", "drop"])
def test_out_of_order_kci_is_flagged_or_dropped(make_kci: KciFactory, policy: Any) -> None:
    receiver = KciReceiver(verifier=NoAuth(), stale=policy)
    seen: list[tuple[int, bool]] = []
    receiver.on_any(lambda kci: seen.append((kci.sequence_number, kci.is_stale)))
    observed: list[int] = []
    receiver.subscribe(lambda kci: observed.append(kci.sequence_number))

    for sequence in (1, 3, 2, 3, 4):
        doc = make_kci(sequence_number=sequence, status="IN_PROGRESS")
        assert receiver.handle("POST", {}, body(doc)).status == 204
    # another entity has its own sequence
    receiver.handle("POST", {}, body(make_kci(sequence_number=1, entity_id=999)))

    if policy == "deliver":
        assert seen == [(1, False), (3, False), (2, True), (3, False), (4, False), (1, False)]
        assert observed == [1, 3, 2, 3, 4, 1]
    else:
        assert seen == [(1, False), (3, False), (3, False), (4, False), (1, False)]
        assert observed == [1, 3, 3, 4, 1]


def test_a_failed_newer_kci_still_makes_older_ones_stale(make_kci: KciFactory) -> None:
    # The sequence is advanced atomically when a KCI is claimed, before its handlers run (so
    # that two replicas can never both take an older KCI for the newest). A newer KCI whose
    # handler failed is redelivered by the gateway, so an older one is stale all the same.
    receiver = KciReceiver(verifier=NoAuth(), stale="drop")
    seen: list[tuple[int, bool]] = []
    fail = [True]

    @receiver.on_any
    def handle(kci: Kci) -> None:
        if kci.sequence_number == 5 and fail:
            fail.pop()
            raise RuntimeError("not now")
        seen.append((kci.sequence_number, kci.is_stale))

    assert receiver.handle("POST", {}, body(make_kci(sequence_number=5))).status == 500
    assert receiver.handle("POST", {}, body(make_kci(sequence_number=4))).status == 204
    assert seen == []  # 4 dropped as stale
    assert receiver.handle("POST", {}, body(make_kci(sequence_number=5))).status == 204
    assert seen == [(5, False)]  # the redelivery of 5 is not stale


@pytest.mark.parametrize(
    ("method", "headers", "payload", "status", "code"),
    [
        ("GET", HEADERS, b"", 405, "MALFORMED_REQUEST"),
        ("POST", {}, b"{}", 401, "NOT_AUTHORISED"),
        ("POST", {**HEADERS, "Authorization": "Bearer nope"}, b"{}", 401, "NOT_AUTHORISED"),
        ("POST", {**HEADERS, "Content-Type": "text/plain"}, b"{}", 415, "MALFORMED_REQUEST"),
        ("POST", {**HEADERS, "Content-Length": "-1"}, b"{}", 400, "MALFORMED_REQUEST"),
        ("POST", {**HEADERS, "Content-Length": "9999999"}, b"{}", 400, "MALFORMED_REQUEST"),
        ("POST", HEADERS, b"{not json", 400, "MALFORMED_REQUEST"),
        ("POST", HEADERS, b"[]", 400, "MALFORMED_REQUEST"),
        ("POST", HEADERS, b'{"entityType": "SERVICE_TEST"}', 400, "MALFORMED_REQUEST"),
    ],
)
def test_refusals_carry_the_documented_error_body(
    *,
    receiver: KciReceiver,
    method: str,
    headers: dict[str, str],
    payload: bytes,
    status: int,
    code: str,
) -> None:
    response = receiver.handle(method, headers, payload)
    assert response.status == status
    assert error_of(response)["code"] == code
    if status == 405:
        assert ("allow", "POST") in response.headers


def test_invalid_values_answer_422(receiver: KciReceiver, make_kci: KciFactory) -> None:
    response = receiver.handle("POST", HEADERS, body(make_kci(sequenceNumber="first")))
    assert response.status == 422
    error = error_of(response)
    assert error["code"] == "INVALID_REQUEST"
    assert error["messages"][0].startswith("sequenceNumber: ")


def test_json_content_types_are_accepted(receiver: KciReceiver, make_kci: KciFactory) -> None:
    for content_type in ("application/json; charset=utf-8", "application/kci+json", None):
        headers = {k: v for k, v in HEADERS.items() if k != "Content-Type"}
        if content_type:
            headers["content-type"] = content_type
        assert receiver.handle("POST", headers, body(make_kci())).status == 204


def test_oversize_body_is_refused_before_parsing(make_kci: KciFactory) -> None:
    receiver = KciReceiver(verifier=NoAuth(), max_body_bytes=100)
    response = receiver.handle("POST", {}, body(make_kci()))
    assert response.status == 400
    assert "over the 100-byte limit" in error_of(response)["messages"][0]


def test_handle_never_raises(receiver: KciReceiver) -> None:
    odd_headers: Any = [(1, 2)]
    assert receiver.handle("POST", odd_headers, b"{}").status == 500
    assert receiver.handle("POST", HEADERS, None).status == 400  # type: ignore[arg-type]


def test_a_failing_store_is_a_503_and_runs_no_handler(make_kci: KciFactory) -> None:
    class BrokenStore(InMemoryKciStore):
        def claim(self, key: str, lease: float) -> KciClaimResult:
            raise ConnectionError("redis down")

        async def claim_async(self, key: str, lease: float) -> KciClaimResult:
            raise ConnectionError("redis down")

    receiver = KciReceiver(verifier=NoAuth(), store=BrokenStore())
    ran: list[Kci] = []
    receiver.on_any(ran.append)
    response = receiver.handle("POST", {}, body(make_kci()))
    assert (response.status, dict(response.headers)) == (503, {"retry-after": "1"})
    assert asyncio.run(receiver.handle_async("POST", {}, body(make_kci()))).status == 503
    assert ran == []


def test_async_handlers_run_from_the_sync_path(make_kci: KciFactory) -> None:
    receiver = KciReceiver(verifier=NoAuth())
    seen: list[int] = []

    @receiver.on_any
    async def record(kci: Kci) -> None:
        await asyncio.sleep(0)
        seen.append(kci.sequence_number)

    assert receiver.handle("POST", {}, body(make_kci(sequence_number=7))).status == 204
    assert seen == [7]


async def test_sync_path_inside_a_running_loop_refuses_async_handlers(
    make_kci: KciFactory,
) -> None:
    receiver = KciReceiver(verifier=NoAuth())
    seen: list[int] = []

    @receiver.on_any
    async def record(kci: Kci) -> None:
        seen.append(1)

    assert receiver.handle("POST", {}, body(make_kci())).status == 500
    assert seen == []
    assert (await receiver.handle_async("POST", {}, body(make_kci()))).status == 204
    assert seen == [1]


async def test_async_path_runs_sync_handlers_in_a_worker_thread(make_kci: KciFactory) -> None:
    receiver = KciReceiver(verifier=NoAuth())
    threads: list[int] = []
    receiver.on_any(lambda kci: threads.append(threading.get_ident()))

    class AsyncCallable:
        async def __call__(self, kci: Kci) -> None:
            threads.append(threading.get_ident())

    receiver.on_any(AsyncCallable())

    assert (await receiver.handle_async("POST", [], body(make_kci()))).status == 204
    assert threads[0] != threading.get_ident()  # sync handler: worker thread
    assert threads[1] == threading.get_ident()  # async handler: this loop

    inline = KciReceiver(verifier=NoAuth(), sync_handlers_in_thread=False)
    inline.on_any(lambda kci: threads.append(threading.get_ident()))
    assert (await inline.handle_async("POST", [], body(make_kci()))).status == 204
    assert threads[2] == threading.get_ident()


async def test_async_handler_failure_and_cancellation_release_the_claim(
    make_kci: KciFactory,
) -> None:
    receiver = KciReceiver(verifier=NoAuth())
    entered = asyncio.Event()

    @receiver.on_any
    async def slow(kci: Kci) -> None:
        entered.set()
        await asyncio.Event().wait()

    doc = make_kci()
    task = asyncio.create_task(receiver.handle_async("POST", {}, body(doc)))
    await asyncio.wait_for(entered.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the claim was released: a redelivery is handled (here by a handler that succeeds)
    done = KciReceiver(verifier=NoAuth(), store=receiver._store)
    assert (await done.handle_async("POST", {}, body(doc))).status == 204


def test_concurrent_duplicate_waits_then_503_after_in_flight_timeout(
    make_kci: KciFactory,
) -> None:
    receiver = KciReceiver(verifier=NoAuth(), in_flight_timeout=0.05)
    entered, release = threading.Event(), threading.Event()

    @receiver.on_any
    def slow(kci: Kci) -> None:
        entered.set()
        assert release.wait(10)

    doc = make_kci()
    results: list[int] = []
    first = threading.Thread(
        target=lambda: results.append(receiver.handle("POST", {}, body(doc)).status)
    )
    first.start()
    assert entered.wait(10)
    second = receiver.handle("POST", {}, body(doc))
    release.set()
    first.join(10)
    assert second.status == 503
    assert ("retry-after", "1") in second.headers
    assert results == [204]


def test_subscribe_and_unsubscribe(receiver: KciReceiver, make_kci: KciFactory) -> None:
    seen: list[int] = []

    def broken(kci: Kci) -> None:
        raise RuntimeError("listener bug")

    receiver.subscribe(broken)
    stop = receiver.subscribe(lambda kci: seen.append(kci.sequence_number))
    assert receiver.handle("POST", HEADERS, body(make_kci(sequence_number=1))).status == 204
    stop()
    assert receiver.handle("POST", HEADERS, body(make_kci(sequence_number=2))).status == 204
    assert seen == [1]
    with pytest.raises(TypeError):
        receiver.subscribe("nope")  # type: ignore[arg-type]


def test_wait_for_sync_from_another_thread(make_kci: KciFactory) -> None:
    receiver = KciReceiver(verifier=NoAuth())
    results: list[ServiceTestKci] = []
    started = threading.Event()

    def wait() -> None:
        started.set()
        results.append(receiver.wait_for_sync(555, timeout=10))

    waiter = threading.Thread(target=wait)
    waiter.start()
    assert started.wait(10)
    _wait_until_registered(receiver, 1)
    receiver.handle("POST", {}, body(make_kci(entity_id=555, status="IN_PROGRESS")))
    receiver.handle("POST", {}, body(make_kci(entity_id=556, status="COMPLETED")))
    receiver.handle("POST", {}, body(make_kci(entity_id=555, status="COMPLETED")))
    waiter.join(10)
    assert [r.entity_status for r in results] == [ServiceTestStatus.COMPLETED]
    assert results[0].entity_id == 555


def test_wait_for_returns_a_terminal_kci_that_already_arrived(make_kci: KciFactory) -> None:
    receiver = KciReceiver(verifier=NoAuth())
    receiver.handle("POST", {}, body(make_kci(entity_id=8, status="REJECTED")))
    assert receiver.wait_for_sync("8", timeout=0).entity_status is ServiceTestStatus.REJECTED


def test_wait_for_times_out_with_the_last_kci_seen(make_kci: KciFactory) -> None:
    receiver = KciReceiver(verifier=NoAuth())
    receiver.handle("POST", {}, body(make_kci(entity_id=9, status="IN_PROGRESS")))
    with pytest.raises(ServiceTestWaitTimeout) as info:
        receiver.wait_for_sync(9, timeout=0.01)
    assert info.value.test_id == 9
    assert isinstance(info.value.last, ServiceTestKci)
    assert info.value.last.entity_status is ServiceTestStatus.IN_PROGRESS
    with pytest.raises(ServiceTestWaitTimeout):
        receiver.wait_for_sync(9, terminal=False, timeout=0.01)  # "next" ignores the past
    # the same validation as service_tests.get(): a RequestValidationError (a ValueError)
    with pytest.raises(RequestValidationError, match="test_id"):
        receiver.wait_for_sync("abc", timeout=0)
    with pytest.raises(RequestValidationError, match="test_id"):
        receiver.wait_for_sync(True, timeout=0)
    with pytest.raises(RequestValidationError, match="test_id"):
        receiver.wait_for_sync("-5", timeout=0)


async def test_wait_for_in_asyncio(make_kci: KciFactory) -> None:
    receiver = KciReceiver(verifier=NoAuth())
    next_kci = asyncio.create_task(receiver.wait_for(42, terminal=False, timeout=10))
    terminal = asyncio.create_task(receiver.wait_for(42, timeout=10))
    await _until(lambda: len(receiver._observers._waiters) == 2)

    # published from another thread, as from a server thread
    def deliver() -> None:
        for status in ("IN_PROGRESS", "COMPLETED"):
            receiver.handle("POST", {}, body(make_kci(entity_id=42, status=status)))

    await asyncio.to_thread(deliver)
    assert (await next_kci).entity_status is ServiceTestStatus.IN_PROGRESS
    assert (await terminal).entity_status is ServiceTestStatus.COMPLETED
    assert receiver._observers._waiters == []
    with pytest.raises(ServiceTestWaitTimeout):
        await receiver.wait_for(43, timeout=0.01)


def _wait_until_registered(receiver: KciReceiver, count: int) -> None:
    event = threading.Event()
    for _ in range(1000):
        if len(receiver._observers._waiters) >= count:
            return
        event.wait(0.005)
    raise AssertionError("waiter never registered")


async def _until(condition: Any) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never met")
