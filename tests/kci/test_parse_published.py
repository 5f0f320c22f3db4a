"""The five published service-test KCIs parse to the right typed events with the right values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from fibrecafe_client import (
    EntityType,
    ErrorCode,
    InformationType,
    OutcomeResult,
    ProblemType,
    ServiceTest,
    ServiceTestKci,
    ServiceTestStatus,
    UpdateType,
    parse_kci,
)


def test_completed(published: dict[str, bytes]) -> None:
    kci = parse_kci(published["service-test-completed"])

    assert isinstance(kci, ServiceTestKci)
    assert kci.id == "1256cf7d-4471-42e4-a5be-c24ed58a7aa7"
    assert kci.supplier == "FIBRECO"
    assert kci.sequence_number == 3
    assert kci.issued_on == datetime(2024, 4, 23, 10, 45, 54, tzinfo=UTC)
    assert kci.received_on == datetime(2024, 4, 23, 10, 45, 24, tzinfo=UTC)
    assert kci.delivered_on == datetime(2024, 4, 23, 10, 46, 54, tzinfo=UTC)
    assert kci.update_type is UpdateType.INFORMATIONAL
    assert kci.information is not None
    assert kci.information.type is InformationType.COMPLETED
    assert kci.entity_type is EntityType.SERVICE_TEST
    assert type(kci.entity) is ServiceTest
    assert kci.entity_id == 123
    assert kci.entity_status is ServiceTestStatus.COMPLETED
    assert kci.is_terminal
    assert not kci.is_error
    assert not kci.is_action_required
    entity = kci.entity
    assert entity.service_id == "BBEU00537760"
    assert entity.supplier_reference == "BBEU1234567824/04/2024 10:45:46GBEXJ"
    assert entity.problem_type is ProblemType.OUTAGE
    assert entity.service_specification.id == "FTTP"
    assert [(c.name, c.value) for c in entity.characteristics] == [
        ("SERVICE_HAS_WORKED", "true"),
        ("SERVICE_LAST_WORKED", "2024-04-20T09:45:00.000Z"),
    ]
    assert entity.result is not None
    assert entity.result.test_validity == datetime(2024, 4, 23, 12, 45, 24, tzinfo=UTC)
    outcome = entity.result.test_outcome
    assert outcome is not None
    assert outcome.test_result is OutcomeResult.RED
    assert outcome.code == "NETWORK_NODE_ISSUE"
    assert outcome.supplier_codes == ["ND510"]
    assert outcome.description is not None
    assert outcome.description.startswith("The service test has detected a potential issue")
    assert outcome.supplier_text is not None
    assert "BTW" in outcome.supplier_text
    assert entity.may_raise_problem(now=datetime(2024, 4, 23, 12, 0, tzinfo=UTC))
    assert not entity.may_raise_problem(now=datetime(2024, 4, 23, 13, 0, tzinfo=UTC))
    # outside a receiver, there is no delivery metadata
    assert kci.delivery is None
    assert not kci.is_stale
    assert kci.request_id is None


def test_failed_to_send_is_an_error_kci(published: dict[str, bytes]) -> None:
    kci = parse_kci(published["service-test-failed-to-send"])

    assert isinstance(kci, ServiceTestKci)
    assert kci.update_type is UpdateType.ERROR
    assert kci.is_error
    assert kci.information is None
    assert kci.error is not None
    assert kci.error.uuid == "8a3138c9-6523-48b9-81bc-5870bdb5972f"
    assert kci.error.code is ErrorCode.SUPPLIER_FAULT
    assert kci.error.messages == [
        "The supplier API returned the following message: 500 Service unavailable"
    ]
    assert kci.entity_status is ServiceTestStatus.FAILED_TO_SEND
    assert kci.is_terminal
    assert kci.entity.result is None


def test_rejected_carries_the_reason(published: dict[str, bytes]) -> None:
    kci = parse_kci(published["service-test-rejected"])

    assert isinstance(kci, ServiceTestKci)
    assert kci.entity_status is ServiceTestStatus.REJECTED
    assert kci.is_terminal
    assert kci.information is not None
    assert kci.information.type is InformationType.TERMINATED
    assert kci.information.code == "INVALID_REQUEST"
    assert kci.information.text is not None
    assert kci.information.text.startswith("The supplier is unable to validate the serviceId")
    assert kci.information.supplier_code == "SL09"


@pytest.mark.parametrize(
    ("name", "sequence", "status", "information", "terminal"),
    [
        ("service-test-sent-to-supplier", 1, ServiceTestStatus.SENT_TO_SUPPLIER, "UPDATE", False),
        ("service-test-in-progress", 2, ServiceTestStatus.IN_PROGRESS, "COMMITTED", False),
    ],
)
def test_non_terminal_updates(
    *,
    published: dict[str, bytes],
    name: str,
    sequence: int,
    status: ServiceTestStatus,
    information: str,
    terminal: bool,
) -> None:
    kci = parse_kci(published[name])

    assert isinstance(kci, ServiceTestKci)
    assert kci.sequence_number == sequence
    assert kci.entity_status is status
    assert kci.information is not None
    assert kci.information.type == information
    assert kci.is_terminal is terminal
    assert not kci.is_error


@pytest.mark.parametrize(
    "name",
    [
        "service-test-sent-to-supplier",
        "service-test-in-progress",
        "service-test-completed",
        "service-test-rejected",
        "service-test-failed-to-send",
    ],
)
def test_published_kcis_round_trip(
    published: dict[str, bytes], published_docs: dict[str, dict[str, Any]], name: str
) -> None:
    kci = parse_kci(published[name])

    again = parse_kci(kci.to_json())
    assert again == kci
    wire = kci.to_dict()
    # Same keys everywhere; the only rewrites are of datetime renderings (.000Z -> Z).
    assert _without_datetimes(wire) == _without_datetimes(published_docs[name])
    assert wire["issuedOn"] == "2024-04-23T" + published_docs[name]["issuedOn"][11:19] + "Z"


def test_str_bytearray_memoryview_and_mapping_inputs_agree(
    published: dict[str, bytes], published_docs: dict[str, dict[str, Any]]
) -> None:
    body = published["service-test-completed"]
    expected = parse_kci(body)

    assert parse_kci(body.decode()) == expected
    assert parse_kci(bytearray(body)) == expected
    assert parse_kci(memoryview(body)) == expected
    assert parse_kci(published_docs["service-test-completed"]) == expected


_DATETIME_KEYS = {"issuedOn", "receivedOn", "deliveredOn", "testValidity", "created", "updated"}


def _without_datetimes(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: ("<datetime>" if k in _DATETIME_KEYS else _without_datetimes(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_without_datetimes(v) for v in value]
    return value
