"""HTTP plumbing shared by the receiver and its adapters: headers in, responses out.

Framework-agnostic: headers may come as a mapping or as ASGI-style ``(name, value)`` pairs of
bytes or str; answers are :class:`KciResponse` values an adapter writes as they are.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, TypeAlias, cast

from fibrecafe_client.models import ErrorCode

__all__ = [
    "HeadersInput",
    "KciResponse",
    "error_response",
    "internal_fault",
    "is_json_content_type",
    "normalise_headers",
]

#: What :meth:`KciReceiver.handle` accepts as headers.
HeadersInput: TypeAlias = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]

_JSON_HEADERS: Final = (("content-type", "application/json"),)
_log = logging.getLogger("fibrecafe_client.kci")


@dataclass(frozen=True, slots=True)
class KciResponse:
    """What to answer the gateway: status, headers (lower-case names) and body bytes.

    Success and duplicates are ``204`` with no body; refusals carry the documented error body
    ``{uuid, code, messages}`` (the ``uuid`` is also logged, to match the gateway's reports).
    """

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    error_uuid: str | None = field(default=None, compare=False)


def error_response(
    status: int,
    code: ErrorCode,
    messages: Iterable[str],
    *,
    extra_headers: tuple[tuple[str, str], ...] = (),
) -> KciResponse:
    """A JSON error answer in the gateway's shape, with a fresh error uuid."""
    error_uuid = str(uuid.uuid4())
    body = json.dumps(
        {"uuid": error_uuid, "code": code.value, "messages": list(messages)},
        ensure_ascii=False,
    ).encode()
    return KciResponse(status, _JSON_HEADERS + extra_headers, body, error_uuid)


def internal_fault() -> KciResponse:
    """500 ``TENANT_FAULT`` for an unexpected failure of the receiver itself; logs the
    exception being handled."""
    response = error_response(500, ErrorCode.TENANT_FAULT, ["the tenant failed to process the KCI"])
    _log.exception("KCI receiver failed unexpectedly (error uuid %s)", response.error_uuid)
    return response


def normalise_headers(headers: HeadersInput) -> dict[str, str]:
    """Headers as a dict with lower-case names; repeated headers are joined with ``", "``.

    Bytes are decoded as Latin-1 (HTTP's byte-preserving header encoding).
    """
    pairs: Iterable[tuple[str | bytes, str | bytes]] = (
        cast("Mapping[str, str]", headers).items() if isinstance(headers, Mapping) else headers
    )
    result: dict[str, str] = {}
    for raw_name, raw_value in pairs:
        name = (raw_name.decode("latin-1") if isinstance(raw_name, bytes) else raw_name).lower()
        value = raw_value.decode("latin-1") if isinstance(raw_value, bytes) else raw_value
        result[name] = f"{result[name]}, {value}" if name in result else value
    return result


def is_json_content_type(value: str | None) -> bool:
    """True for ``application/json`` and ``application/*+json`` (parameters ignored), and when
    the header is absent (the body then decides)."""
    if value is None or not value.strip():
        return True
    media_type = value.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )
