"""The guards of ``parse_kci``'s fast path: the nesting limit, exact at its edge, and the fast
union keyed on ``entityType``, which must never change what a body parses to."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from fibrecafe_client import (
    GenericKci,
    KciParseError,
    ServiceProblemKci,
    ServiceTestKci,
    parse_kci,
)
from fibrecafe_client.kci import DEFAULT_MAX_DEPTH, ParseFailure, try_parse_kci

from .conftest import KciFactory

# Every body type parse_kci takes; bytes is the fast path, the others are converted first.
AS_BODY: dict[str, Callable[[dict[str, Any]], object]] = {
    "bytes": lambda doc: json.dumps(doc).encode(),
    "str": json.dumps,
    "bytearray": lambda doc: bytearray(json.dumps(doc).encode()),
    "memoryview": lambda doc: memoryview(json.dumps(doc).encode()),
    "mapping": lambda doc: doc,
}


def _nested(levels: int) -> Any:
    """``levels`` objects and arrays, alternating, around a string."""
    value: Any = "leaf"
    for level in range(levels):
        value = [value] if level % 2 else {"k": value}
    return value


def _kci_of_depth(make_kci: KciFactory, depth: int) -> dict[str, Any]:
    """A generic KCI nested exactly ``depth`` deep (the envelope and entity are two levels)."""
    doc = make_kci("PROVIDE_ORDER")
    doc["entity"]["deep"] = _nested(depth - 2)
    return doc


@pytest.mark.parametrize("as_body", AS_BODY.values(), ids=AS_BODY.keys())
@pytest.mark.parametrize("limit", [3, 4, 10, DEFAULT_MAX_DEPTH])
def test_depth_exactly_the_limit_is_accepted_and_one_more_refused(
    make_kci: KciFactory, as_body: Callable[[dict[str, Any]], object], limit: int
) -> None:
    kci = try_parse_kci(as_body(_kci_of_depth(make_kci, limit)), max_depth=limit)
    assert isinstance(kci, GenericKci)

    result = try_parse_kci(as_body(_kci_of_depth(make_kci, limit + 1)), max_depth=limit)
    assert isinstance(result, ParseFailure)
    assert result.malformed
    assert result.error.reason == f"objects and arrays are nested deeper than {limit} levels"


@pytest.mark.parametrize("limit", [3, DEFAULT_MAX_DEPTH])
def test_the_opener_count_bound_is_exact_for_a_straight_line_of_openers(limit: int) -> None:
    # As many openers as levels: the cheap upper bound alone decides, at its very edge.
    def line(depth: int) -> bytes:
        return b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"

    at_limit = try_parse_kci(line(limit), max_depth=limit)
    assert isinstance(at_limit, ParseFailure)
    assert at_limit.error.reason == "required field is missing"  # parsed, then not a KCI
    over = try_parse_kci(line(limit + 1), max_depth=limit)
    assert isinstance(over, ParseFailure)
    assert over.error.reason == f"objects and arrays are nested deeper than {limit} levels"


def test_the_default_limit_is_64(make_kci: KciFactory) -> None:
    assert isinstance(parse_kci(json.dumps(_kci_of_depth(make_kci, 64)).encode()), GenericKci)
    with pytest.raises(KciParseError) as info:
        parse_kci(json.dumps(_kci_of_depth(make_kci, 65)).encode())
    assert info.value.reason == "objects and arrays are nested deeper than 64 levels"


def test_brackets_inside_strings_are_not_counted_when_the_depth_is_measured(
    make_kci: KciFactory,
) -> None:
    # Far more openers than the limit (so the exact measurement runs), all but three in strings,
    # some after escaped quotes and backslashes.
    doc = _kci_of_depth(make_kci, 5)
    doc["note"] = '{[ \\" [{ \\\\' * 40
    doc["entity"]["names"] = ["[[", "{{", '"]'] * 20
    body = json.dumps(doc).encode()
    assert body.count(b"[") + body.count(b"{") > 100

    kci = parse_kci(body, max_depth=5)
    assert isinstance(kci, GenericKci)
    assert kci.model_extra == {"note": doc["note"]}
    with pytest.raises(KciParseError, match="nested deeper than 4 levels"):
        parse_kci(body, max_depth=4)


def test_nesting_beyond_pydantics_own_limit_is_a_kci_parse_error() -> None:
    # pydantic-core's JSON parser stops at about 200 levels on its own; a limit above that
    # still ends in a KciParseError (the parser's), never in another exception.
    deep = b'{"a":' + b"[" * 300 + b"]" * 300 + b"}"
    result = try_parse_kci(deep, max_depth=10_000)
    assert isinstance(result, ParseFailure)
    assert result.malformed
    with pytest.raises(KciParseError):
        parse_kci(deep, max_depth=10_000)
    with pytest.raises(KciParseError) as info:
        parse_kci(deep)
    assert info.value.reason == "objects and arrays are nested deeper than 64 levels"


def test_a_generic_kci_mentioning_service_test_stays_generic(make_kci: KciFactory) -> None:
    doc = make_kci("PROVIDE_ORDER", note="SERVICE_TEST")
    doc["entity"]["kind"] = "SERVICE_PROBLEM"
    kci = parse_kci(json.dumps(doc).encode())
    assert type(kci) is GenericKci
    assert kci.model_extra == {"note": "SERVICE_TEST"}


def test_a_service_problem_kci_mentioning_service_test_is_a_service_problem(
    make_kci: KciFactory,
) -> None:
    kci = parse_kci(json.dumps(make_kci("SERVICE_PROBLEM", note="SERVICE_TEST")).encode())
    assert type(kci) is ServiceProblemKci


@pytest.mark.parametrize(
    ("entity_type", "cls"),
    [("SERVICE_TEST", ServiceTestKci), ("SERVICE_PROBLEM", ServiceProblemKci)],
)
def test_an_escaped_entity_type_is_still_recognised(
    make_kci: KciFactory, entity_type: str, cls: type[Any]
) -> None:
    # No byte sequence "SERVICE_TEST" in the body: the tag is read after JSON unescaping.
    body = json.dumps(make_kci(entity_type)).encode().replace(b"SERVICE_", b"SERVICE\\u005f")
    assert f'"{entity_type}"'.encode() not in body
    assert type(parse_kci(body)) is cls


def test_a_bytes_subclass_parses_like_bytes(make_kci: KciFactory) -> None:
    class Body(bytes):
        pass

    doc = make_kci("SERVICE_TEST")
    assert parse_kci(Body(json.dumps(doc).encode())) == parse_kci(json.dumps(doc).encode())


def _outcome(body: object) -> object:
    result = try_parse_kci(body)
    if isinstance(result, ParseFailure):
        return ("refused", result.malformed, result.error.errors)
    return (type(result), result)


def _odd_tags(make_kci: KciFactory) -> list[dict[str, Any]]:
    """Bodies whose entity type is where the fast union's lookup and the public union's could
    disagree: snake-case key, both keys, a null or numeric tag, an unknown type, none at all."""
    bodies: list[dict[str, Any]] = []
    for entity_type in ("SERVICE_TEST", "SERVICE_PROBLEM", "PROVIDE_ORDER"):
        doc = make_kci(entity_type)
        snake = dict(doc)
        snake["entity_type"] = snake.pop("entityType")
        both = {**doc, "entity_type": "PROVIDE_ORDER"}
        reverse = {**snake, "entityType": entity_type if entity_type != "SERVICE_TEST" else "X"}
        bodies += [doc, snake, both, reverse]
        for odd in (None, 5, "ETHERNET_PROVIDE_ORDER"):
            bodies.append({**snake, "entityType": odd})
        bodies.append({k: v for k, v in doc.items() if k != "entityType"})
        bodies.append(dict(sorted(doc.items())))  # entityType after entity
    return bodies


def test_bytes_and_mappings_agree_whatever_the_entity_type_key(make_kci: KciFactory) -> None:
    # Mappings always go through the public union; bytes take the fast union when they can.
    for doc in _odd_tags(make_kci):
        assert _outcome(json.dumps(doc).encode()) == _outcome(doc), doc


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("PROVIDE_ORDER", "SERVICE_TEST"),
        ("SERVICE_TEST", "PROVIDE_ORDER"),
        ("SERVICE_PROBLEM", "SERVICE_TEST"),
    ],
)
def test_a_repeated_entity_type_key_parses_like_the_decoded_body(
    make_kci: KciFactory, first: str, last: str
) -> None:
    body = json.dumps(make_kci(last)).encode()
    body = body.replace(b'{"id"', b'{"entityType": "%s", "id"' % first.encode(), 1)
    assert body.count(b'"entityType"') == 2
    assert _outcome(body) == _outcome(json.loads(body))  # the last key wins, as in json.loads
