"""``client.service_problems``: raise, follow, amend, cancel and resolve service problems.

As in :mod:`~fibrecafe_client.resources.service_tests`, every method validates its arguments
into a :class:`~fibrecafe_client._pipeline.Call` with pure functions shared by the sync and
async flavours (a bad argument raises :class:`RequestValidationError` naming it and nothing is
sent), and ``wait`` shares its polling decisions (:class:`_ProblemWaitLoop`).

Retries: the three POSTs and the PATCH are not idempotent (the gateway has no idempotency key),
so none is resent once it may have reached the gateway. An unanswered one raises with
``outcome_unknown=True`` and the call's ``conversation_id``; see ``docs/service-problems.md``
for reconciling with it and with ``external_identifier``.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Literal

import httpx
from pydantic import ValidationError

from fibrecafe_client._pipeline import AsyncPipeline, Call, SyncPipeline, new_id
from fibrecafe_client.errors import RequestValidationError, ServiceProblemWaitTimeout
from fibrecafe_client.models import (
    AddressIdentifier,
    CancellationReasonCode,
    Characteristic,
    Contact,
    ProblemCharacteristicsInput,
    ProblemType,
    ServiceProblem,
    ServiceProblemAmendment,
    ServiceProblemAmendmentRequest,
    ServiceProblemCancellation,
    ServiceProblemCancellationRequest,
    ServiceProblemRequest,
    ServiceProblemResolution,
    ServiceSpecification,
    normalise_problem_characteristics,
)
from fibrecafe_client.models._service_problems import positive_id, resolution_id_of

from ._arguments import POLL_BACKOFF, call_options, invalid, positive_seconds, specification

__all__ = ["AsyncServiceProblems", "ServiceProblems"]

PROBLEMS_PATH: Final = "/service-problems"
AMENDMENTS_PATH: Final = "/service-problem-amendments"
CANCELLATIONS_PATH: Final = "/service-problem-cancellations"
RESOLUTIONS_PATH: Final = "/service-problem-resolutions"
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")

#: A problem id, a resolution id: an int or a string of digits.
Id = int | str


def _argument(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc]
    if not parts:
        return "request"
    head = _CAMEL.sub("_", parts[0]).lower()
    return head + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts[1:])


def _first_error(exc: ValidationError) -> RequestValidationError:
    error = exc.errors(include_url=False, include_input=False)[0]
    return invalid(_argument(tuple(error["loc"])), error["msg"])


def _id(name: str, value: object) -> int:
    try:
        return positive_id(name, value)
    except ValueError as exc:
        raise invalid(name, str(exc).removeprefix(f"{name} ")) from None


def _contact(name: str, value: object) -> Contact | None:
    if value is None or isinstance(value, Contact):
        return value
    if isinstance(value, Mapping):
        try:
            return Contact.model_validate(value)
        except ValidationError as exc:
            raise invalid(name, str(exc.errors()[0]["msg"])) from None
    raise invalid(name, f"expected a Contact or a mapping, not {type(value).__name__}")


def _address(value: object) -> AddressIdentifier | None:
    if value is None or isinstance(value, AddressIdentifier):
        return value
    if isinstance(value, Mapping):
        try:
            return AddressIdentifier.model_validate(value)
        except ValidationError as exc:
            raise _first_error(exc) from None
    kind = type(value).__name__
    raise invalid("address", f"expected an AddressIdentifier or a mapping, not {kind}")


def _characteristics(value: object) -> list[Characteristic]:
    try:
        return normalise_problem_characteristics(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise invalid("characteristics", str(exc)) from None


def _call(
    method: str, path: str, body: bytes | None, options: tuple[object, object, object]
) -> Call:
    """A Call from ``(conversation_id, extra_headers, timeout)``, each checked."""
    cid, headers, per_call = call_options(*options)
    return Call(
        method, path, conversation_id=cid, body=body, extra_headers=headers, timeout=per_call
    )


def build_request(
    *,
    service_test_id: object,
    problem_type: object,
    problem_text: object,
    service_id: object,
    supplier: object,
    characteristics: object,
    primary_contact: object,
    service_specification: object = None,
    secondary_contact: object = None,
    address: object = None,
    appointment_reservation_id: object = None,
    parent_service_problem_id: object = None,
    external_identifier: object = None,
    hazards: object = None,
    on_site_restrictions: object = None,
    notes: object = None,
) -> ServiceProblemRequest:
    """The validated ``POST /service-problems`` body (pure; raises RequestValidationError)."""
    if not isinstance(problem_type, str):
        kind = type(problem_type).__name__
        raise invalid("problem_type", f"expected a ProblemType or str, not {kind}")
    if primary_contact is None:
        raise invalid("primary_contact", "is required (a contact available at the address)")
    fields: dict[str, Any] = {
        "service_test_id": _id("service_test_id", service_test_id),
        "problem_type": ProblemType(problem_type)
        if problem_type in ProblemType.__members__
        else problem_type,
        "problem_text": problem_text,
        "service_id": service_id,
        "supplier": supplier,
        "characteristics": _characteristics(characteristics),
        "primary_contact": _contact("primary_contact", primary_contact),
        "secondary_contact": _contact("secondary_contact", secondary_contact),
        "address": _address(address),
        "external_identifier": external_identifier,
        "hazards": hazards,
        "on_site_restrictions": on_site_restrictions,
        "notes": notes,
    }
    if service_specification is not None:
        fields["service_specification"] = specification(service_specification)
    for name, value in (
        ("appointment_reservation_id", appointment_reservation_id),
        ("parent_service_problem_id", parent_service_problem_id),
    ):
        if value is not None:
            fields[name] = _id(name, value)
    try:
        return ServiceProblemRequest.model_validate(
            {k: v for k, v in fields.items() if v is not None}
        )
    except ValidationError as exc:
        raise _first_error(exc) from None


def create_call(
    request: object,
    *,
    conversation_id: object = None,
    extra_headers: object = None,
    timeout: object = None,
) -> Call:
    """The ``POST /service-problems`` call for a validated request (pure)."""
    if not isinstance(request, ServiceProblemRequest):
        raise invalid("request", f"expected a ServiceProblemRequest, not {type(request).__name__}")
    return _call(
        "POST", PROBLEMS_PATH, request.to_body(), (conversation_id, extra_headers, timeout)
    )


def get_call(
    problem_id: object,
    *,
    conversation_id: object = None,
    extra_headers: object = None,
    timeout: object = None,
) -> Call:
    """The validated ``GET /service-problems/{id}`` call (pure)."""
    number = _id("problem_id", problem_id)
    return _call(
        "GET", f"{PROBLEMS_PATH}/{number}", None, (conversation_id, extra_headers, timeout)
    )


def amend_call(
    problem_id: object,
    *,
    problem_text: object = None,
    characteristics: object = None,
    hazards: object = None,
    on_site_restrictions: object = None,
    notes: object = None,
    primary_contact: object = None,
    secondary_contact: object = None,
    appointment_reservation_id: object = None,
    conversation_id: object = None,
    extra_headers: object = None,
    timeout: object = None,
) -> Call:
    """The validated ``POST /service-problem-amendments`` call (pure)."""
    fields: dict[str, Any] = {
        "service_problem_id": _id("problem_id", problem_id),
        "problem_text": problem_text,
        "hazards": hazards,
        "on_site_restrictions": on_site_restrictions,
        "notes": notes,
        "primary_contact": _contact("primary_contact", primary_contact),
        "secondary_contact": _contact("secondary_contact", secondary_contact),
    }
    if characteristics is not None:
        fields["characteristics"] = _characteristics(characteristics)
    if appointment_reservation_id is not None:
        fields["appointment_reservation_id"] = _id(
            "appointment_reservation_id", appointment_reservation_id
        )
    given = {k: v for k, v in fields.items() if v is not None}
    if len(given) == 1:
        raise invalid("amend", "give at least one field to change")
    try:
        body = ServiceProblemAmendmentRequest.model_validate(given)
    except ValidationError as exc:
        raise _first_error(exc) from None
    return _call("POST", AMENDMENTS_PATH, body.to_body(), (conversation_id, extra_headers, timeout))


def cancel_call(
    problem_id: object,
    *,
    reason_code: object,
    text: object = None,
    conversation_id: object = None,
    extra_headers: object = None,
    timeout: object = None,
) -> Call:
    """The validated ``POST /service-problem-cancellations`` call (pure)."""
    if not isinstance(reason_code, str):
        raise invalid(
            "reason_code",
            f"expected a CancellationReasonCode or str, not {type(reason_code).__name__}",
        )
    known = reason_code in CancellationReasonCode.__members__
    fields: dict[str, Any] = {
        "service_problem_id": _id("problem_id", problem_id),
        "reason_code": CancellationReasonCode(reason_code) if known else reason_code,
    }
    if text is not None:
        fields["text"] = text
    try:
        body = ServiceProblemCancellationRequest.model_validate(fields)
    except ValidationError as exc:
        raise _first_error(exc) from None
    return _call(
        "POST", CANCELLATIONS_PATH, body.to_body(), (conversation_id, extra_headers, timeout)
    )


def resolution_call(
    resolution: object,
    *,
    decision: Literal["ACCEPTED", "REJECTED"],
    notes: object,
    conversation_id: object = None,
    extra_headers: object = None,
    timeout: object = None,
) -> Call:
    """The validated ``PATCH /service-problem-resolutions/{id}`` call (pure)."""
    try:
        number = resolution_id_of(resolution)
    except ValueError as exc:
        raise invalid("resolution_id", str(exc).removeprefix("resolution_id ")) from None
    body: dict[str, str] = {"status": decision}
    if notes is not None:
        if not isinstance(notes, str):
            raise invalid("notes", f"must be a string, not {type(notes).__name__}")
        if not notes.strip() or len(notes) > 1000:
            raise invalid("notes", "must be 1-1000 characters, not blank")
        body["tenantNotes"] = notes
    elif decision == "REJECTED":
        raise invalid("notes", "a rejection needs the reason (tenantNotes), for the supplier")
    return _call(
        "PATCH",
        f"{RESOLUTIONS_PATH}/{number}",
        json.dumps(body, separators=(",", ":")).encode(),
        (conversation_id, extra_headers, timeout),
    )


def settled(problem: ServiceProblem) -> bool:
    """The default condition of ``wait``: terminal, or waiting on the tenant."""
    return problem.is_terminal or problem.needs_tenant_action


class _ProblemWaitLoop:
    """The decisions of ``wait()``: when to poll next, when to give up, what changed."""

    def __init__(
        self,
        problem_id: int,
        *,
        timeout: object,
        poll_interval: object,
        max_poll_interval: object,
        clock: Callable[[], float],
    ) -> None:
        self.timeout = positive_seconds("timeout", timeout)
        self._interval = positive_seconds("poll_interval", poll_interval)
        self._max_interval = positive_seconds("max_poll_interval", max_poll_interval)
        if self._max_interval < self._interval:
            raise invalid("max_poll_interval", "must be >= poll_interval")
        self.problem_id = problem_id
        self._clock = clock
        self._deadline = clock() + self.timeout
        self._polls_left = math.ceil(self.timeout / self._interval) + 2
        self.last: ServiceProblem | None = None

    def observe(self, problem: ServiceProblem) -> bool:
        """Record a poll; True when the status or the number of updates changed."""
        last = self.last
        changed = (
            last is None
            or last.status != problem.status
            or len(last.updates) != len(problem.updates)
        )
        self.last = problem
        self._polls_left -= 1
        return changed

    def next_sleep(self) -> float | None:
        """Seconds before the next poll, or None when the deadline has passed."""
        remaining = self._deadline - self._clock()
        if remaining <= 0 or self._polls_left <= 0:
            return None
        delay = min(self._interval, remaining)
        self._interval = min(self._interval * POLL_BACKOFF, self._max_interval)
        return delay

    def timed_out(self) -> ServiceProblemWaitTimeout:
        status = "none" if self.last is None else str(self.last.status)
        return ServiceProblemWaitTimeout(
            f"service problem {self.problem_id} did not settle within {self.timeout:g}s "
            f"(last status: {status})",
            problem_id=self.problem_id,
            last=self.last,
        )


Headers = Mapping[str, str] | None
Timeout = float | httpx.Timeout | None


class ServiceProblems:
    """Service problems on the gateway: ``client.service_problems`` of :class:`FibreCafe`."""

    def __init__(self, pipeline: SyncPipeline) -> None:
        self._pipeline = pipeline

    def create(
        self,
        *,
        service_test_id: Id,
        problem_type: ProblemType | str,
        problem_text: str,
        service_id: str,
        supplier: str,
        characteristics: ProblemCharacteristicsInput,
        primary_contact: Contact | Mapping[str, str],
        service_specification: str | ServiceSpecification | Mapping[str, str] | None = None,
        secondary_contact: Contact | Mapping[str, str] | None = None,
        address: AddressIdentifier | Mapping[str, Any] | None = None,
        appointment_reservation_id: Id | None = None,
        parent_service_problem_id: Id | None = None,
        external_identifier: str | None = None,
        hazards: str | None = None,
        on_site_restrictions: str | None = None,
        notes: str | None = None,
        conversation_id: str | None = None,
        extra_headers: Headers = None,
        timeout: Timeout = None,
    ) -> ServiceProblem:
        """Raise a service problem with the supplier (``POST /service-problems``).

        Never resent once it may have reached the gateway: if the outcome is unknown the error
        has ``outcome_unknown=True``; reconcile before raising it again (the problem's KCIs
        carry your ``conversation_id``, and its entity your ``external_identifier``).
        :meth:`ServiceTest.problem_request <fibrecafe_client.ServiceTest.problem_request>` with
        :meth:`create_from` fills the test's fields for you.

        Args:
            service_test_id: the test run on the service before raising (AMBER, RED or
                UNAVAILABLE, within two hours; the gateway decides, the SDK does not block).
            problem_type: a :class:`~fibrecafe_client.ProblemType` or any word (``CPE`` too:
                the documented 5-character minimum is a doc bug and is not enforced).
            problem_text: the end user's description, 10-80 characters.
            service_id: the live service (1-50 characters).
            supplier: the supplier's gateway id, such as ``"FIBRECO"``.
            characteristics: a :class:`~fibrecafe_client.ServiceProblemCharacteristics`
                (checked against the documented rules) or a hand-built set.
            primary_contact: a :class:`~fibrecafe_client.Contact` or ``{"name", "email",
                "phoneNumber"}``.
            service_specification: the service's product id (``"FTTP"``), object or mapping.
            secondary_contact: another contact.
            address: an :class:`~fibrecafe_client.AddressIdentifier` or mapping.
            appointment_reservation_id: a REPAIR appointment reserved beforehand.
            parent_service_problem_id: an earlier problem this one follows (undocumented use).
            external_identifier: your own reference, 1-64 characters (not de-duplicated by
                the gateway as far as the docs say, but it makes reconciling possible).
            hazards: hazards at the site (1-1000 characters).
            on_site_restrictions: access restrictions (1-1000 characters).
            notes: notes for the supplier (1-1000 characters).
            conversation_id: your ``X-Conversation-ID``; a UUID when None.
            extra_headers: more headers for this call, e.g. CVT's ``X-Scenario``.
            timeout: this call's timeout per attempt.

        Returns:
            The new problem (usually ``RECEIVED_BY_GATEWAY``).

        Raises:
            RequestValidationError: an argument is invalid; nothing was sent.
            APIStatusError: the gateway refused it (``UnprocessableEntityError`` 422...).
            APIConnectionError: no answer; ``outcome_unknown`` says if it may exist.
        """
        request = build_request(
            service_test_id=service_test_id,
            problem_type=problem_type,
            problem_text=problem_text,
            service_id=service_id,
            supplier=supplier,
            characteristics=characteristics,
            primary_contact=primary_contact,
            service_specification=service_specification,
            secondary_contact=secondary_contact,
            address=address,
            appointment_reservation_id=appointment_reservation_id,
            parent_service_problem_id=parent_service_problem_id,
            external_identifier=external_identifier,
            hazards=hazards,
            on_site_restrictions=on_site_restrictions,
            notes=notes,
        )
        return self.create_from(
            request, conversation_id=conversation_id, extra_headers=extra_headers, timeout=timeout
        )

    def create_from(
        self,
        request: ServiceProblemRequest,
        *,
        conversation_id: str | None = None,
        extra_headers: Headers = None,
        timeout: Timeout = None,
    ) -> ServiceProblem:
        """Raise a problem from a prepared :class:`~fibrecafe_client.ServiceProblemRequest`
        (e.g. ``test.problem_request(...)``). Same result and errors as :meth:`create`."""
        call = create_call(
            request, conversation_id=conversation_id, extra_headers=extra_headers, timeout=timeout
        )
        return self._pipeline.request(call, ServiceProblem)

    def get(
        self,
        problem_id: Id,
        *,
        conversation_id: str | None = None,
        extra_headers: Headers = None,
        timeout: Timeout = None,
    ) -> ServiceProblem:
        """The current state of a problem with its ``updates`` (``GET /service-problems/{id}``).

        Retried like any GET. Raises :class:`NotFoundError` for an unknown id.
        """
        call = get_call(
            problem_id,
            conversation_id=conversation_id,
            extra_headers=extra_headers,
            timeout=timeout,
        )
        return self._pipeline.request(call, ServiceProblem)

    def amend(
        self,
        problem_id: Id,
        *,
        problem_text: str | None = None,
        characteristics: ProblemCharacteristicsInput | None = None,
        hazards: str | None = None,
        on_site_restrictions: str | None = None,
        notes: str | None = None,
        primary_contact: Contact | Mapping[str, str] | None = None,
        secondary_contact: Contact | Mapping[str, str] | None = None,
        appointment_reservation_id: Id | None = None,
        conversation_id: str | None = None,
        extra_headers: Headers = None,
        timeout: Timeout = None,
    ) -> ServiceProblemAmendment:
        """Ask to amend an in-flight problem (``POST /service-problem-amendments``).

        The answer to an INFORMATION_REQUIRED action (put the information in ``notes`` or the
        field it concerns) or a REAPPOINT (``appointment_reservation_id``). At least one field
        is needed. The supplier confirms or rejects it later by KCI (a rejection is a RESUBMIT
        action). Whether ``characteristics`` replaces or merges is undocumented: send the full
        set. Which states allow an amendment is undocumented, so none is refused here. Never
        resent once it may have reached the gateway.

        Returns:
            The amendment request's record (its own ``id`` and ``status``).
        """
        call = amend_call(
            problem_id,
            problem_text=problem_text,
            characteristics=characteristics,
            hazards=hazards,
            on_site_restrictions=on_site_restrictions,
            notes=notes,
            primary_contact=primary_contact,
            secondary_contact=secondary_contact,
            appointment_reservation_id=appointment_reservation_id,
            conversation_id=conversation_id,
            extra_headers=extra_headers,
            timeout=timeout,
        )
        return self._pipeline.request(call, ServiceProblemAmendment)

    def cancel(
        self,
        problem_id: Id,
        *,
        reason_code: CancellationReasonCode | str,
        text: str | None = None,
        conversation_id: str | None = None,
        extra_headers: Headers = None,
        timeout: Timeout = None,
    ) -> ServiceProblemCancellation:
        """Ask to cancel an in-flight problem (``POST /service-problem-cancellations``).

        ``reason_code`` is a :class:`~fibrecafe_client.CancellationReasonCode` or another
        ``[A-Z_]{5,50}`` word; ``text`` (1-1000 characters) gives context. The supplier accepts
        (the problem becomes CANCELLED) or rejects (a RESUBMIT action) by KCI. Never resent once
        it may have reached the gateway.
        """
        call = cancel_call(
            problem_id,
            reason_code=reason_code,
            text=text,
            conversation_id=conversation_id,
            extra_headers=extra_headers,
            timeout=timeout,
        )
        return self._pipeline.request(call, ServiceProblemCancellation)

    def accept_resolution(
        self,
        resolution_id: Id | object,
        notes: str | None = None,
        *,
        conversation_id: str | None = None,
        extra_headers: Headers = None,
        timeout: Timeout = None,
    ) -> ServiceProblemResolution:
        """Accept the supplier's repair (``PATCH /service-problem-resolutions/{id}``,
        ``status: ACCEPTED``): the problem becomes COMPLETED and cannot be reopened.

        Args:
            resolution_id: the **resolution's** id (not the problem's): an int, a string of
                digits, or a CONFIRM :class:`~fibrecafe_client.ServiceProblemKci`, a
                :class:`~fibrecafe_client.ServiceProblem` or a resolution that carries it.
            notes: optional ``tenantNotes`` (1-1000 characters).

        Never resent once it may have reached the gateway.
        """
        call = resolution_call(
            resolution_id,
            decision="ACCEPTED",
            notes=notes,
            conversation_id=conversation_id,
            extra_headers=extra_headers,
            timeout=timeout,
        )
        return self._pipeline.request(call, ServiceProblemResolution)

    def reject_resolution(
        self,
        resolution_id: Id | object,
        *,
        notes: str,
        conversation_id: str | None = None,
        extra_headers: Headers = None,
        timeout: Timeout = None,
    ) -> ServiceProblemResolution:
        """Reject the supplier's repair (``status: REJECTED``): the problem goes back to
        IN_PROGRESS. ``notes`` (the reason, 1-1000 characters) is required: the supplier API
        says a rejection should give one. ``resolution_id`` as for :meth:`accept_resolution`.
        """
        call = resolution_call(
            resolution_id,
            decision="REJECTED",
            notes=notes,
            conversation_id=conversation_id,
            extra_headers=extra_headers,
            timeout=timeout,
        )
        return self._pipeline.request(call, ServiceProblemResolution)

    def wait(
        self,
        problem_id: Id,
        *,
        timeout: float = 3600,
        poll_interval: float = 5.0,
        max_poll_interval: float = 60.0,
        until: Callable[[ServiceProblem], bool] = settled,
        on_update: Callable[[ServiceProblem], None] | None = None,
        conversation_id: str | None = None,
        extra_headers: Headers = None,
    ) -> ServiceProblem:
        """Poll until the problem is terminal or needs the tenant, and return it.

        By default returns on a terminal status (COMPLETED, CANCELLED, REJECTED,
        FAILED_TO_SEND) or a tenant-action one (PENDING, RESOLVED); pass ``until`` for another
        condition (e.g. ``lambda p: p.is_terminal``). Polls at once, then after
        ``poll_interval`` seconds growing 1.5x up to ``max_poll_interval``. ``on_update`` is
        called on the first poll and whenever the status or the number of updates changes.

        Raises:
            ServiceProblemWaitTimeout: ``timeout`` passed first; ``.last`` is the last state.
            APIError: a poll failed after its retries.
        """
        number = _id("problem_id", problem_id)
        cid = conversation_id if conversation_id is not None else new_id()
        loop = _ProblemWaitLoop(
            number,
            timeout=timeout,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            clock=self._pipeline.clock,
        )
        while True:
            problem = self.get(number, conversation_id=cid, extra_headers=extra_headers)
            if loop.observe(problem) and on_update is not None:
                on_update(problem)
            if until(problem):
                return problem
            delay = loop.next_sleep()
            if delay is None:
                raise loop.timed_out()
            self._pipeline.sleep(delay)


class AsyncServiceProblems:
    """Service problems on the gateway: ``client.service_problems`` of :class:`AsyncFibreCafe`.

    The same methods as :class:`ServiceProblems`, as coroutines.
    """

    def __init__(self, pipeline: AsyncPipeline) -> None:
        self._pipeline = pipeline

    async def create(
        self,
        *,
        service_test_id: Id,
        problem_type: ProblemType | str,
        problem_text: str,
        service_id: str,
        supplier: str,
        characteristics: ProblemCharacteristicsInput,
        primary_contact: Contact | Mapping[str, str],
        service_specification: str | ServiceSpecification | Mapping[str, str] | None = None,
        secondary_contact: Contact | Mapping[str, str] | None = None,
        address: AddressIdentifier | Mapping[str, Any] | None = None,
        appointment_reservation_id: Id | None = None,
        parent_service_problem_id: Id | None = None,
        external_identifier: str | None = None,
        hazards: str | None = None,
        on_site_restrictions: str | None = None,
        notes: str | None = None,
        conversation_id: str | None = None,
        extra_headers: Headers = None,
        timeout: Timeout = None,  # noqa: ASYNC109 - the API contract
    ) -> ServiceProblem:
        """Raise a service problem: the async :meth:`ServiceProblems.create`."""
        request = build_request(
            service_test_id=service_test_id,
            problem_type=problem_type,
            problem_text=problem_text,
            service_id=service_id,
            supplier=supplier,
            characteristics=characteristics,
            primary_contact=primary_contact,
            service_specification=service_specification,
            secondary_contact=secondary_contact,
            address=address,
            appointment_reservation_id=appointment_reservation_id,
            parent_service_problem_id=parent_service_problem_id,
            external_identifier=external_identifier,
            hazards=hazards,
            on_site_restrictions=on_site_restrictions,
            notes=notes,
        )
        return await self.create_from(
            request, conversation_id=conversation_id, extra_headers=extra_headers, timeout=timeout
        )

    async def create_from(
        self,
        request: ServiceProblemRequest,
        *,
        conversation_id: str | None = None,
        extra_headers: Headers = None,
        timeout: Timeout = None,  # noqa: ASYNC109 - the API contract
    ) -> ServiceProblem:
        """Raise a prepared problem: the async :meth:`ServiceProblems.create_from`."""
        call = create_call(
            request, conversation_id=conversation_id, extra_headers=extra_headers, timeout=timeout
        )
        return await self._pipeline.request(call, ServiceProblem)

    async def get(
        self,
        problem_id: Id,
        *,
        conversation_id: str | None = None,
        extra_headers: Headers = None,
        timeout: Timeout = None,  # noqa: ASYNC109 - the API contract
    ) -> ServiceProblem:
        """The current state of a problem: the async :meth:`ServiceProblems.get`."""
        call = get_call(
            problem_id,
            conversation_id=conversation_id,
            extra_headers=extra_headers,
            timeout=timeout,
        )
        return await self._pipeline.request(call, ServiceProblem)

    async def amend(
        self,
        problem_id: Id,
        *,
        problem_text: str | None = None,
        characteristics: ProblemCharacteristicsInput | None = None,
        hazards: str | None = None,
        on_site_restrictions: str | None = None,
        notes: str | None = None,
        primary_contact: Contact | Mapping[str, str] | None = None,
        secondary_contact: Contact | Mapping[str, str] | None = None,
        appointment_reservation_id: Id | None = None,
        conversation_id: str | None = None,
        extra_headers: Headers = None,
        timeout: Timeout = None,  # noqa: ASYNC109 - the API contract
    ) -> ServiceProblemAmendment:
        """Ask to amend a problem: the async :meth:`ServiceProblems.amend`."""
        call = amend_call(
            problem_id,
            problem_text=problem_text,
            characteristics=characteristics,
            hazards=hazards,
            on_site_restrictions=on_site_restrictions,
            notes=notes,
            primary_contact=primary_contact,
            secondary_contact=secondary_contact,
            appointment_reservation_id=appointment_reservation_id,
            conversation_id=conversation_id,
            extra_headers=extra_headers,
            timeout=timeout,
        )
        return await self._pipeline.request(call, ServiceProblemAmendment)

    async def cancel(
        self,
        problem_id: Id,
        *,
        reason_code: CancellationReasonCode | str,
        text: str | None = None,
        conversation_id: str | None = None,
        extra_headers: Headers = None,
        timeout: Timeout = None,  # noqa: ASYNC109 - the API contract
    ) -> ServiceProblemCancellation:
        """Ask to cancel a problem: the async :meth:`ServiceProblems.cancel`."""
        call = cancel_call(
            problem_id,
            reason_code=reason_code,
            text=text,
            conversation_id=conversation_id,
            extra_headers=extra_headers,
            timeout=timeout,
        )
        return await self._pipeline.request(call, ServiceProblemCancellation)

    async def accept_resolution(
        self,
        resolution_id: Id | object,
        notes: str | None = None,
        *,
        conversation_id: str | None = None,
        extra_headers: Headers = None,
        timeout: Timeout = None,  # noqa: ASYNC109 - the API contract
    ) -> ServiceProblemResolution:
        """Accept the repair: the async :meth:`ServiceProblems.accept_resolution`."""
        call = resolution_call(
            resolution_id,
            decision="ACCEPTED",
            notes=notes,
            conversation_id=conversation_id,
            extra_headers=extra_headers,
            timeout=timeout,
        )
        return await self._pipeline.request(call, ServiceProblemResolution)

    async def reject_resolution(
        self,
        resolution_id: Id | object,
        *,
        notes: str,
        conversation_id: str | None = None,
        extra_headers: Headers = None,
        timeout: Timeout = None,  # noqa: ASYNC109 - the API contract
    ) -> ServiceProblemResolution:
        """Reject the repair: the async :meth:`ServiceProblems.reject_resolution`."""
        call = resolution_call(
            resolution_id,
            decision="REJECTED",
            notes=notes,
            conversation_id=conversation_id,
            extra_headers=extra_headers,
            timeout=timeout,
        )
        return await self._pipeline.request(call, ServiceProblemResolution)

    async def wait(
        self,
        problem_id: Id,
        *,
        timeout: float = 3600,  # noqa: ASYNC109 - the API contract
        poll_interval: float = 5.0,
        max_poll_interval: float = 60.0,
        until: Callable[[ServiceProblem], bool] = settled,
        on_update: Callable[[ServiceProblem], Awaitable[None] | None] | None = None,
        conversation_id: str | None = None,
        extra_headers: Headers = None,
    ) -> ServiceProblem:
        """Async :meth:`ServiceProblems.wait`; ``on_update`` may be a plain or async function."""
        number = _id("problem_id", problem_id)
        cid = conversation_id if conversation_id is not None else new_id()
        loop = _ProblemWaitLoop(
            number,
            timeout=timeout,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            clock=self._pipeline.clock,
        )
        while True:
            problem = await self.get(number, conversation_id=cid, extra_headers=extra_headers)
            if loop.observe(problem) and on_update is not None:
                result = on_update(problem)
                if inspect.isawaitable(result):
                    await result
            if until(problem):
                return problem
            delay = loop.next_sleep()
            if delay is None:
                raise loop.timed_out()
            await self._pipeline.sleep(delay)
