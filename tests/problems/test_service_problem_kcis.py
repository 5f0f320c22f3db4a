"""SERVICE_PROBLEM KCIs: typed as ServiceProblemKci, the published example, action dispatch,
CONFIRM straight to the resolution, and a property test over unknown fields and enum values."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fibrecafe_client import (
    GenericKci,
    InformationType,
    KciParseError,
    KciReceiver,
    NoAuth,
    ServiceProblem,
    ServiceProblemKci,
    ServiceProblemStatus,
    UpdateType,
    parse_kci,
)
from fibrecafe_client.resources.service_problems import resolution_call

#: The published FAILED_TO_SEND example (problemkcis), whose page is cut off inside
#: ``primaryContact``: the rest (phone number, the error object's content) is filled in.
PUBLISHED_FAILED_TO_SEND: dict[str, Any] = {
    "id": "1256cf7d-4471-42e4-a5be-c24ed58a7aa6",
    "supplier": "FIBRECO",
    "sequenceNumber": 2,
    "issuedOn": "2024-04-23T10:25:54.000Z",
    "receivedOn": "2024-04-23T10:25:24.000Z",
    "deliveredOn": "2024-04-23T10:26:54.000Z",
    "updateType": "ERROR",
    "error": {
        "uuid": "7d0b7c1e-4f0e-4a43-9d55-1c2b1f0c0a11",
        "code": "SUPPLIER_FAULT",
        "messages": ["The supplier API returned the following message: 500"],
    },
    "entityType": "SERVICE_PROBLEM",
    "entity": {
        "id": 12345,
        "status": "FAILED_TO_SEND",
        "externalIdentifier": "DS-1234567890",
        "problemType": "OUTAGE",
        "problemText": "Service is completely down.",
        "serviceId": "BBEU12345678",
        "serviceSpecification": {"id": "FTTP"},
        "address": {"id": "123456789012", "type": "UPRN"},
        "supplier": "FIBRECO",
        "serviceTestId": 98765,
        "characteristics": [
            {"name": "END_USER_EQUIPMENT_CHECKED", "value": "true"},
            {"name": "END_USER_CPE", "value": "Zyxel 3213"},
            {"name": "CPE_POWER_ON", "value": "true"},
            {"name": "USAGE_CHANGES", "value": "false"},
            {"name": "PRODUCT_CHANGES", "value": "false"},
            {"name": "24HR_ACCESS", "value": "false"},
            {"name": "TRC_CHARGEBAND", "value": "2"},
            {"name": "REPEAT_PROBLEM", "value": "false"},
            {"name": "ONT_POWER_ON", "value": "false"},
            {"name": "CPE_SYNC_LIGHT_STATUS", "value": "Flashing"},
            {"name": "SERVICE_HAS_WORKED", "value": "true"},
            {"name": "SERVICE_LAST_WORKED", "value": "2024-04-30T12:00:00.000Z"},
        ],
        "primaryContact": {
            "name": "Jane Bloggs",
            "email": "jane@bloggs.com",
            "phoneNumber": "01234 567890",
        },
    },
}


def problem_kci(
    *,
    status: str = "IN_PROGRESS",
    update_type: str = "INFORMATIONAL",
    action: dict[str, Any] | None = None,
    information: dict[str, Any] | None = None,
    sequence_number: int = 1,
    **fields: Any,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "supplier": "FIBRECO",
        "sequenceNumber": sequence_number,
        "deliveredOn": "2024-04-23T10:26:54.000Z",
        "updateType": update_type,
        "entityType": "SERVICE_PROBLEM",
        "entity": {"id": 4567, "status": status, "serviceTestId": 777, "problemType": "OUTAGE"},
    }
    if action is not None:
        doc["action"] = action
    if information is not None or (update_type == "INFORMATIONAL"):
        doc["information"] = information or {"type": "UPDATE"}
    doc.update(fields)
    return doc


def test_the_published_example_parses_to_a_typed_kci() -> None:
    kci = parse_kci(json.dumps(PUBLISHED_FAILED_TO_SEND).encode())
    assert isinstance(kci, ServiceProblemKci)
    assert isinstance(kci.entity, ServiceProblem)
    assert kci.entity_id == 12345
    assert kci.entity_status is ServiceProblemStatus.FAILED_TO_SEND
    assert kci.is_terminal
    assert kci.is_error
    assert kci.error is not None
    assert kci.error.code == "SUPPLIER_FAULT"
    assert kci.entity.service_test_id == 98765
    assert kci.entity.address is not None
    assert kci.entity.address.type == "UPRN"
    assert len(kci.entity.characteristics) == 12
    assert not kci.needs_tenant_action
    assert kci.resolution_id is None
    # the same instant, every field kept: parse(dump(parse(x))) == parse(x)
    assert parse_kci(kci.to_dict()) == kci


def test_a_mapping_parses_the_same_as_bytes() -> None:
    doc = problem_kci(status="ACKNOWLEDGED")
    assert parse_kci(doc) == parse_kci(json.dumps(doc))
    assert isinstance(parse_kci(doc), ServiceProblemKci)


def test_confirm_kci_leads_to_the_resolution_id() -> None:
    resolution = {"id": 4242, "serviceProblemId": 4567, "status": "PENDING"}
    on_kci = problem_kci(
        status="RESOLVED",
        update_type="ACTION_REQUIRED",
        action={"type": "CONFIRM", "text": "Accept or reject the resolution"},
        serviceProblemResolution=resolution,
    )
    on_entity = problem_kci(
        status="RESOLVED",
        update_type="ACTION_REQUIRED",
        action={"type": "CONFIRM"},
    )
    on_entity["entity"]["updates"] = [{"id": "u1", "serviceProblemResolution": resolution}]
    for doc in (on_kci, on_entity):
        kci = parse_kci(json.dumps(doc))
        assert isinstance(kci, ServiceProblemKci)
        assert kci.is_confirm
        assert kci.action_type is InformationType.CONFIRM
        assert kci.needs_tenant_action
        assert kci.resolution_id == 4242
        call = resolution_call(kci, decision="ACCEPTED", notes=None)
        assert (call.method, call.path) == ("PATCH", "/service-problem-resolutions/4242")
        assert json.loads(call.body or b"") == {"status": "ACCEPTED"}


def test_an_entity_that_is_not_an_object_is_refused_at_entity() -> None:
    doc = problem_kci()
    doc["entity"] = [1, 2]
    with pytest.raises(KciParseError) as info:
        parse_kci(json.dumps(doc))
    assert info.value.path.startswith("entity")


def test_a_body_that_mentions_service_problem_elsewhere_is_still_routed_by_entity_type() -> None:
    doc = problem_kci()
    doc["entityType"] = "PROVIDE_ORDER"
    doc["note"] = "SERVICE_PROBLEM"
    doc["entity"] = {"id": "ORD-1", "status": "ACKNOWLEDGED"}
    kci = parse_kci(json.dumps(doc))
    assert type(kci) is GenericKci


ACTIONS = ["INFORMATION_REQUIRED", "REAPPOINT", "RESUBMIT", "CONFIRM"]


def test_receiver_dispatches_on_action_type() -> None:
    receiver = KciReceiver(verifier=NoAuth())
    calls: list[str] = []

    @receiver.on("SERVICE_PROBLEM", action="CONFIRM")
    def confirm(kci: ServiceProblemKci) -> None:
        calls.append(f"confirm:{kci.resolution_id}")

    @receiver.on("SERVICE_PROBLEM", action=["INFORMATION_REQUIRED", InformationType.REAPPOINT])
    def answer(kci: ServiceProblemKci) -> None:
        calls.append(f"answer:{kci.action_type}")

    @receiver.on("SERVICE_PROBLEM", update_type=UpdateType.INFORMATIONAL)
    def info(kci: ServiceProblemKci) -> None:
        calls.append(f"info:{kci.entity_status}")

    headers = {"Content-Type": "application/json", "X-Request-ID": "r", "X-Conversation-ID": "c"}
    docs = [
        problem_kci(
            update_type="ACTION_REQUIRED",
            status="PENDING",
            action={"type": action},
            sequence_number=n + 1,
            serviceProblemResolution={"id": 99, "status": "PENDING"},
        )
        for n, action in enumerate(ACTIONS)
    ]
    docs.append(problem_kci(status="COMPLETED", sequence_number=9))
    for doc in docs:
        assert receiver.handle("POST", headers, json.dumps(doc).encode()).status == 204
    assert calls == [
        "answer:INFORMATION_REQUIRED",
        "answer:REAPPOINT",
        "confirm:99",
        "info:COMPLETED",
    ]


def test_an_empty_action_filter_is_refused() -> None:
    with pytest.raises(ValueError, match="empty filter"):
        KciReceiver(verifier=NoAuth()).on("SERVICE_PROBLEM", action=[])


# -- property: unknown fields and enum values anywhere parse and round-trip --------------------

_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyzXYZ", min_size=3, max_size=10)
_unknown_enum = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=20)
_json_leaf = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=12)
_extra_values = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_names, inner, max_size=3),
    max_leaves=8,
)
_KNOWN = {
    "id", "supplier", "sequenceNumber", "issuedOn", "receivedOn", "deliveredOn", "updateType",
    "entityType", "entity", "information", "action", "error", "supplierNotes", "deliveryStatus",
    "serviceProblemResolution", "status", "problemType", "serviceTestId", "updates", "type",
    "code", "text", "supplierCode",
}  # fmt: skip
_extras = st.dictionaries(_names.filter(lambda n: n not in _KNOWN), _extra_values, max_size=3)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    status=st.sampled_from([s.value for s in ServiceProblemStatus]) | _unknown_enum,
    update_type=st.sampled_from(["INFORMATIONAL", "ACTION_REQUIRED", "ERROR"]) | _unknown_enum,
    kind=st.sampled_from([*ACTIONS, "ADDITIONAL", "UPDATE"]) | _unknown_enum,
    problem_type=st.sampled_from(["CPE", "OUTAGE"]) | _unknown_enum,
    resolution_status=st.sampled_from(["PENDING", "ACCEPTED", "REJECTED"]) | _unknown_enum,
    big_id=st.integers(min_value=1, max_value=2**80),
    envelope_extra=_extras,
    entity_extra=_extras,
    nested_extra=_extras,
)
def test_any_service_problem_kci_with_unknown_fields_and_values_parses_and_round_trips(
    *,
    status: str,
    update_type: str,
    kind: str,
    problem_type: str,
    resolution_status: str,
    big_id: int,
    envelope_extra: dict[str, Any],
    entity_extra: dict[str, Any],
    nested_extra: dict[str, Any],
) -> None:
    doc = problem_kci(
        status=status,
        update_type=update_type,
        action={"type": kind, **nested_extra},
        information={"type": kind},
        **envelope_extra,
    )
    doc["entity"].update(entity_extra, id=big_id, problemType=problem_type)
    doc["entity"]["updates"] = [
        {
            "id": "u",
            "updateType": update_type,
            "serviceProblemResolution": {"id": big_id, "status": resolution_status},
            **nested_extra,
        }
    ]
    kci = parse_kci(json.dumps(doc).encode())
    assert isinstance(kci, ServiceProblemKci)
    assert kci.entity_id == big_id
    assert str(kci.entity_status) == status
    assert kci.model_extra == envelope_extra
    assert kci.entity.model_extra == entity_extra
    dumped = kci.to_dict()
    assert parse_kci(dumped) == kci
    expected = {**doc, "deliveredOn": "2024-04-23T10:26:54Z"}
    assert dumped == expected
    known_other = status in ServiceProblemStatus.__members__ and status != "RESOLVED"
    pending = resolution_status == "PENDING" and not known_other
    assert (kci.entity.resolution_id == big_id) is pending
