"""The sandbox and the SDK agree: its KCIs parse with ``parse_kci`` like the published examples,
and its error responses and faults map to the SDK's typed errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fibrecafe_client import (
    APIConnectionError,
    AuthenticationError,
    FibreCafe,
    NotFoundError,
    RetryPolicy,
    ServiceTestKci,
    ServiceUnavailableError,
    UnprocessableEntityError,
    parse_kci,
)
from fibrecafe_client.sandbox import KciCapture, Sandbox, Scenario

FIXTURES = Path(__file__).parent.parent / "fixtures" / "kcis"

SERVICE: dict[str, Any] = {
    "service_id": "BBEU00537760",
    "problem_type": "OUTAGE",
    "service_specification": "FTTP",
    "supplier": "FIBRECO",
    "characteristics": {
        "SERVICE_HAS_WORKED": "true",
        "SERVICE_LAST_WORKED": "2024-04-20T09:45:00.000Z",
    },
}


def _published() -> dict[str, ServiceTestKci]:
    parsed = {}
    for path in FIXTURES.glob("service-test-*.json"):
        kci = parse_kci(path.read_bytes())
        assert isinstance(kci, ServiceTestKci)
        parsed[str(kci.entity.status)] = kci
    return parsed


PUBLISHED = _published()


def _shape(kci: ServiceTestKci) -> dict[str, Any]:
    """What must match between a sandbox KCI and the published one for the same state."""
    return {
        "entity_type": kci.entity_type,
        "update_type": kci.update_type,
        "information_type": None if kci.information is None else kci.information.type,
        "information_fields": None
        if kci.information is None
        else sorted(kci.information.model_dump(exclude_none=True)),
        "error_code": None if kci.error is None else kci.error.code,
        "entity_status": kci.entity.status,
        "supplier": kci.supplier,
    }


@pytest.fixture
def client(fibrecafe_sandbox: Sandbox) -> Iterator[FibreCafe]:
    """A client with instant retries, so fault tests stay fast."""
    retry = RetryPolicy(max_retries=2, initial_backoff=0, max_backoff=0, max_retry_after=0)
    with FibreCafe(**fibrecafe_sandbox.client_kwargs(), retry=retry) as sdk:
        yield sdk


@pytest.mark.parametrize("scenario", list(Scenario), ids=lambda s: s.value)
def test_every_kci_parses_and_matches_the_published_shape(
    client: FibreCafe, fibrecafe_kci_capture: KciCapture, scenario: Scenario
) -> None:
    test = client.service_tests.create(
        **SERVICE, extra_headers={"X-Scenario": scenario.value, "X-Kci-Delay": "0"}
    )
    captured = fibrecafe_kci_capture.wait_for_terminal(test.id)
    statuses = []
    for number, delivery in enumerate(captured, start=1):
        kci = parse_kci(delivery.raw)
        assert isinstance(kci, ServiceTestKci)
        assert kci.sequence_number == number
        assert kci.entity.id == test.id
        assert kci.delivered_on is not None
        published = PUBLISHED[str(kci.entity.status)]
        assert _shape(kci) == _shape(published)
        # gateway-originated KCIs carry no supplier timestamps; the published examples do
        gateway_made = str(kci.entity.status) in ("SENT_TO_SUPPLIER", "FAILED_TO_SEND")
        assert (kci.issued_on is None) == gateway_made
        assert (kci.received_on is None) == gateway_made
        statuses.append(kci.entity.status)
    assert statuses[-1] == scenario.final_status


def test_published_examples_round_trip_through_the_sandbox_shapes() -> None:
    # The fixtures themselves cover every state the sandbox emits.
    assert set(PUBLISHED) == {s.final_status.value for s in Scenario} | {
        "SENT_TO_SUPPLIER",
        "IN_PROGRESS",
    }
    completed = json.loads((FIXTURES / "service-test-completed.json").read_text())
    assert set(completed["entity"]["result"]) <= {"testValidity", "testMeasures", "testOutcome"}


def test_gateway_errors_map_to_the_sdk_errors(
    fibrecafe_sandbox: Sandbox, client: FibreCafe
) -> None:
    with pytest.raises(NotFoundError) as not_found:
        client.service_tests.get(987654321)
    assert not_found.value.code == "NOT_FOUND"
    assert not_found.value.uuid is not None
    with pytest.raises(UnprocessableEntityError) as invalid:
        client.service_tests.create(**SERVICE, extra_headers={"X-Scenario": "NO_SUCH_SCENARIO"})
    assert invalid.value.code == "INVALID_REQUEST"
    assert "Unknown X-Scenario" in invalid.value.messages[0]
    cpe = {
        **SERVICE,
        "problem_type": "CPE",
    }  # a mapping: the SDK leaves the CPE rule to the gateway
    with pytest.raises(UnprocessableEntityError, match="EQUIPMENT_TYPE"):
        client.service_tests.create(**cpe)


def test_revoked_tokens_are_refetched_once_then_refused(
    fibrecafe_sandbox: Sandbox, client: FibreCafe
) -> None:
    test = client.service_tests.create(**SERVICE)
    fibrecafe_sandbox.revoke_tokens()
    assert client.service_tests.get(test.id).id == test.id
    assert fibrecafe_sandbox.stats.tokens_issued == 2
    fibrecafe_sandbox.faults.token_expires_in = 3600
    fibrecafe_sandbox.faults.token_lifetime = 0.000001  # every new token is dead on arrival
    fibrecafe_sandbox.revoke_tokens()
    with pytest.raises(AuthenticationError) as refused:
        client.service_tests.get(test.id)
    assert refused.value.code == "NOT_AUTHORISED"


def test_throttled_create_is_resent_and_creates_one_test(
    fibrecafe_sandbox: Sandbox, client: FibreCafe
) -> None:
    fibrecafe_sandbox.faults.fail_next(2, 429, retry_after=0)
    client.service_tests.create(**SERVICE)
    stats = fibrecafe_sandbox.stats
    assert stats.count("POST", "/v1/service-tests") == 3
    assert stats.service_tests_created == 1


def test_a_create_answered_503_is_not_resent(fibrecafe_sandbox: Sandbox, client: FibreCafe) -> None:
    fibrecafe_sandbox.faults.fail_next(1, 503, retry_after=0)
    with pytest.raises(ServiceUnavailableError) as unavailable:
        client.service_tests.create(**SERVICE)
    assert unavailable.value.outcome_unknown
    assert fibrecafe_sandbox.stats.count("POST", "/v1/service-tests") == 1


def test_unavailable_gateway_exhausts_the_get_retries(
    fibrecafe_sandbox: Sandbox, client: FibreCafe
) -> None:
    fibrecafe_sandbox.faults.fail_next(3, 503, retry_after=0)
    with pytest.raises(ServiceUnavailableError):
        client.service_tests.get(1)
    assert fibrecafe_sandbox.stats.count("GET", "/v1/service-tests/{id}", 503) == 3


def test_a_dropped_create_is_not_resent(fibrecafe_sandbox: Sandbox, client: FibreCafe) -> None:
    fibrecafe_sandbox.faults.drop_next(1)
    with pytest.raises(APIConnectionError) as dropped:
        client.service_tests.create(**SERVICE)
    assert dropped.value.outcome_unknown
    stats = fibrecafe_sandbox.stats
    assert stats.count("POST", "/v1/service-tests") == 1
    assert stats.service_tests_created == 0
