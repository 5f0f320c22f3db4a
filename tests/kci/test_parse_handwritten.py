"""Hand-written KCIs: every documented entity type, update type and shape, and what is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fibrecafe_client import (
    EntityType,
    ErrorCode,
    GenericKci,
    InformationType,
    KciParseError,
    ServiceTestKci,
    ServiceTestStatus,
    UnknownValue,
    UpdateType,
    parse_kci,
)
from fibrecafe_client.kci import DEFAULT_MAX_BYTES, ParseFailure, try_parse_kci

from .conftest import ENTITIES, KciFactory

GENERIC_TYPES = [
    "PROVIDE_ORDER",
    "MODIFY_ORDER",
    "CEASE_ORDER",
    "UNSOLICITED_CEASE_ORDER",
]  # SERVICE_PROBLEM is typed now: tests/problems/test_service_problem_kcis.py


@pytest.mark.parametrize("entity_type", GENERIC_TYPES)
def test_documented_entity_types_parse_to_generic_kcis(
    make_kci: KciFactory, entity_type: str
) -> None:
    doc = make_kci(entity_type)
    kci = parse_kci(json.dumps(doc).encode())

    assert type(kci) is GenericKci
    assert kci.entity_type is EntityType(entity_type)
    assert kci.entity == ENTITIES[entity_type]
    assert kci.entity_id == ENTITIES[entity_type]["id"]
    assert kci.entity_status == ENTITIES[entity_type]["status"]
    assert kci.to_dict() == {**doc, "issuedOn": "2024-04-23T10:25:54Z",
                             "receivedOn": "2024-04-23T10:25:24Z",
                             "deliveredOn": "2024-04-23T10:26:54Z"}  # fmt: skip


def test_unknown_entity_type_is_kept_as_a_string(make_kci: KciFactory) -> None:
    kci = parse_kci(json.dumps(make_kci("ETHERNET_PROVIDE_ORDER")))

    assert isinstance(kci, GenericKci)
    assert kci.entity_type == "ETHERNET_PROVIDE_ORDER"
    assert not isinstance(kci.entity_type, EntityType)
    assert kci.entity_id == "ETH-1"
    assert kci.entity["bandwidth"] == 1000


def test_service_test_kci_uses_the_client_model(make_kci: KciFactory) -> None:
    kci = parse_kci(json.dumps(make_kci("SERVICE_TEST", status="SENT_TO_SUPPLIER")))

    assert isinstance(kci, ServiceTestKci)
    assert kci.entity_id == 777
    assert kci.entity_status is ServiceTestStatus.SENT_TO_SUPPLIER


def test_unsolicited_cease_keeps_its_order_type(make_kci: KciFactory) -> None:
    kci = parse_kci(json.dumps(make_kci("UNSOLICITED_CEASE_ORDER")))

    assert isinstance(kci, GenericKci)
    assert kci.entity_type is EntityType.UNSOLICITED_CEASE_ORDER
    assert kci.entity["orderType"] == "UNSOLICITED_CEASE"
    assert kci.entity_status == "CREATED"


@pytest.mark.parametrize("entity_type", ["SERVICE_TEST", *GENERIC_TYPES])
def test_informational_shape(make_kci: KciFactory, entity_type: str) -> None:
    doc = make_kci(entity_type, information={"type": "DELAY", "code": "WEATHER", "text": "Storm"})
    kci = parse_kci(json.dumps(doc))

    assert kci.update_type is UpdateType.INFORMATIONAL
    assert kci.information is not None
    assert kci.information.type is InformationType.DELAY
    assert (kci.information.code, kci.information.text) == ("WEATHER", "Storm")
    assert not kci.is_error
    assert not kci.is_action_required
    assert kci.action is None


@pytest.mark.parametrize("entity_type", ["SERVICE_TEST", *GENERIC_TYPES])
def test_action_required_shape(make_kci: KciFactory, entity_type: str) -> None:
    kci = parse_kci(json.dumps(make_kci(entity_type, update_type="ACTION_REQUIRED")))

    assert kci.update_type is UpdateType.ACTION_REQUIRED
    assert kci.is_action_required
    assert not kci.is_error
    assert kci.information is None
    assert kci.action is not None
    assert kci.action.type is InformationType.INFORMATION_REQUIRED
    assert kci.action.code == "MISSING_CONTACT"
    assert kci.action.text == "Please provide an on-site contact."
    assert kci.action.supplier_code == "AR12"


def test_confirm_action_on_a_resolved_problem(make_kci: KciFactory) -> None:
    doc = make_kci(
        "SERVICE_PROBLEM",
        update_type="ACTION_REQUIRED",
        status="RESOLVED",
        action={"type": "CONFIRM", "text": "Accept or reject the resolution"},
    )
    kci = parse_kci(json.dumps(doc))

    assert kci.action is not None
    assert kci.action.type is InformationType.CONFIRM
    assert kci.entity_status == "RESOLVED"
    assert not kci.is_terminal  # RESOLVED still waits for the tenant


@pytest.mark.parametrize("entity_type", ["SERVICE_TEST", *GENERIC_TYPES])
def test_error_shape(make_kci: KciFactory, entity_type: str) -> None:
    status = "FAILED_TO_SEND"
    kci = parse_kci(json.dumps(make_kci(entity_type, update_type="ERROR", status=status)))

    assert kci.update_type is UpdateType.ERROR
    assert kci.is_error
    assert kci.information is None
    assert kci.error is not None
    assert kci.error.code is ErrorCode.SUPPLIER_FAULT
    assert kci.error.messages == ["The supplier API returned the following message: 500"]
    assert kci.is_terminal


def test_supplier_notes_delivery_status_and_new_fields_are_kept(make_kci: KciFactory) -> None:
    doc = make_kci(
        "PROVIDE_ORDER",
        supplierNotes=[
            {"note": "Engineer booked", "type": "ENGINEER", "created": "2024-04-23T09:00:00Z"},
            {"note": "Plain", "futureField": [1, 2]},
        ],
        deliveryStatus="DELIVERED",
        correlationHint={"a": 1},
    )
    kci = parse_kci(json.dumps(doc))

    assert kci.delivery_status == "DELIVERED"
    assert [n.note for n in kci.supplier_notes] == ["Engineer booked", "Plain"]
    assert kci.supplier_notes[0].type == "ENGINEER"
    assert kci.supplier_notes[0].created is not None
    assert kci.supplier_notes[1].model_extra == {"futureField": [1, 2]}
    assert kci.model_extra == {"correlationHint": {"a": 1}}
    wire = kci.to_dict()
    assert wire["correlationHint"] == {"a": 1}
    assert wire["supplierNotes"][1] == {"note": "Plain", "futureField": [1, 2]}


def test_unknown_enum_values_are_kept_as_strings(make_kci: KciFactory) -> None:
    doc = make_kci(
        "SERVICE_TEST",
        update_type="ESCALATION",
        status="PAUSED_BY_SUPPLIER",
        information={"type": "BRAND_NEW_REASON"},
        error={"uuid": "u", "code": "SUPPLIER_ON_STRIKE", "messages": []},
    )
    doc["entity"]["problemType"] = "FLOODING"
    doc["entity"]["result"] = {"testOutcome": {"testResult": "PURPLE"}}
    kci = parse_kci(json.dumps(doc))

    assert isinstance(kci, ServiceTestKci)
    assert kci.update_type == "ESCALATION"
    assert kci.entity_status == "PAUSED_BY_SUPPLIER"
    assert not kci.is_terminal  # an unknown status never ends a wait early
    assert kci.information is not None
    assert kci.information.type == "BRAND_NEW_REASON"
    assert kci.error is not None
    assert kci.error.code == "SUPPLIER_ON_STRIKE"
    assert kci.entity.problem_type == "FLOODING"
    assert kci.entity.test_result == "PURPLE"
    unknown = (
        kci.update_type,
        kci.entity_status,
        kci.information.type,
        kci.error.code,
        kci.entity.problem_type,
        kci.entity.test_result,
    )
    for value in unknown:
        assert type(value) is UnknownValue  # a str, told apart from the enum members by type
        assert isinstance(value, str)
    assert json.loads(kci.to_json())["entity"]["result"]["testOutcome"]["testResult"] == "PURPLE"


def test_odd_values_deep_inside_a_generic_entity_never_break_the_envelope(
    make_kci: KciFactory,
) -> None:
    doc = make_kci("PROVIDE_ORDER")
    doc["entity"] = {
        "id": {"not": "an id"},
        "status": 42,
        "appointment": {"start": "31/02/2024 25:61", "slots": [None, {"x": [[[]]]}]},
        "price": 1e308,
        "big": 10**40,
    }
    kci = parse_kci(json.dumps(doc))

    assert isinstance(kci, GenericKci)
    assert kci.entity_id is None
    assert kci.entity_status is None
    assert not kci.is_terminal
    assert kci.entity["big"] == 10**40
    assert kci.entity["appointment"]["start"] == "31/02/2024 25:61"


@pytest.mark.parametrize(("value", "expected"), [(True, None), (12, 12), ("A-1", "A-1")])
def test_generic_entity_id_types(make_kci: KciFactory, value: object, expected: object) -> None:
    doc = make_kci("CEASE_ORDER")
    doc["entity"]["id"] = value
    assert parse_kci(json.dumps(doc)).entity_id == expected


@pytest.mark.parametrize(
    ("status", "terminal"),
    [("COMPLETED", True), ("CANCELLED", True), ("REJECTED", True), ("IN_PROGRESS", False)],
)
def test_generic_terminal_statuses(make_kci: KciFactory, status: str, terminal: bool) -> None:
    assert parse_kci(json.dumps(make_kci("SERVICE_PROBLEM", status=status))).is_terminal is terminal


@pytest.mark.parametrize("entity", [None, [1, 2], "123", 5])
def test_service_test_kci_whose_entity_is_not_an_object(
    make_kci: KciFactory, entity: object
) -> None:
    doc = make_kci("SERVICE_TEST")
    doc["entity"] = entity
    with pytest.raises(KciParseError) as info:
        parse_kci(json.dumps(doc))
    assert info.value.path == "entity"


def test_service_test_entity_is_validated_like_the_api_response(make_kci: KciFactory) -> None:
    doc = make_kci("SERVICE_TEST")
    doc["entity"]["id"] = "not-a-number"
    del doc["entity"]["serviceId"]
    result = try_parse_kci(json.dumps(doc))

    assert isinstance(result, ParseFailure)
    paths = [path for path, _ in result.error.errors]
    assert paths == ["entity.id", "entity.serviceId"]
    assert result.malformed  # a mandatory field is missing: 400


@pytest.mark.parametrize(
    "field",
    ["id", "supplier", "sequenceNumber", "deliveredOn", "updateType", "entityType", "entity"],
)
def test_missing_required_envelope_field(make_kci: KciFactory, field: str) -> None:
    doc = make_kci("PROVIDE_ORDER")
    del doc[field]
    result = try_parse_kci(json.dumps(doc))

    assert isinstance(result, ParseFailure)
    assert result.malformed
    assert (field, "required field is missing") in result.error.errors
    with pytest.raises(KciParseError, match=field):
        parse_kci(json.dumps(doc))


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("sequenceNumber", "third", "sequenceNumber"),
        ("deliveredOn", "yesterday", "deliveredOn"),
        ("information", ["UPDATE"], "information"),
        ("supplierNotes", {"note": "x"}, "supplierNotes"),
        ("error", {"messages": "one"}, "error.messages"),
        ("entityType", 7, "entityType"),
    ],
)
def test_wrong_types_are_invalid_not_malformed(
    make_kci: KciFactory, field: str, value: object, path: str
) -> None:
    doc = make_kci("PROVIDE_ORDER")
    doc[field] = value
    result = try_parse_kci(json.dumps(doc))

    assert isinstance(result, ParseFailure)
    assert not result.malformed  # 422 INVALID_REQUEST
    assert result.error.path == path
    assert result.error.errors[0][0] == path


def test_error_text_names_the_path_and_never_echoes_the_value(make_kci: KciFactory) -> None:
    doc = make_kci("PROVIDE_ORDER", sequenceNumber="canary-5ecret-value")
    with pytest.raises(KciParseError) as info:
        parse_kci(json.dumps(doc))

    assert str(info.value).startswith("invalid KCI: sequenceNumber: ")
    assert "canary" not in str(info.value)
    assert "canary" not in repr(info.value.errors)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "Invalid JSON"),
        (b"not json", "Invalid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b'"a string"', "must be a JSON object"),
        (b"\xff\xfe{}", "Invalid JSON"),
        ("\ud800", "not valid Unicode"),
    ],
)
def test_not_a_kci_at_all(body: bytes | str, reason: str) -> None:
    result = try_parse_kci(body)

    assert isinstance(result, ParseFailure)
    assert result.malformed
    assert reason in result.error.reason
    assert result.error.path == ""


@pytest.mark.parametrize("body", [None, 12, 1.5, ["a"], object()])
def test_unsupported_body_types(body: object) -> None:
    with pytest.raises(KciParseError, match="expected the body as bytes, str or a mapping"):
        parse_kci(body)  # type: ignore[arg-type]


def test_size_limit(make_kci: KciFactory) -> None:
    doc = make_kci("PROVIDE_ORDER", padding="x" * DEFAULT_MAX_BYTES)
    body = json.dumps(doc).encode()
    with pytest.raises(KciParseError, match="over the 1048576-byte limit"):
        parse_kci(body)

    small = json.dumps(make_kci("PROVIDE_ORDER")).encode()
    assert parse_kci(small, max_bytes=len(small)).entity_id == "ORD-1001"
    with pytest.raises(KciParseError, match="byte limit"):
        parse_kci(small, max_bytes=len(small) - 1)
    with pytest.raises(KciParseError, match="byte limit"):
        parse_kci(small.decode(), max_bytes=len(small) - 1)


def _nest(depth: int) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def test_depth_limit(make_kci: KciFactory) -> None:
    # The envelope is one level, the entity a second, so the nested value may use max - 2.
    doc = make_kci("PROVIDE_ORDER")
    doc["entity"]["deep"] = _nest(8)
    assert isinstance(parse_kci(json.dumps(doc), max_depth=10), GenericKci)
    assert isinstance(parse_kci(doc, max_depth=10), GenericKci)
    doc["entity"]["deep"] = _nest(9)
    for body in (json.dumps(doc), doc):
        with pytest.raises(KciParseError, match="nested deeper than 10 levels"):
            parse_kci(body, max_depth=10)


def test_default_depth_limit_refuses_absurd_nesting() -> None:
    bomb = b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(KciParseError, match="nested deeper than 64 levels"):
        parse_kci(bomb)


def test_brackets_inside_strings_do_not_count_as_nesting(make_kci: KciFactory) -> None:
    doc = make_kci("PROVIDE_ORDER", note='[[[{{{ "quoted" \\ [[[' * 50)
    kci = parse_kci(json.dumps(doc), max_depth=4)
    assert kci.model_extra == {"note": doc["note"]}


def test_snake_case_mapping_input_is_accepted(make_kci: KciFactory) -> None:
    doc = make_kci("PROVIDE_ORDER")
    snake = {
        "id": doc["id"],
        "supplier": "FIBRECO",
        "sequence_number": 4,
        "delivered_on": "2024-04-23T10:26:54Z",
        "update_type": "INFORMATIONAL",
        "entity_type": "SERVICE_PROBLEM",
        "entity": {"id": 9, "status": "HELD"},
    }
    kci = parse_kci(snake)
    assert (kci.sequence_number, kci.entity_id, kci.entity_status) == (4, 9, "HELD")
