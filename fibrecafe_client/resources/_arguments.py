"""Argument checks shared by the resources (service tests and service problems): one decision,
used by both, raising :class:`RequestValidationError` before anything is sent."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Final

import httpx
from pydantic import ValidationError

from fibrecafe_client._config import check_headers, check_timeout
from fibrecafe_client._pipeline import new_id
from fibrecafe_client.errors import ConfigurationError, RequestValidationError
from fibrecafe_client.models import ServiceSpecification

__all__ = ["POLL_BACKOFF", "call_options", "invalid", "positive_seconds", "specification"]

#: Growth of the poll interval after each poll of ``wait``.
POLL_BACKOFF: Final = 1.5
_CONVERSATION_ID = re.compile(r"^[\x21-\x7e]{1,200}$")


def invalid(argument: str, problem: str) -> RequestValidationError:
    """The error for a bad argument: its name and what is wrong (never its value)."""
    return RequestValidationError(f"{argument}: {problem}")


def specification(value: object) -> ServiceSpecification:
    """``service_specification`` as an id, a model or a mapping, checked."""
    if isinstance(value, ServiceSpecification):
        return value
    if isinstance(value, str):
        if not value.strip():
            raise invalid("service_specification", "must not be empty")
        return ServiceSpecification(id=value)
    if isinstance(value, Mapping):
        try:
            return ServiceSpecification.model_validate(value)
        except ValidationError as exc:
            error = exc.errors(include_url=False, include_input=False)[0]
            field = ".".join(str(p) for p in error["loc"])
            raise invalid(f"service_specification.{field}", error["msg"]) from None
    raise invalid(
        "service_specification",
        f"expected an id string, a ServiceSpecification or a mapping, not {type(value).__name__}",
    )


def call_options(
    conversation_id: object, extra_headers: object, timeout: object
) -> tuple[str, dict[str, str], httpx.Timeout | None]:
    """The per-call options every resource method takes: conversation id (new if None),
    extra headers and timeout, checked."""
    if conversation_id is None:
        cid = new_id()
    elif isinstance(conversation_id, str) and _CONVERSATION_ID.match(conversation_id):
        cid = conversation_id
    else:
        raise invalid("conversation_id", "must be 1-200 printable ASCII characters, no spaces")
    try:
        headers = check_headers("extra_headers", {} if extra_headers is None else extra_headers)
        per_call = None if timeout is None else check_timeout("timeout", timeout)
    except ConfigurationError as exc:
        raise RequestValidationError(str(exc)) from None
    return cid, headers, per_call


def positive_seconds(name: str, value: object) -> float:
    """A positive, finite number of seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(name, f"must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise invalid(name, f"must be a positive number of seconds, got {value!r}")
    return float(value)
