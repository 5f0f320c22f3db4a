"""The gateway's validation of ``POST /service-tests``: 400 for malformed, 422 for invalid.

Malformed (400 ``MALFORMED_REQUEST``): not JSON, not an object, a mandatory field missing or of
the wrong type. Invalid (422 ``INVALID_REQUEST``): well-formed but breaking a documented rule
(lengths, patterns, the characteristic rules). Every problem found is reported, not just the
first, so one round trip tells the tenant everything.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

from fibrecafe_client.models import ProblemType

__all__ = ["CreateRequest", "Invalid", "validate_create"]

_SERVICE_ID_MAX: Final = 50
_SUPPLIER = re.compile(r"\w{1,20}")
_MANDATORY: Final = (
    "serviceId",
    "problemType",
    "serviceSpecification",
    "supplier",
    "characteristics",
)
_PROBLEM_TYPES: Final = frozenset(p.value for p in ProblemType)


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """A valid create request, as wire data ready to be echoed in the ServiceTest."""

    service_id: str
    problem_type: str
    service_specification: dict[str, Any]
    supplier: str
    characteristics: list[dict[str, str]]


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why a request was refused: 400 (malformed) or 422 (invalid), with every message."""

    status: int
    messages: list[str]


def _is_datetime(value: str) -> bool:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed.tzinfo is not None


def _malformed(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["The request body must be a JSON object"]
    data = cast("dict[str, Any]", body)
    problems = [f"Missing mandatory parameter: {name}" for name in _MANDATORY if name not in data]
    for name in ("serviceId", "problemType", "supplier"):
        if name in data and not isinstance(data[name], str):
            problems.append(f"{name} must be a string")
    spec = data.get("serviceSpecification")
    if "serviceSpecification" in data:
        if not isinstance(spec, dict):
            problems.append("serviceSpecification must be an object")
        elif "id" not in spec:
            problems.append("Missing mandatory parameter: serviceSpecification.id")
        elif not isinstance(spec["id"], str):
            problems.append("serviceSpecification.id must be a string")
    chars = data.get("characteristics")
    if "characteristics" in data:
        if not isinstance(chars, list):
            problems.append("characteristics must be an array")
        else:
            for index, item in enumerate(cast("list[object]", chars)):
                where = f"characteristics[{index}]"
                if not isinstance(item, dict):
                    problems.append(f"{where} must be an object with name and value")
                    continue
                for key in ("name", "value"):
                    if key not in item:
                        problems.append(f"Missing mandatory parameter: {where}.{key}")
                    elif not isinstance(item[key], str):
                        problems.append(f"{where}.{key} must be a string")
    return problems


def _invalid(data: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    service_id: str = data["serviceId"]
    if not 1 <= len(service_id) <= _SERVICE_ID_MAX:
        problems.append(f"serviceId must be 1 to {_SERVICE_ID_MAX} characters long")
    problem_type: str = data["problemType"]
    if problem_type not in _PROBLEM_TYPES:
        problems.append(f"problemType must be one of {', '.join(sorted(_PROBLEM_TYPES))}")
    if not data["serviceSpecification"]["id"].strip():
        problems.append("serviceSpecification.id must not be empty")
    if not _SUPPLIER.fullmatch(data["supplier"]):
        problems.append("supplier must be 1 to 20 word characters (a gateway supplier id)")

    chars: list[dict[str, str]] = data["characteristics"]
    if not chars:
        problems.append("characteristics must not be empty")
        return problems
    values: dict[str, str] = {}
    for item in chars:
        if item["name"] in values:
            problems.append(f"characteristic {item['name']} is given more than once")
        values[item["name"]] = item["value"]
    has_worked = values.get("SERVICE_HAS_WORKED")
    if has_worked is None:
        problems.append("The SERVICE_HAS_WORKED characteristic is mandatory")
    elif has_worked not in ("true", "false"):
        problems.append("SERVICE_HAS_WORKED must be 'true' or 'false'")
    last_worked = values.get("SERVICE_LAST_WORKED")
    if has_worked == "true" and last_worked is None:
        problems.append("SERVICE_LAST_WORKED is required when SERVICE_HAS_WORKED is true")
    if last_worked is not None and not _is_datetime(last_worked):
        problems.append("SERVICE_LAST_WORKED must be an ISO 8601 date-time with a time zone")
    if problem_type == ProblemType.CPE and not values.get("EQUIPMENT_TYPE", "").strip():
        problems.append("The EQUIPMENT_TYPE characteristic is required when problemType is CPE")
    return problems


def validate_create(body: bytes) -> CreateRequest | Invalid:
    """Check a ``POST /service-tests`` body the way the gateway does."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return Invalid(400, ["The request body is not valid JSON"])
    malformed = _malformed(data)
    if malformed:
        return Invalid(400, malformed)
    invalid = _invalid(data)
    if invalid:
        return Invalid(422, invalid)
    return CreateRequest(
        service_id=data["serviceId"],
        problem_type=data["problemType"],
        service_specification=dict(data["serviceSpecification"]),
        supplier=data["supplier"],
        characteristics=[{"name": c["name"], "value": c["value"]} for c in data["characteristics"]],
    )
