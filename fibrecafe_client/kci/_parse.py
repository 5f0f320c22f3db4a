"""``parse_kci``: any body in, a typed KCI or a :class:`~fibrecafe_client.KciParseError` out.

The hot path is one call: raw bytes go straight to pydantic's ``validate_json`` over a tagged union
keyed on the ``entityType`` string, looked up in Rust. Before that, two cheap guards run in C: the
size limit, and a nesting bound (counting ``{``/``[`` gives an upper bound on the depth; only a
body with more openers than the limit is measured exactly). Anything unusual (an error, an entity
type this release does not know) goes through the public union, whose tag is read from
``entityType`` by a small callable, so results and errors are the same either way.

Whatever the input, only ``KciParseError`` leaves :func:`parse_kci`; the receiver uses
:func:`try_parse_kci`, which never raises and also says whether the body was malformed (400) or
well-formed but invalid (422).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, cast

from pydantic import (
    ConfigDict,
    Discriminator,
    GetCoreSchemaHandler,
    Tag,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import core_schema

from fibrecafe_client.errors import KciParseError
from fibrecafe_client.models import EntityType

from ._models import GenericKci, Kci, ServiceProblemKci, ServiceTestKci

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "ParseFailure",
    "parse_kci",
    "try_parse_kci",
]

#: Default size limit of a KCI body: 1 MiB.
DEFAULT_MAX_BYTES: Final = 1_048_576
#: Default nesting limit (objects and arrays). A service-test KCI nests 5 deep.
DEFAULT_MAX_DEPTH: Final = 64

_SERVICE_TEST: Final = "service_test"
_SERVICE_PROBLEM: Final = "service_problem"
_GENERIC: Final = "generic"
_TAGS: Final = frozenset({_SERVICE_TEST, _SERVICE_PROBLEM, _GENERIC})
# entityType -> (union tag, class) of the entity types modelled in depth.
_MODELLED: Final[dict[str, tuple[str, type[ServiceTestKci] | type[ServiceProblemKci]]]] = {
    "SERVICE_TEST": (_SERVICE_TEST, ServiceTestKci),
    "SERVICE_PROBLEM": (_SERVICE_PROBLEM, ServiceProblemKci),
}
_GENERIC_ROUTE: Final = (_GENERIC, GenericKci)
# Visits allowed when measuring the depth of an already-decoded mapping (shared sub-objects
# could otherwise make the walk exponential).
_MAX_NODES: Final = 1_000_000
_MAX_MESSAGES: Final = 20
# How pydantic labels the plain members of a union in an error location.
_MEMBER_LABELS: Final = frozenset({"str", "int", "float", "bool", "none"})

# pydantic error types that mean "not a KCI at all" or "a mandatory field is missing" (400);
# every other validation error is a well-formed body with a bad value (422).
_MALFORMED_TYPES: Final = frozenset(
    {"json_invalid", "json_type", "missing", "string_unicode", "recursion_loop"}
)

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_ALL_BYTES: Final = bytes(range(256))
_NOT_BRACKETS: Final = bytes(b for b in _ALL_BYTES if b not in b"{}[]")
_NOT_OPENERS: Final = bytes(b for b in _ALL_BYTES if b not in b"{[")
_BRACKETS_AS_PARENS: Final = bytes.maketrans(b"{}[]", b"()()")


def _route(value: Any) -> str:
    """Pick the KCI class from ``entityType``: SERVICE_TEST and SERVICE_PROBLEM are modelled,
    anything else generic.

    Routing looks at nothing but ``entityType``. A SERVICE_TEST (or SERVICE_PROBLEM) KCI whose
    entity is not an object still goes to its class, whose validation then names ``entity`` as
    the problem; an unknown, missing or non-string entity type goes to :class:`GenericKci`.
    """
    if isinstance(value, ServiceTestKci):
        return _SERVICE_TEST
    if isinstance(value, ServiceProblemKci):
        return _SERVICE_PROBLEM
    if isinstance(value, dict):
        fields = cast("dict[str, object]", value)
        entity_type = fields.get("entityType", fields.get("entity_type"))
        if isinstance(entity_type, str) and entity_type in _MODELLED:
            return _MODELLED[entity_type][0]
    return _GENERIC


# The public union: mappings, every error, and entity types the fast union does not know. Built
# on first use: a valid bytes body of a documented type never needs it.
_KCI_ADAPTER: Final[TypeAdapter[Kci]] = TypeAdapter(
    Annotated[
        Annotated[ServiceTestKci, Tag(_SERVICE_TEST)]
        | Annotated[ServiceProblemKci, Tag(_SERVICE_PROBLEM)]
        | Annotated[GenericKci, Tag(_GENERIC)],
        Discriminator(_route),
    ],
    config=ConfigDict(defer_build=True),
)


@dataclass(frozen=True, slots=True)
class ParseFailure:
    """Why a body is not a KCI: the error, and whether the body was malformed.

    ``malformed`` is True when the body is not JSON, not an object, too large, too deep or
    lacks a mandatory field (the Tenant Updates API answers 400 ``MALFORMED_REQUEST``); False
    when it is a well-formed KCI with a value of the wrong type or shape (422
    ``INVALID_REQUEST``).
    """

    error: KciParseError
    malformed: bool


def parse_kci(
    body: bytes | bytearray | memoryview | str | Mapping[str, Any],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Kci:
    """Parse a KCI body into a typed event.

    ``body`` is the raw request body (bytes or str) or an already-decoded mapping. Returns a
    :class:`ServiceTestKci` for ``entityType: SERVICE_TEST``, a :class:`ServiceProblemKci` for
    ``SERVICE_PROBLEM`` and a :class:`GenericKci` for every other entity type, known or not.
    Unknown fields and enum values are kept.

    Raises :class:`~fibrecafe_client.KciParseError` (and nothing else, for any input) when the
    body is not a KCI: not UTF-8 JSON, not an object, over ``max_bytes``, nested deeper than
    ``max_depth``, or missing or mistyping an envelope field. The error names the field path.

    Args:
        body: the request body as received, or a decoded mapping.
        max_bytes: the largest body accepted (1 MiB by default).
        max_depth: the deepest JSON nesting accepted.

    Examples:
        >>> from fibrecafe_client import KciParseError, parse_kci
        >>> try:
        ...     parse_kci(b'{"id": "1", "entityType": "SERVICE_TEST"}')
        ... except KciParseError as exc:
        ...     print(exc.path, "-", exc.reason)
        supplier - required field is missing
    """
    result = try_parse_kci(body, max_bytes=max_bytes, max_depth=max_depth)
    if isinstance(result, ParseFailure):
        raise result.error
    return result


def try_parse_kci(
    body: object,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Kci | ParseFailure:
    """Like :func:`parse_kci`, but returns a :class:`ParseFailure` instead of raising.

    Never raises an ``Exception``, whatever ``body`` is.
    """
    if type(body) is bytes:  # a request body: skips the type dispatch (a tenth of the overhead)
        return _parse_bytes(body, max_bytes, max_depth)
    try:
        if isinstance(body, bytes):  # a subclass of bytes
            data = body
        elif isinstance(body, bytearray | memoryview):
            data = bytes(body)  # pyright: ignore[reportUnknownArgumentType] - any memoryview
        elif isinstance(body, str):
            try:
                data = body.encode("utf-8")
            except UnicodeEncodeError:
                return _failure("the body is not valid Unicode text")
        elif isinstance(body, Mapping):
            return _parse_mapping(cast("Mapping[str, Any]", body), max_depth)
        else:
            return _failure(
                f"expected the body as bytes, str or a mapping, not {type(body).__name__}"
            )
    except ValidationError as exc:
        return _from_validation_error(exc)
    except Exception as exc:
        return _failure(f"the body could not be parsed ({type(exc).__name__})")
    return _parse_bytes(data, max_bytes, max_depth)


def _parse_bytes(data: bytes, max_bytes: int, max_depth: int) -> Kci | ParseFailure:
    """The size limit, the nesting bound and the validation of an exact ``bytes`` body.

    The nesting bound is inline: deleting every byte but ``{`` and ``[`` in one C-level pass
    counts the openers, an upper bound on the depth, so ordinary bodies are never measured.
    """
    try:
        if len(data) > max_bytes:
            return _failure(f"the body is {len(data)} bytes, over the {max_bytes}-byte limit")
        if len(data.translate(None, _NOT_OPENERS)) > max_depth and _bytes_too_deep(data, max_depth):
            return _failure(f"objects and arrays are nested deeper than {max_depth} levels")
        return _validate_json(data)
    except ValidationError as exc:
        return _from_validation_error(exc)
    except Exception as exc:
        return _failure(f"the body could not be parsed ({type(exc).__name__})")


def _validate_json(data: bytes) -> Kci:
    """Validate through a tagged union keyed on the ``entityType`` string, read in Rust.

    The public union's callable tag needs the body decoded to Python objects first, which costs
    about a quarter of the parse. The fast union looks ``entityType`` (else ``entity_type``) up
    in the parsed JSON instead; it knows only the modelled and documented entity types, so any
    other type, a missing or odd tag and every validation error go through the public union,
    and the result's class is confirmed against its ``entity_type``: results and errors are
    exactly the public union's.
    """
    validate = _fast_validate_json or _build_fast_validator()
    try:
        kci: Kci = validate(data)
    except ValidationError:
        return _KCI_ADAPTER.validate_json(data)
    if type(kci) is _MODELLED.get(kci.entity_type, _GENERIC_ROUTE)[1]:
        return kci
    return _KCI_ADAPTER.validate_json(data)


class _ByEntityType:
    """The fast union's schema: modelled types to their classes, documented ones to generic."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: object, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        generic = handler.generate_schema(GenericKci)
        choices: dict[Hashable, core_schema.CoreSchema] = {
            member.value: generic for member in EntityType
        }
        for entity_type, (_, model) in _MODELLED.items():
            choices[entity_type] = handler.generate_schema(model)
        tag: list[list[str | int]] = [["entityType"], ["entity_type"]]  # _route's order
        return core_schema.tagged_union_schema(choices, discriminator=tag)


_fast_validate_json: Callable[[bytes], Any] | None = None


def _build_fast_validator() -> Callable[[bytes], Any]:
    """Built on the first parse, not at import (it costs milliseconds).

    The validator's own method is kept, not ``TypeAdapter.validate_json``, a Python wrapper that
    costs about 5% of the parse.
    """
    global _fast_validate_json  # noqa: PLW0603 - a lazily built constant
    _fast_validate_json = TypeAdapter(_ByEntityType).validator.validate_json
    return _fast_validate_json


def _parse_mapping(body: Mapping[Any, Any], max_depth: int) -> Kci | ParseFailure:
    if _mapping_too_deep(body, max_depth):
        return _failure(f"objects and arrays are nested deeper than {max_depth} levels")
    return _KCI_ADAPTER.validate_python(body if isinstance(body, dict) else dict(body))


def _failure(reason: str, *, path: str = "", malformed: bool = True) -> ParseFailure:
    return ParseFailure(KciParseError(reason, path=path), malformed)


def _bytes_too_deep(data: bytes, max_depth: int) -> bool:
    """Whether brackets nest deeper than ``max_depth`` outside JSON strings, measured exactly.

    Only called when the opener count (an upper bound) is over the limit. Strings are removed,
    brackets kept, and innermost pairs peeled off one level per pass: a depth over the limit
    leaves something after ``max_depth`` passes.
    """
    brackets = _JSON_STRING.sub(b"", data).translate(_BRACKETS_AS_PARENS, _NOT_BRACKETS)
    for _ in range(max_depth):
        peeled = brackets.replace(b"()", b"")
        if not peeled or peeled == brackets:
            # Empty: shallow enough. Unchanged: unbalanced, which the JSON parser reports.
            return False
        brackets = peeled
    return b"(" in brackets and b")" in brackets


def _mapping_too_deep(root: Mapping[Any, Any], max_depth: int) -> bool:
    """Depth of an already-decoded value, walked iteratively (no recursion, bounded visits)."""
    stack: list[tuple[object, int]] = [(root, 1)]
    visits = 0
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        visits += 1
        if visits > _MAX_NODES:
            return True
        children: Iterable[object]
        if isinstance(node, Mapping):
            children = cast("Mapping[object, object]", node).values()
        elif isinstance(node, list | tuple):
            children = cast("Sequence[object]", node)
        else:
            continue
        stack.extend((child, depth + 1) for child in children if _is_container(child))
    return False


def _is_container(value: object) -> bool:
    return isinstance(value, Mapping | list | tuple)


def _from_validation_error(exc: ValidationError) -> ParseFailure:
    details = exc.errors(include_url=False, include_input=False, include_context=False)
    # One entry per path: an open enum (``Enum | str``) reports both union members; the last,
    # "a valid string", is the accurate one.
    problems: dict[str, str] = {}
    malformed = False
    for detail in details[:_MAX_MESSAGES]:
        path = _render_path(detail["loc"])
        kind = detail["type"]
        if kind in _MALFORMED_TYPES or not path:
            malformed = True
        problems[path] = _reason(kind, detail["msg"], path)
    if not problems:  # pragma: no cover - pydantic always reports at least one error
        return _failure("the body is not a KCI")
    first_path = next(iter(problems))
    error = KciParseError(problems[first_path], path=first_path, errors=list(problems.items()))
    return ParseFailure(error, malformed)


def _reason(kind: str, message: str, path: str) -> str:
    if kind == "missing":
        return "required field is missing"
    if not path and kind in {"model_type", "dict_type", "model_attributes_type"}:
        return "the body must be a JSON object"
    return message


def _render_path(loc: Sequence[int | str]) -> str:
    """``("entity", "characteristics", 0, "value")`` -> ``entity.characteristics[0].value``.

    The union tag and pydantic's labels of union members (``str``, ``str-enum[EntityType]``)
    are not part of the body, so they are left out.
    """
    parts = list(loc)
    if parts and parts[0] in _TAGS:
        parts = parts[1:]
    rendered = ""
    for part in parts:
        if isinstance(part, int):
            rendered += f"[{part}]"
        elif part in _MEMBER_LABELS or "[" in part:
            continue
        else:
            rendered += f".{part}" if rendered else part
    return rendered
