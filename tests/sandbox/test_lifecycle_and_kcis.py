"""Every scenario's lifecycle: the KCIs delivered (in order, with the right headers) and polling."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from fibrecafe_client.models import ServiceTest, ServiceTestStatus
from fibrecafe_client.sandbox import KciCapture, Sandbox, Scenario

if TYPE_CHECKING:
    from conftest import Api

FIXTURES = Path(__file__).parent.parent / "fixtures" / "kcis"

S = ServiceTestStatus
#: (entity status, updateType, information.type or None) of each KCI, per scenario.
EXPECTED: dict[Scenario, list[tuple[ServiceTestStatus, str, str | None]]] = {
    **{
        scenario: [
            (S.SENT_TO_SUPPLIER, "INFORMATIONAL", "UPDATE"),
            (S.IN_PROGRESS, "INFORMATIONAL", "COMMITTED"),
            (S.COMPLETED, "INFORMATIONAL", "COMPLETED"),
        ]
        for scenario in (
            Scenario.GREEN,
            Scenario.AMBER,
            Scenario.RED,
            Scenario.FAILED,
            Scenario.UNAVAILABLE,
        )
    },
    Scenario.REJECTED: [
        (S.SENT_TO_SUPPLIER, "INFORMATIONAL", "UPDATE"),
        (S.REJECTED, "INFORMATIONAL", "TERMINATED"),
    ],
    Scenario.FAILED_TO_SEND: [(S.FAILED_TO_SEND, "ERROR", None)],
}
RESULTS = {
    Scenario.GREEN: "GREEN",
    Scenario.AMBER: "AMBER",
    Scenario.RED: "RED",
    Scenario.FAILED: "FAILED",
    Scenario.UNAVAILABLE: "UNAVAILABLE",
}
GATEWAY_ORIGINATED = {S.SENT_TO_SUPPLIER, S.FAILED_TO_SEND}


def _fixture(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / f"service-test-{name}.json").read_text())
    assert isinstance(data, dict)
    return data


FIXTURE_FOR_STATUS = {
    S.SENT_TO_SUPPLIER: _fixture("sent-to-supplier"),
    S.IN_PROGRESS: _fixture("in-progress"),
    S.COMPLETED: _fixture("completed"),
    S.REJECTED: _fixture("rejected"),
    S.FAILED_TO_SEND: _fixture("failed-to-send"),
}


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition()`` until true (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


@pytest.mark.parametrize("scenario", list(Scenario), ids=lambda s: s.value)
def test_each_scenario_delivers_its_kcis_in_order(
    sandbox: Sandbox, capture: KciCapture, api: Api, scenario: Scenario
) -> None:
    created = api.create(scenario=scenario.value, conversation_id=f"conv-{scenario.name}")
    assert created.status_code == 201
    test_id = created.json()["id"]

    kcis = capture.wait_for_terminal(test_id)
    expected = EXPECTED[scenario]
    got = [
        (k.status, k.body["updateType"], k.body.get("information", {}).get("type")) for k in kcis
    ]
    assert got == expected
    assert [k.sequence_number for k in kcis] == list(range(1, len(expected) + 1))
    # one delivery per KCI, nothing failed, every request id distinct
    assert capture.deliveries == kcis
    assert len({k.request_id for k in kcis}) == len(kcis)
    assert all(k.conversation_id == f"conv-{scenario.name}" for k in kcis)
    assert all(k.headers["authorization"] == capture.webhook().authorization() for k in kcis)
    assert all(k.headers["content-type"] == "application/json" for k in kcis)

    for kci in kcis:
        body = kci.body
        assert kci.status is not None
        status = ServiceTestStatus(kci.status)
        reference = FIXTURE_FOR_STATUS[status]
        optional = {"issuedOn", "receivedOn"}
        assert set(body) - optional == set(reference) - optional
        if status in GATEWAY_ORIGINATED:
            assert "issuedOn" not in body
            assert "receivedOn" not in body
        else:
            assert _parse_time(body["issuedOn"]) <= _parse_time(body["deliveredOn"])
            assert "receivedOn" in body
        assert body["entityType"] == "SERVICE_TEST"
        assert body["supplier"] == "FIBRECO"
        entity = ServiceTest.model_validate(body["entity"])
        assert entity.id == test_id
        assert entity.status == status
        assert set(reference["entity"]) <= set(body["entity"]) | {"result"}
        if "information" in reference:
            assert set(body["information"]) == set(reference["information"])

    last = kcis[-1].body
    if scenario in RESULTS:
        result = ServiceTest.model_validate(last["entity"]).result
        assert result is not None
        assert result.test_outcome is not None
        assert result.test_outcome.test_result == RESULTS[scenario]
        assert result.test_validity is not None
        completed_at = ServiceTest.model_validate(last["entity"]).updated
        assert completed_at is not None
        assert abs(result.test_validity - (completed_at + timedelta(hours=2))) < timedelta(
            milliseconds=1
        )
        assert "supplierReference" in last["entity"]
    else:
        assert "result" not in last["entity"]
    if scenario is Scenario.FAILED_TO_SEND:
        assert last["error"]["code"] == "SUPPLIER_FAULT"
        assert set(last["error"]) == {"uuid", "code", "messages"}
    if scenario is Scenario.REJECTED:
        assert last["information"]["code"] == "INVALID_REQUEST"
        assert last["information"]["supplierCode"] == "SL09"

    # the GET after the end shows exactly the last KCI's entity
    assert api.get(test_id).json() == last["entity"]
    # the capture records a delivery before the sandbox reads its answer: wait for the count
    assert _wait(lambda: sandbox.stats.kcis_delivered == len(expected))
    assert sandbox.stats.kcis_emitted == len(expected)
    assert sandbox.stats.kci_delivery_failures == 0


def test_default_scenario_is_green(capture: KciCapture, api: Api) -> None:
    test_id = api.create().json()["id"]
    last = capture.wait_for_terminal(test_id)[-1]
    assert last.body["entity"]["result"]["testOutcome"]["testResult"] == "GREEN"


def test_problem_code_sets_the_outcome_code_except_for_green(capture: KciCapture, api: Api) -> None:
    code = {"X-Problem-Code": "STALE_PPP_SESSION"}
    red = api.create(scenario="SERVICE_TEST_RED", headers=code).json()["id"]
    green = api.create(scenario="SERVICE_TEST_GREEN", headers=code).json()["id"]
    red_outcome = capture.wait_for_terminal(red)[-1].body["entity"]["result"]["testOutcome"]
    green_outcome = capture.wait_for_terminal(green)[-1].body["entity"]["result"]["testOutcome"]
    assert red_outcome["code"] == "STALE_PPP_SESSION"
    assert green_outcome["code"] == "NO_FAULT_FOUND"


def test_kcis_of_concurrent_tests_each_arrive_in_order(capture: KciCapture, api: Api) -> None:
    ids = [api.create(headers={"X-Kci-Delay": "0"}).json()["id"] for _ in range(5)]
    for test_id in ids:
        capture.wait_for_terminal(test_id)
    for test_id in ids:
        numbers = [k.sequence_number for k in capture.deliveries if k.test_id == test_id]
        assert numbers == [1, 2, 3]


def test_redelivery_after_a_500_keeps_order_and_kci_id(
    sandbox: Sandbox, capture: KciCapture, api: Api
) -> None:
    capture.fail_next(1, 500)
    test_id = api.create().json()["id"]
    kcis = capture.wait_for_terminal(test_id)
    attempts = capture.deliveries
    assert [(d.sequence_number, d.answered) for d in attempts] == [
        (1, 500),
        (1, 204),
        (2, 204),
        (3, 204),
    ]
    assert attempts[0].kci_id == attempts[1].kci_id
    assert attempts[0].request_id != attempts[1].request_id
    assert attempts[0].conversation_id == attempts[1].conversation_id
    assert [k.sequence_number for k in kcis] == [1, 2, 3]
    assert _wait(lambda: sandbox.stats.kcis_delivered == 3)
    stats = sandbox.stats
    assert (stats.kci_delivery_attempts, stats.kcis_delivered) == (4, 3)
    assert (stats.kci_delivery_failures, stats.kcis_given_up) == (1, 0)


def test_a_kci_is_given_up_after_max_attempts_and_the_next_follows(
    sandbox: Sandbox, capture: KciCapture, api: Api
) -> None:
    capture.fail_next(3, 503)  # the session sandbox makes 3 attempts
    test_id = api.create().json()["id"]
    capture.wait_for_terminal(test_id)
    assert [(d.sequence_number, d.answered) for d in capture.deliveries] == [
        (1, 503),
        (1, 503),
        (1, 503),
        (2, 204),
        (3, 204),
    ]
    assert [k.sequence_number for k in capture.kcis(test_id)] == [2, 3]
    assert _wait(lambda: sandbox.stats.kcis_delivered == 2)
    assert sandbox.stats.kcis_given_up == 1


@pytest.fixture
def bearer_capture() -> Iterator[KciCapture]:
    with KciCapture(bearer_token="tenant-issued-token") as extra:
        yield extra


def test_bearer_and_unauthenticated_webhooks(
    sandbox: Sandbox, capture: KciCapture, bearer_capture: KciCapture, api: Api
) -> None:
    with KciCapture() as open_capture:
        sandbox.add_webhook(bearer_capture.webhook())
        sandbox.add_webhook(open_capture.url)
        test_id = api.create().json()["id"]
        for receiver in (capture, bearer_capture, open_capture):
            assert [k.sequence_number for k in receiver.wait_for_terminal(test_id)] == [1, 2, 3]
        assert all(
            k.headers["authorization"] == "Bearer tenant-issued-token"
            for k in bearer_capture.deliveries
        )
        assert all("authorization" not in k.headers for k in open_capture.deliveries)
        ids = [k.kci_id for k in capture.kcis(test_id)]
        assert [k.kci_id for k in open_capture.kcis(test_id)] == ids


def test_wrong_webhook_credentials_are_retried_then_given_up(
    sandbox: Sandbox, capture: KciCapture, api: Api
) -> None:
    with KciCapture(username="gateway", password="right") as strict:
        sandbox.add_webhook(strict.url, username="gateway", password="wrong")
        test_id = api.create().json()["id"]
        capture.wait_for_terminal(test_id)
        strict.wait_for(lambda _: len(strict.deliveries) == 9, timeout=10)
        assert {d.answered for d in strict.deliveries} == {401}
        assert _wait(lambda: sandbox.stats.kcis_given_up == 3)


def test_an_unreachable_webhook_does_not_hold_up_the_others(
    sandbox: Sandbox, capture: KciCapture, api: Api, free_port: int
) -> None:
    sandbox.add_webhook(f"http://127.0.0.1:{free_port}/kcis")
    test_id = api.create().json()["id"]
    assert [k.sequence_number for k in capture.wait_for_terminal(test_id)] == [1, 2, 3]
    assert _wait(lambda: sandbox.stats.kcis_given_up == 3)
    assert sandbox.stats.kcis_delivered == 3


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_webhook_added_later_gets_only_later_kcis(
    sandbox: Sandbox, capture: KciCapture, api: Api
) -> None:
    first = api.create(headers={"X-Kci-Delay": "0"}).json()["id"]
    capture.wait_for_terminal(first)
    with KciCapture() as late:
        sandbox.add_webhook(late.url)
        second = api.create().json()["id"]
        late.wait_for_terminal(second)
        assert {k.test_id for k in late.deliveries} == {second}


@pytest.fixture(scope="module")
def quiet_sandbox() -> Iterator[Sandbox]:
    """A sandbox without any webhook."""
    with Sandbox.start(kci_delay=0.01) as sandbox:
        yield sandbox


@pytest.mark.parametrize("scenario", list(Scenario), ids=lambda s: s.value)
def test_polling_alone_reaches_the_terminal_state(
    quiet_sandbox: Sandbox, make_api: Callable[[Sandbox], Api], scenario: Scenario
) -> None:
    quiet_sandbox.reset()
    api = make_api(quiet_sandbox)
    test_id = api.create(scenario=scenario.value).json()["id"]
    seen = [ServiceTestStatus.RECEIVED_BY_GATEWAY]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = ServiceTestStatus(api.get(test_id).json()["status"])
        if status != seen[-1]:
            seen.append(status)
        if status.is_terminal:
            break
        time.sleep(0.005)
    plan = [ServiceTestStatus.RECEIVED_BY_GATEWAY] + [s for s, _, _ in EXPECTED[scenario]]
    assert seen[-1] == scenario.final_status == plan[-1]
    assert all(status in plan for status in seen)
    assert [plan.index(status) for status in seen] == sorted(plan.index(s) for s in seen)
    final = ServiceTest.model_validate(api.get(test_id).json())
    assert (final.result is not None) == (scenario in RESULTS)
    stats = quiet_sandbox.stats
    assert stats.kcis_emitted == len(EXPECTED[scenario])
    assert stats.kci_delivery_attempts == 0
