"""Property tests: nothing but ``KciParseError`` ever leaves ``parse_kci``, and valid KCIs with
new fields and new enum values still parse and round-trip to the same wire JSON.

Round trip is defined as: ``parse(dump(parse(x))) == parse(x)``, and ``dump(parse(x))`` has the
same keys and values as ``x`` except the rendering of datetimes (``.000Z`` becomes ``Z``; the
instant is the same).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fibrecafe_client import (
    GenericKci,
    KciParseError,
    ServiceProblemKci,
    ServiceTestKci,
    parse_kci,
)

from .conftest import ENTITIES, KciFactory

_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)


def _outcome(body: object) -> str:
    """Parse, and say what came out; any exception but KciParseError fails the test."""
    try:
        kci = parse_kci(body)  # type: ignore[arg-type]
    except KciParseError as exc:
        message = str(exc)
    else:
        assert isinstance(kci, ServiceTestKci | ServiceProblemKci | GenericKci)
        return "parsed"
    assert message.startswith("invalid KCI")
    return "refused"


@_SETTINGS
@given(st.binary(max_size=512))
def test_arbitrary_bytes(body: bytes) -> None:
    _outcome(body)


@_SETTINGS
@given(st.text(max_size=256))
def test_arbitrary_text(body: str) -> None:
    _outcome(body)


@_SETTINGS
@given(json_values)
def test_arbitrary_json_values(value: Any) -> None:
    _outcome(json.dumps(value).encode())
    if isinstance(value, dict):
        _outcome(value)


_ENVELOPE_FIELDS = [
    "id",
    "supplier",
    "sequenceNumber",
    "issuedOn",
    "receivedOn",
    "deliveredOn",
    "deliveryStatus",
    "updateType",
    "information",
    "action",
    "error",
    "supplierNotes",
    "entityType",
    "entity",
]


@_SETTINGS
@given(
    entity_type=st.sampled_from([*ENTITIES]),
    field=st.sampled_from(_ENVELOPE_FIELDS),
    value=json_values,
)
def test_any_value_in_any_envelope_field(
    make_kci: KciFactory, entity_type: str, field: str, value: Any
) -> None:
    doc = make_kci(entity_type)
    doc[field] = value
    _outcome(json.dumps(doc).encode())
    _outcome(doc)


@_SETTINGS
@given(field=st.sampled_from([*ENTITIES["SERVICE_TEST"], "result", "created"]), value=json_values)
def test_any_value_in_any_service_test_field(make_kci: KciFactory, field: str, value: Any) -> None:
    doc = make_kci("SERVICE_TEST")
    doc["entity"][field] = value
    _outcome(json.dumps(doc).encode())


@_SETTINGS
@given(digits=st.integers(min_value=20, max_value=6000), where=st.sampled_from(["seq", "entity"]))
def test_huge_numbers(make_kci: KciFactory, digits: int, where: str) -> None:
    number = "9" * digits
    doc = json.dumps(make_kci("SERVICE_TEST" if where == "entity" else "PROVIDE_ORDER"))
    if where == "seq":
        body = doc.replace('"sequenceNumber": 1', f'"sequenceNumber": {number}')
    else:
        body = doc.replace('"id": 777', f'"id": {number}')
    _outcome(body.encode())


class _HostileMapping(Mapping[str, Any]):
    """A mapping whose every access fails."""

    def __getitem__(self, key: str) -> Any:
        raise TypeError("no")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("no")

    def __len__(self) -> int:
        return 1


def test_odd_mappings_and_cycles(make_kci: KciFactory) -> None:
    assert _outcome(_HostileMapping()) == "refused"
    assert _outcome({1: 2, (3,): 4}) == "refused"
    cyclic = make_kci("PROVIDE_ORDER")
    cyclic["entity"]["self"] = cyclic
    assert _outcome(cyclic) == "refused"
    shared: list[Any] = ["leaf"]
    for _ in range(40):
        shared = [shared, shared]  # 2**40 paths through 40 objects
    wide = make_kci("PROVIDE_ORDER")
    wide["entity"]["shared"] = shared
    assert _outcome(wide) == "refused"
    nested = make_kci("PROVIDE_ORDER")
    nested["entity"]["deep"] = _deep_list(5000)
    assert _outcome(nested) == "refused"
    assert _outcome({"entity": _HostileMapping(), "entityType": "SERVICE_TEST"}) == "refused"


def _deep_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


# --- round trip ----------------------------------------------------------------------------

_KNOWN_KEYS = {
    *_ENVELOPE_FIELDS,
    *[
        "sequence_number",
        "issued_on",
        "received_on",
        "delivered_on",
        "delivery_status",
        "update_type",
        "supplier_notes",
        "entity_type",
        "service_id",
        "problem_type",
        "service_specification",
        "supplier_reference",
        "supplier_code",
        "test_result",
        "status",
        "type",
        "code",
        "text",
        "messages",
        "uuid",
        "result",
        "characteristics",
        "created",
        "updated",
        "note",
    ],
    *ENTITIES["SERVICE_TEST"],
}
extra_keys = st.text(min_size=1, max_size=10).filter(lambda k: k not in _KNOWN_KEYS)
extras = st.dictionaries(extra_keys, json_values, max_size=3)
unknown_words = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=3, max_size=12)


@_SETTINGS
@given(
    entity_type=st.sampled_from([*ENTITIES]),
    update_type=st.sampled_from(["INFORMATIONAL", "ACTION_REQUIRED", "ERROR"]) | unknown_words,
    status=unknown_words | st.sampled_from(["COMPLETED", "IN_PROGRESS", "REJECTED"]),
    info_type=unknown_words,
    error_code=unknown_words,
    test_result=unknown_words,
    envelope_extra=extras,
    entity_extra=extras,
    nested_extra=extras,
)
def test_valid_kci_with_new_fields_and_values_round_trips(
    *,
    make_kci: KciFactory,
    entity_type: str,
    update_type: str,
    status: str,
    info_type: str,
    error_code: str,
    test_result: str,
    envelope_extra: dict[str, Any],
    entity_extra: dict[str, Any],
    nested_extra: dict[str, Any],
) -> None:
    doc = make_kci(entity_type, update_type=update_type, status=status)
    doc.update(envelope_extra)
    doc["entity"].update(entity_extra)
    doc["information"] = {"type": info_type, **nested_extra}
    doc["error"] = {"uuid": "u-1", "code": error_code, "messages": ["m"], **nested_extra}
    doc["supplierNotes"] = [{"note": "n", "created": "2024-04-23T09:00:00.000Z", **nested_extra}]
    if entity_type == "SERVICE_TEST":
        doc["entity"]["result"] = {
            "testValidity": "2024-04-23T12:45:24.500+01:00",
            "testOutcome": {"testResult": test_result, **nested_extra},
        }

    kci = parse_kci(json.dumps(doc).encode())

    assert kci.update_type == update_type
    assert kci.entity_status == status
    assert kci.information is not None
    assert kci.information.type == info_type
    assert parse_kci(kci.to_json()) == kci
    assert parse_kci(kci.to_dict()) == kci
    _assert_same_wire(kci.to_dict(), doc)


def _assert_same_wire(dumped: Any, original: Any, path: str = "") -> None:
    """Equal JSON, except that two strings naming the same instant are equal."""
    if isinstance(original, dict):
        assert isinstance(dumped, dict), path
        assert dumped.keys() == original.keys(), path
        for key, value in original.items():
            _assert_same_wire(dumped[key], value, f"{path}.{key}")
    elif isinstance(original, list):
        assert isinstance(dumped, list), path
        assert len(dumped) == len(original), path
        for index, (a, b) in enumerate(zip(dumped, original, strict=True)):
            _assert_same_wire(a, b, f"{path}[{index}]")
    elif isinstance(original, str) and dumped != original:
        assert isinstance(dumped, str), path
        assert datetime.fromisoformat(dumped) == datetime.fromisoformat(original), path
    else:
        assert dumped == original, path
        assert type(dumped) is type(original), path
