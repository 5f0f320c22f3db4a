"""The sandbox's service problems: the four endpoints, their validation, and a lifecycle.

Endpoints (all under ``/v1``): ``POST /service-problems``, ``GET /service-problems/{id}``,
``POST /service-problem-amendments``, ``POST /service-problem-cancellations`` and
``PATCH /service-problem-resolutions/{id}``. Every problem state is built with the SDK's own
:class:`~fibrecafe_client.ServiceProblem` model, and every KCI is delivered like a service-test
KCI (in order, with redelivery), with the conversation id the problem was raised with.

CVT publishes no service-problem scenarios, so these are the sandbox's own, chosen with
``X-Scenario`` on ``POST /service-problems`` (see :class:`ProblemScenario`). Amendments and
cancellations take CVT's documented ``AMENDMENT_ACCEPTED``/``AMENDMENT_REJECTED`` and
``CANCELLATION_ACCEPTED``/``CANCELLATION_REJECTED``. ``X-Kci-Delay`` sets the time between steps;
the supplier's "24 hours" before auto-completion are one step.

Sandbox choices where the gateway's behaviour is undocumented: a problem is refused (422) for an
unknown service test, a test that is not COMPLETED with an AMBER, RED or UNAVAILABLE result, one
past its ``testValidity``, or one for another ``serviceId``; amending or cancelling a terminal
problem is refused (422); a resolution that is no longer PENDING cannot be decided again (422);
a rejection of an amendment or cancellation is a RESUBMIT action KCI that leaves the problem's
status as it was.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, cast

from fibrecafe_client.models import (
    ErrorCode,
    InformationType,
    OutcomeResult,
    ServiceProblem,
    ServiceProblemStatus,
    UpdateType,
    render_wire_datetime,
)

from ._asgi import Request, Response
from ._delivery import KciDelivery
from ._store import KciEvent
from ._tasks import TaskSet

__all__ = [
    "AMENDMENTS_PATH",
    "CANCELLATIONS_PATH",
    "PROBLEMS_PATH",
    "PROBLEM_ROUTES",
    "AmendmentScenario",
    "CancellationScenario",
    "ProblemDesk",
    "ProblemKciEvent",
    "ProblemScenario",
    "problem_route",
]

_API: Final = "/v1"
PROBLEMS_PATH: Final = f"{_API}/service-problems"
PROBLEM_ROUTE: Final = f"{PROBLEMS_PATH}/{{id}}"
AMENDMENTS_PATH: Final = f"{_API}/service-problem-amendments"
CANCELLATIONS_PATH: Final = f"{_API}/service-problem-cancellations"
RESOLUTION_ROUTE: Final = f"{_API}/service-problem-resolutions/{{id}}"
#: Route -> the one method it answers.
PROBLEM_ROUTES: Final[dict[str, str]] = {
    PROBLEMS_PATH: "POST",
    PROBLEM_ROUTE: "GET",
    AMENDMENTS_PATH: "POST",
    CANCELLATIONS_PATH: "POST",
    RESOLUTION_ROUTE: "PATCH",
}
_PROBLEM_PATH = re.compile(re.escape(PROBLEMS_PATH) + r"/[^/]+")
_RESOLUTION_PATH = re.compile(re.escape(_API) + r"/service-problem-resolutions/[^/]+")
_ID = re.compile(r"[0-9]{1,18}")
_SUPPLIER = re.compile(r"\w{1,20}")
_REASON = re.compile(r"[A-Z_]{5,50}")
_WORD = re.compile(r"\w+")
_RAISABLE: Final = frozenset({OutcomeResult.AMBER, OutcomeResult.RED, OutcomeResult.UNAVAILABLE})
_TEXTS: Final = ("hazards", "onSiteRestrictions", "notes")
#: Problem ids start here, far from service-test ids (KCI delivery lanes are keyed by id).
FIRST_PROBLEM_ID: Final = 50_000_001
_MAX_DELAY: Final = 300.0


def problem_route(path: str) -> str | None:
    """The problem route ``path`` belongs to, or None."""
    if path in (PROBLEMS_PATH, AMENDMENTS_PATH, CANCELLATIONS_PATH):
        return path
    if _PROBLEM_PATH.fullmatch(path):
        return PROBLEM_ROUTE
    if _RESOLUTION_PATH.fullmatch(path):
        return RESOLUTION_ROUTE
    return None


class ProblemScenario(StrEnum):
    """``X-Scenario`` values of ``POST /service-problems`` (the sandbox's own; CVT has none).

    - ``SERVICE_PROBLEM_RESOLVED`` (default): SENT_TO_SUPPLIER, ACKNOWLEDGED, IN_PROGRESS,
      RESOLVED with a CONFIRM action; accepting completes it, rejecting sends it back to
      IN_PROGRESS and the supplier resolves it again (a new resolution id).
    - ``SERVICE_PROBLEM_INFORMATION_REQUIRED``: as above, but after IN_PROGRESS the supplier
      asks for information (PENDING, INFORMATION_REQUIRED) and waits for an amendment.
    - ``SERVICE_PROBLEM_AUTO_COMPLETE``: resolved, then without a decision an ADDITIONAL KCI
      warns of closure in 24 hours, and the problem completes by itself (the resolution is
      ACCEPTED on the tenant's behalf).
    - ``SERVICE_PROBLEM_REJECTED``: the supplier rejects it after SENT_TO_SUPPLIER.
    - ``SERVICE_PROBLEM_FAILED_TO_SEND``: the gateway cannot reach the supplier (an ERROR KCI).
    """

    RESOLVED = "SERVICE_PROBLEM_RESOLVED"
    INFORMATION_REQUIRED = "SERVICE_PROBLEM_INFORMATION_REQUIRED"
    AUTO_COMPLETE = "SERVICE_PROBLEM_AUTO_COMPLETE"
    REJECTED = "SERVICE_PROBLEM_REJECTED"
    FAILED_TO_SEND = "SERVICE_PROBLEM_FAILED_TO_SEND"


class AmendmentScenario(StrEnum):
    """``X-Scenario`` values of ``POST /service-problem-amendments`` (CVT's names)."""

    ACCEPTED = "AMENDMENT_ACCEPTED"
    REJECTED = "AMENDMENT_REJECTED"


class CancellationScenario(StrEnum):
    """``X-Scenario`` values of ``POST /service-problem-cancellations`` (CVT's names)."""

    ACCEPTED = "CANCELLATION_ACCEPTED"
    REJECTED = "CANCELLATION_REJECTED"


@dataclass(frozen=True, slots=True)
class ProblemKciEvent(KciEvent):
    """A SERVICE_PROBLEM KCI: a :class:`KciEvent` with an ``action`` and a resolution."""

    action: dict[str, str] | None = None
    resolution: dict[str, Any] | None = None

    def envelope(self, delivered_on: datetime) -> dict[str, Any]:
        """The KCI body: the service-test envelope with this entity type and parts."""
        body = KciEvent.envelope(self, delivered_on)
        body["entityType"] = "SERVICE_PROBLEM"
        if self.action is not None:
            body["action"] = dict(self.action)
        if self.resolution is not None:
            body["serviceProblemResolution"] = dict(self.resolution)
        return body

    def update(self) -> dict[str, Any]:
        """The KCI as ``GET`` lists it in ``updates[]`` (the envelope without ``entity``)."""
        body = self.envelope(self.issued_on or datetime.now(UTC))
        del body["entity"]
        return body


@dataclass(slots=True)
class _Problem:
    problem: ServiceProblem
    conversation_id: str
    scenario: ProblemScenario
    delay: float
    sequence: int = 0
    updates: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    #: Tenant decisions and accepted amendments, for the lifecycle task.
    inbox: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue[tuple[str, Any]])
    task: asyncio.Task[None] | None = None
    resolution_id: int | None = None


@dataclass(frozen=True, slots=True)
class _Refusal:
    status: int
    messages: list[str]


def _error(status: int, messages: list[str]) -> Response:
    codes = {400: ErrorCode.MALFORMED_REQUEST, 404: ErrorCode.NOT_FOUND}
    code = codes.get(status, ErrorCode.INVALID_REQUEST)
    body = {"uuid": str(uuid.uuid4()), "code": code.value, "messages": messages}
    return Response.json(status, body)


def _json_object(request: Request) -> dict[str, Any] | _Refusal:
    content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return _Refusal(400, ["Content-Type must be application/json"])
    try:
        data = json.loads(request.body)
    except (UnicodeDecodeError, ValueError):
        return _Refusal(400, ["The request body is not valid JSON"])
    if not isinstance(data, dict):
        return _Refusal(400, ["The request body must be a JSON object"])
    return cast("dict[str, Any]", data)


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _text(data: dict[str, Any], name: str, low: int, high: int, problems: list[str]) -> None:
    value = data.get(name)
    if value is None:
        return
    if not isinstance(value, str):
        problems.append(f"{name} must be a string")
    elif not low <= len(value) <= high:
        problems.append(f"{name} must be {low} to {high} characters long")


def _check_characteristics(value: object, problems: list[str], *, required: bool) -> None:
    if value is None:
        if required:
            problems.append("Missing mandatory parameter: characteristics")
        return
    if not isinstance(value, list) or not value:
        problems.append("characteristics must be a non-empty array")
        return
    values: dict[str, str] = {}
    for index, item in enumerate(cast("list[object]", value)):
        if not isinstance(item, dict):
            problems.append(f"characteristics[{index}] must be an object with name and value")
            continue
        entry = cast("dict[str, object]", item)
        name, val = entry.get("name"), entry.get("value")
        if not isinstance(name, str) or not isinstance(val, str):
            problems.append(f"characteristics[{index}] needs string name and value")
            continue
        values[name] = val
    if not required:
        return
    has_worked = values.get("SERVICE_HAS_WORKED")
    if has_worked is None:
        problems.append("The SERVICE_HAS_WORKED characteristic is mandatory")
    elif has_worked not in ("true", "false"):
        problems.append("SERVICE_HAS_WORKED must be 'true' or 'false'")
    if has_worked == "true" and "SERVICE_LAST_WORKED" not in values:
        problems.append("SERVICE_LAST_WORKED is required when SERVICE_HAS_WORKED is true")


def _check_contact(data: dict[str, Any], name: str, problems: list[str]) -> None:
    value = data.get(name)
    if value is None:
        return
    if not isinstance(value, dict) or not all(
        isinstance(v, str) for v in cast("dict[str, object]", value).values()
    ):
        problems.append(f"{name} must be an object of strings (name, email, phoneNumber)")


def validate_problem(data: dict[str, Any]) -> _Refusal | None:
    """The gateway's checks of a ``POST /service-problems`` body (400 then 422)."""
    mandatory = (
        "problemType",
        "problemText",
        "serviceId",
        "supplier",
        "serviceTestId",
        "characteristics",
        "primaryContact",
    )
    missing = [f"Missing mandatory parameter: {n}" for n in mandatory if n not in data]
    for name in ("problemType", "problemText", "serviceId", "supplier"):
        if name in data and not isinstance(data[name], str):
            missing.append(f"{name} must be a string")
    if "serviceTestId" in data and not isinstance(data["serviceTestId"], int):
        missing.append("serviceTestId must be a number")
    if missing:
        return _Refusal(400, missing)
    problems: list[str] = []
    if not _WORD.fullmatch(data["problemType"]):
        problems.append("problemType must be a word such as OUTAGE")
    _text(data, "problemText", 10, 80, problems)
    _text(data, "serviceId", 1, 50, problems)
    _text(data, "externalIdentifier", 1, 64, problems)
    for name in _TEXTS:
        _text(data, name, 1, 1000, problems)
    if not _SUPPLIER.fullmatch(data["supplier"]):
        problems.append("supplier must be 1 to 20 word characters (a gateway supplier id)")
    if not _is_id(data["serviceTestId"]):
        problems.append("serviceTestId must be >= 1")
    for name in ("appointmentReservationId", "parentServiceProblemId"):
        if name in data and not _is_id(data[name]):
            problems.append(f"{name} must be a number >= 1")
    _check_characteristics(data["characteristics"], problems, required=True)
    if not isinstance(data["primaryContact"], dict):
        problems.append("primaryContact must be an object")
    _check_contact(data, "primaryContact", problems)
    _check_contact(data, "secondaryContact", problems)
    return _Refusal(422, problems) if problems else None


def _check_test(test: dict[str, Any] | None, data: dict[str, Any], now: datetime) -> list[str]:
    """The sandbox's rule: a problem needs a recent, raisable test of the same service."""
    test_id = data["serviceTestId"]
    if test is None:
        return [f"No service test with id {test_id}"]
    result_doc: dict[str, Any] = test.get("result") or {}
    outcome: dict[str, Any] = result_doc.get("testOutcome") or {}
    result: object = outcome.get("testResult")
    if test.get("status") != "COMPLETED" or result not in _RAISABLE:
        shown: object = result or test.get("status")
        return [
            f"Service test {test_id} ({shown}) does not allow a service problem: only a "
            "completed AMBER, RED or UNAVAILABLE test does"
        ]
    validity: object = result_doc.get("testValidity")
    if isinstance(validity, str) and datetime.fromisoformat(validity) <= now:
        return [f"Service test {test_id} expired at {validity}: run a new service test"]
    if test.get("serviceId") != data["serviceId"]:
        return [f"Service test {test_id} is for service {test.get('serviceId')}, not this one"]
    return []


def _scenario(raw: str | None, kind: type[StrEnum], default: StrEnum) -> StrEnum | _Refusal:
    if raw is None or not raw.strip():
        return default
    try:
        return kind(raw.strip())
    except ValueError:
        known = ", ".join(s.value for s in kind)
        return _Refusal(422, [f"Unknown X-Scenario {raw.strip()!r}; expected one of {known}"])


def _delay(raw: str | None, default: float) -> float | _Refusal:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        return _Refusal(400, [f"X-Kci-Delay must be a number of seconds, got {raw!r}"])
    if not math.isfinite(value) or not 0 <= value <= _MAX_DELAY:
        return _Refusal(422, [f"X-Kci-Delay must be between 0 and {_MAX_DELAY:g} seconds"])
    return value


_RESOLUTION_DETAILS: Final = {
    "resolutionCode": "BACKHAUL_CORE_NETWORK",
    "resolutionCategory": "FAULTY_EQUIPMENT",
    "resolutionText": "Faulty line card replaced at the serving exchange; service restored.",
    "supplierCodes": ["R9"],
    "faultCode": ["DAMAGED_LINE_CARD"],
}


class ProblemDesk:
    """The service-problem side of the sandbox: records, endpoints and lifecycle tasks.

    ``clock`` decides "now" for the service-test window check and the timestamps; a test can
    replace it to move a test past its window.
    """

    def __init__(
        self,
        delivery: KciDelivery,
        find_test: Callable[[int], dict[str, Any] | None],
        *,
        kci_delay: Callable[[], float],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._delivery = delivery
        self._find_test = find_test
        self._kci_delay = kci_delay
        self.clock = clock
        self._lock = threading.Lock()
        self._records: dict[int, _Problem] = {}
        self._resolutions: dict[int, tuple[int, dict[str, Any]]] = {}
        self._ids = itertools.count(FIRST_PROBLEM_ID)
        self._request_ids = itertools.count(1)
        self._tasks = TaskSet("problems")

    # -- reading -----------------------------------------------------------------------------

    def get(self, problem_id: int) -> dict[str, Any] | None:
        """The problem's wire form with its ``updates`` (None if unknown)."""
        with self._lock:
            record = self._records.get(problem_id)
            if record is None:
                return None
            return {**record.problem.to_dict(), "updates": list(record.updates)}

    def ids(self) -> list[int]:
        """Ids of the stored problems, oldest first."""
        with self._lock:
            return list(self._records)

    def running(self) -> int:
        """Lifecycle and request tasks still running."""
        return len(self._tasks)

    async def cancel_all(self, grace: float = 5.0) -> None:
        """Stop every lifecycle task (problems stay as they are)."""
        await self._tasks.cancel_all(grace)

    def clear(self) -> None:
        """Forget every problem and resolution (ids are not reused)."""
        with self._lock:
            self._records.clear()
            self._resolutions.clear()

    # -- HTTP --------------------------------------------------------------------------------

    def handle(self, request: Request, route: str) -> Response:
        """Answer one authenticated request on a problem route (on the sandbox's loop)."""
        if route == PROBLEM_ROUTE:
            raw = request.path.rsplit("/", 1)[1]
            found = self.get(int(raw)) if _ID.fullmatch(raw) else None
            if found is None:
                return _error(404, [f"Service Problem not found with the specified id {raw}"])
            return Response.json(200, found)
        if route == RESOLUTION_ROUTE:
            return self._resolve(request)
        data = _json_object(request)
        if isinstance(data, _Refusal):
            return _error(data.status, data.messages)
        if route == PROBLEMS_PATH:
            return self._create(request, data)
        if route == AMENDMENTS_PATH:
            return self._amend(request, data)
        return self._cancel(request, data)

    def _create(self, request: Request, data: dict[str, Any]) -> Response:
        refused = validate_problem(data)
        if refused is not None:
            return _error(refused.status, refused.messages)
        now = self.clock()
        test_problems = _check_test(self._find_test(data["serviceTestId"]), data, now)
        if test_problems:
            return _error(422, test_problems)
        scenario = _scenario(
            request.header("x-scenario"), ProblemScenario, ProblemScenario.RESOLVED
        )
        delay = _delay(request.header("x-kci-delay"), self._kci_delay())
        if isinstance(scenario, _Refusal):
            return _error(scenario.status, scenario.messages)
        if isinstance(delay, _Refusal):
            return _error(delay.status, delay.messages)
        with self._lock:
            problem_id = next(self._ids)
            problem = ServiceProblem.model_validate(
                {
                    **data,
                    "id": problem_id,
                    "status": ServiceProblemStatus.RECEIVED_BY_GATEWAY.value,
                    "created": now,
                    "updated": now,
                }
            )
            record = _Problem(
                problem,
                (request.header("x-conversation-id") or "").strip(),
                ProblemScenario(scenario),
                delay,
            )
            self._records[problem_id] = record
        record.task = self._tasks.spawn(self._lifecycle(record), name=f"problem-{problem_id}")
        return Response.json(201, problem.to_dict())

    def _in_flight(self, data: dict[str, Any]) -> _Problem | _Refusal:
        problem_id = data.get("serviceProblemId")
        if not _is_id(problem_id):
            status = 400 if "serviceProblemId" not in data else 422
            return _Refusal(status, ["serviceProblemId must be a number >= 1"])
        with self._lock:
            record = self._records.get(cast("int", problem_id))
        if record is None:
            return _Refusal(422, [f"No service problem with id {problem_id}"])
        if record.problem.is_terminal:
            return _Refusal(
                422, [f"Service problem {problem_id} is {record.problem.status}: not in flight"]
            )
        return record

    def _amend(self, request: Request, data: dict[str, Any]) -> Response:
        found = self._in_flight(data)
        if isinstance(found, _Refusal):
            return _error(found.status, found.messages)
        problems: list[str] = []
        _text(data, "problemText", 10, 80, problems)
        for name in _TEXTS:
            _text(data, name, 1, 1000, problems)
        _check_characteristics(data.get("characteristics"), problems, required=False)
        _check_contact(data, "primaryContact", problems)
        _check_contact(data, "secondaryContact", problems)
        if "appointmentReservationId" in data and not _is_id(data["appointmentReservationId"]):
            problems.append("appointmentReservationId must be a number >= 1")
        scenario = _scenario(
            request.header("x-scenario"), AmendmentScenario, AmendmentScenario.ACCEPTED
        )
        if isinstance(scenario, _Refusal):
            problems.extend(scenario.messages)
        if problems:
            return _error(422, problems)
        amendment_id = next(self._request_ids)
        body = {"id": amendment_id, "status": "RECEIVED_BY_GATEWAY", **data}
        self._tasks.spawn(
            self._settle_amendment(
                found, dict(data), str(scenario) == AmendmentScenario.ACCEPTED.value
            ),
            name=f"amendment-{amendment_id}",
        )
        return Response.json(201, body)

    def _cancel(self, request: Request, data: dict[str, Any]) -> Response:
        found = self._in_flight(data)
        if isinstance(found, _Refusal):
            return _error(found.status, found.messages)
        problems: list[str] = []
        reason = data.get("reasonCode")
        if not isinstance(reason, str) or not _REASON.fullmatch(reason):
            problems.append("reasonCode must be a code such as NO_LONGER_REQUIRED ([A-Z_]{5,50})")
        _text(data, "text", 1, 1000, problems)
        scenario = _scenario(
            request.header("x-scenario"), CancellationScenario, CancellationScenario.ACCEPTED
        )
        if isinstance(scenario, _Refusal):
            problems.extend(scenario.messages)
        if problems:
            return _error(422, problems)
        cancellation_id = next(self._request_ids)
        body = {"id": cancellation_id, "status": "RECEIVED_BY_GATEWAY", **data}
        self._tasks.spawn(
            self._settle_cancellation(found, str(scenario) == CancellationScenario.ACCEPTED.value),
            name=f"cancellation-{cancellation_id}",
        )
        return Response.json(201, body)

    def _resolve(self, request: Request) -> Response:
        raw = request.path.rsplit("/", 1)[1]
        with self._lock:
            entry = self._resolutions.get(int(raw)) if _ID.fullmatch(raw) else None
        if entry is None:
            return _error(422, [f"No service problem resolution with id {raw}"])
        data = _json_object(request)
        if isinstance(data, _Refusal):
            return _error(data.status, data.messages)
        problem_id, resolution = entry
        status = data.get("status")
        problems: list[str] = []
        if status not in ("PENDING", "ACCEPTED", "REJECTED"):
            problems.append("status must be one of PENDING, ACCEPTED, REJECTED")
        _text(data, "tenantNotes", 1, 1000, problems)
        if resolution["status"] != "PENDING" and status != resolution["status"]:
            problems.append(f"Resolution {raw} is already {resolution['status']}")
        if problems:
            return _error(422, problems)
        if status == "PENDING" or status == resolution["status"]:
            return Response.json(200, resolution)
        with self._lock:
            resolution = {
                **resolution,
                "status": status,
                "closedDate": render_wire_datetime(self.clock()),
                **({"tenantNotes": data["tenantNotes"]} if "tenantNotes" in data else {}),
            }
            self._resolutions[int(raw)] = (problem_id, resolution)
            record = self._records.get(problem_id)
        if record is not None:
            record.inbox.put_nowait(("decision", status))
        return Response.json(200, resolution)

    # -- lifecycle ---------------------------------------------------------------------------

    def _emit(
        self,
        record: _Problem,
        *,
        update_type: UpdateType,
        status: ServiceProblemStatus | None = None,
        information: dict[str, str] | None = None,
        action: dict[str, str] | None = None,
        error: tuple[ErrorCode, str] | None = None,
        resolution: dict[str, Any] | None = None,
        changes: dict[str, Any] | None = None,
        from_supplier: bool = True,
    ) -> None:
        now = self.clock()
        with self._lock:
            if self._records.get(record.problem.id) is not record:
                return  # cleared by a reset
            wire = record.problem.to_dict() | (changes or {}) | {"updated": now}
            if status is not None:
                wire["status"] = status.value
            record.problem = ServiceProblem.model_validate(wire)
            record.sequence += 1
            event = ProblemKciEvent(
                id=str(uuid.uuid4()),
                test_id=record.problem.id,
                conversation_id=record.conversation_id,
                supplier=record.problem.supplier or "",
                sequence_number=record.sequence,
                update_type=update_type,
                entity=record.problem.to_dict(),
                issued_on=now if from_supplier else None,
                received_on=now if from_supplier else None,
                information=information,
                error=None
                if error is None
                else {"uuid": str(uuid.uuid4()), "code": error[0].value, "messages": [error[1]]},
                action=action,
                resolution=resolution,
            )
            record.updates.append(event.update())
        self._delivery.submit(event)

    def _info(self, kind: InformationType, text: str | None = None) -> dict[str, str]:
        info = {"type": kind.value}
        if text is not None:
            info["text"] = text
        return info

    async def _lifecycle(self, record: _Problem) -> None:
        delay, scenario = record.delay, record.scenario
        await asyncio.sleep(delay)
        if scenario is ProblemScenario.FAILED_TO_SEND:
            self._emit(
                record,
                update_type=UpdateType.ERROR,
                status=ServiceProblemStatus.FAILED_TO_SEND,
                error=(
                    ErrorCode.SUPPLIER_FAULT,
                    "The supplier API returned the following message: 503 Service unavailable",
                ),
                from_supplier=False,
            )
            return
        self._emit(
            record,
            update_type=UpdateType.INFORMATIONAL,
            status=ServiceProblemStatus.SENT_TO_SUPPLIER,
            information=self._info(InformationType.UPDATE),
            from_supplier=False,
        )
        await asyncio.sleep(delay)
        if scenario is ProblemScenario.REJECTED:
            self._emit(
                record,
                update_type=UpdateType.INFORMATIONAL,
                status=ServiceProblemStatus.REJECTED,
                information={
                    "type": InformationType.TERMINATED.value,
                    "code": ErrorCode.INVALID_REQUEST.value,
                    "text": "The supplier could not find a live service with this serviceId.",
                    "supplierCode": "SP09",
                },
            )
            return
        self._emit(
            record,
            update_type=UpdateType.INFORMATIONAL,
            status=ServiceProblemStatus.ACKNOWLEDGED,
            information=self._info(InformationType.ACKNOWLEDGED),
            changes={"supplierIdentifier": f"SBXP{record.problem.id:09d}"},
        )
        await asyncio.sleep(delay)
        self._emit(
            record,
            update_type=UpdateType.INFORMATIONAL,
            status=ServiceProblemStatus.IN_PROGRESS,
            information=self._info(InformationType.UPDATE, "Investigation started"),
        )
        if scenario is ProblemScenario.INFORMATION_REQUIRED:
            await asyncio.sleep(delay)
            self._emit(
                record,
                update_type=UpdateType.ACTION_REQUIRED,
                status=ServiceProblemStatus.PENDING,
                action={
                    "type": InformationType.INFORMATION_REQUIRED.value,
                    "code": "MISSING_ACCESS_DETAILS",
                    "text": "Please send on-site access details (notes) and an on-site contact.",
                    "supplierCode": "IR21",
                },
            )
            while (await record.inbox.get())[0] != "amended":
                pass  # a stray decision while no resolution is pending: nothing to do
        await self._resolve_until_closed(record)

    async def _resolve_until_closed(self, record: _Problem) -> None:
        delay = record.delay
        while True:
            await asyncio.sleep(delay)
            resolution = self._new_resolution(record)
            self._emit(
                record,
                update_type=UpdateType.ACTION_REQUIRED,
                status=ServiceProblemStatus.RESOLVED,
                action={
                    "type": InformationType.CONFIRM.value,
                    "code": "RESOLVED",
                    "text": "The supplier has resolved the problem: accept or reject it.",
                },
                resolution=resolution,
            )
            decision = await self._decision(record)
            if decision == "ACCEPTED":
                self._emit(
                    record,
                    update_type=UpdateType.INFORMATIONAL,
                    status=ServiceProblemStatus.COMPLETED,
                    information=self._info(InformationType.COMPLETED, "Resolution accepted"),
                )
                return
            if decision is None:  # the tenant never answered: auto-completion
                self._auto_accept(resolution["id"])
                self._emit(
                    record,
                    update_type=UpdateType.INFORMATIONAL,
                    status=ServiceProblemStatus.COMPLETED,
                    information=self._info(
                        InformationType.COMPLETED, "Completed: no response to the resolution"
                    ),
                )
                return
            await asyncio.sleep(delay)
            self._emit(
                record,
                update_type=UpdateType.INFORMATIONAL,
                status=ServiceProblemStatus.IN_PROGRESS,
                information=self._info(
                    InformationType.RESUMED, "Resolution rejected: investigation reopened"
                ),
            )

    async def _decision(self, record: _Problem) -> str | None:
        """The tenant's decision on the pending resolution; None after auto-completion."""
        if record.scenario is not ProblemScenario.AUTO_COMPLETE:
            while True:
                kind, value = await record.inbox.get()
                if kind == "decision":
                    return cast("str", value)
        for warned in (False, True):
            try:
                async with asyncio.timeout(record.delay):
                    while True:
                        kind, value = await record.inbox.get()
                        if kind == "decision":
                            return cast("str", value)
            except TimeoutError:
                if warned:
                    return None
                self._emit(
                    record,
                    update_type=UpdateType.INFORMATIONAL,
                    information=self._info(
                        InformationType.ADDITIONAL,
                        "No response to the resolution: the service problem will be closed "
                        "in 24 hrs",
                    ),
                )
        return None  # pragma: no cover - the loop returns

    def _new_resolution(self, record: _Problem) -> dict[str, Any]:
        with self._lock:
            resolution_id = next(self._request_ids)
            resolution = {
                "id": resolution_id,
                "serviceProblemId": record.problem.id,
                "status": "PENDING",
                "resolvedDate": render_wire_datetime(self.clock()),
                "resolutionDetails": dict(_RESOLUTION_DETAILS),
            }
            self._resolutions[resolution_id] = (record.problem.id, resolution)
            record.resolution_id = resolution_id
            return resolution

    def _auto_accept(self, resolution_id: int) -> None:
        with self._lock:
            entry = self._resolutions.get(resolution_id)
            if entry is not None and entry[1]["status"] == "PENDING":
                problem_id, resolution = entry
                closed = render_wire_datetime(self.clock())
                done = {**resolution, "status": "ACCEPTED", "closedDate": closed}
                self._resolutions[resolution_id] = (problem_id, done)

    async def _settle_amendment(
        self, record: _Problem, data: dict[str, Any], accepted: bool
    ) -> None:
        await asyncio.sleep(record.delay)
        if not accepted:
            self._emit(
                record,
                update_type=UpdateType.ACTION_REQUIRED,
                action={
                    "type": InformationType.RESUBMIT.value,
                    "code": "AMENDMENT_REJECTED",
                    "text": "The supplier rejected the amendment: correct it and resend.",
                },
            )
            return
        changes = {k: v for k, v in data.items() if k != "serviceProblemId"}
        was_pending = record.problem.status == ServiceProblemStatus.PENDING
        self._emit(
            record,
            update_type=UpdateType.INFORMATIONAL,
            status=ServiceProblemStatus.IN_PROGRESS if was_pending else None,
            information=self._info(InformationType.AMENDED, "Amendment accepted"),
            changes=changes,
        )
        record.inbox.put_nowait(("amended", None))

    async def _settle_cancellation(self, record: _Problem, accepted: bool) -> None:
        await asyncio.sleep(record.delay)
        if record.problem.is_terminal:
            return
        if not accepted:
            self._emit(
                record,
                update_type=UpdateType.ACTION_REQUIRED,
                action={
                    "type": InformationType.RESUBMIT.value,
                    "code": "CANCELLATION_REJECTED",
                    "text": "The supplier rejected the cancellation: the repair is under way.",
                },
            )
            return
        task = record.task
        if task is not None and not task.done():
            task.cancel()
        if record.resolution_id is not None:
            with self._lock:
                entry = self._resolutions.get(record.resolution_id)
                if entry is not None and entry[1]["status"] == "PENDING":
                    self._resolutions[record.resolution_id] = (
                        entry[0],
                        {**entry[1], "status": "REJECTED"},
                    )
        self._emit(
            record,
            update_type=UpdateType.INFORMATIONAL,
            status=ServiceProblemStatus.CANCELLED,
            information=self._info(InformationType.CANCELLED, "Cancellation accepted"),
        )
