"""service_problems: wire bodies and headers, argument checks, every status, no resent POST/PATCH,
wait, and the path from a service test to a problem. Sync and async through the same tests."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from fibrecafe_client import (
    APITimeoutError,
    AsyncFibreCafe,
    BadRequestError,
    CancellationReasonCode,
    Contact,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    ProblemType,
    RequestValidationError,
    ResolutionStatus,
    ResponseValidationError,
    ServiceProblem,
    ServiceProblemAmendment,
    ServiceProblemCancellation,
    ServiceProblemCharacteristics,
    ServiceProblemRequestStatus,
    ServiceProblemResolution,
    ServiceProblemStatus,
    ServiceProblemWaitTimeout,
    ServiceProblemWarning,
    ServiceTest,
    ServiceUnavailableError,
    UnprocessableEntityError,
)

from .conftest import MakeClient
from .helpers import FakeClock, resolve, service_test_json

# -- the reference's samples (service-problems.md §2) -------------------------------------------

CONTACT = {"name": "John Smith", "email": "john@smith.com", "phoneNumber": "01234 567890"}
#: The old Redoc request sample of POST /service-problems, every field.
CREATE_SAMPLE: dict[str, Any] = {
    "externalIdentifier": "DS-2345432345345",
    "problemType": "PERFORMANCE",
    "problemText": "The service keeps dropping between 6pm and 9pm every evening.",
    "serviceId": "SI2345432345345",
    "serviceSpecification": {"id": "ftthl2r"},
    "address": {
        "id": "A00000031882",
        "type": "NAD",
        "additionalIdentifiers": [{"id": "A00000031882", "type": "NAD"}],
    },
    "supplier": "DUMMY_SUPPLIER",
    "serviceTestId": 123,
    "characteristics": [{"name": "string", "value": "string"}],
    "primaryContact": CONTACT,
    "secondaryContact": CONTACT,
    "appointmentReservationId": 345,
    "parentServiceProblemId": 2443435345,
    "hazards": "Hazardous materials stored on site",
    "onSiteRestrictions": "Restricted access",
    "notes": "Lorem ipsum dolor sit amet...",
}
CREATE_KWARGS: dict[str, Any] = {
    "external_identifier": "DS-2345432345345",
    "problem_type": ProblemType.PERFORMANCE,
    "problem_text": "The service keeps dropping between 6pm and 9pm every evening.",
    "service_id": "SI2345432345345",
    "service_specification": "ftthl2r",
    "address": {
        "id": "A00000031882",
        "type": "NAD",
        "additionalIdentifiers": [{"id": "A00000031882", "type": "NAD"}],
    },
    "supplier": "DUMMY_SUPPLIER",
    "service_test_id": 123,
    "characteristics": [("string", "string")],
    "primary_contact": Contact(
        name="John Smith", email="john@smith.com", phone_number="01234 567890"
    ),
    "secondary_contact": CONTACT,
    "appointment_reservation_id": 345,
    "parent_service_problem_id": 2443435345,
    "hazards": "Hazardous materials stored on site",
    "on_site_restrictions": "Restricted access",
    "notes": "Lorem ipsum dolor sit amet...",
}
MINIMAL_KWARGS: dict[str, Any] = {
    "service_test_id": 98765,
    "problem_type": "OUTAGE",
    "problem_text": "Service is completely down.",
    "service_id": "BBEU12345678",
    "supplier": "FIBRECO",
    "characteristics": {"SERVICE_HAS_WORKED": "false"},
    "primary_contact": {"name": "Jane Bloggs", "email": "jane@bloggs.com"},
}
RESOLUTION_SAMPLE: dict[str, Any] = {
    "id": 123,
    "serviceProblemId": 123,
    "status": "REJECTED",
    "resolvedDate": "2022-01-10T09:00:00.000Z",
    "closedDate": "2022-01-10T09:00:00.000Z",
    "resolutionDetails": {
        "resolutionCode": "NETWORK_ISSUE",
        "resolutionCategory": "FAULTY_EQUIPMENT",
        "resolutionText": "string",
        "supplierCodes": ["R9"],
        "faultCode": ["DAMAGED_ONT"],
    },
    "slaViolation": ["EXCEEDED_SLA_TIME_TO_REPAIR"],
    "tenantNotes": "The problem was not resolved",
}
#: The GET sample: one update showing information, action, error and the resolution at once.
GET_SAMPLE: dict[str, Any] = {
    "id": 123,
    "status": "ACKNOWLEDGED",
    "created": "2022-01-01T09:09:33.001Z",
    "updated": "2022-01-01T09:45:39.001Z",
    "supplierIdentifier": "A123X",
    "updates": [
        {
            "id": "3456cf7d-4471-42e4-a5be-c24ed58a7aa6",
            "supplier": "SUPPLIER1",
            "sequenceNumber": 1,
            "issuedOn": "2022-01-10T09:00:00.000Z",
            "receivedOn": "2022-01-10T09:00:00.000Z",
            "deliveredOn": "2022-01-10T09:00:00.000Z",
            "deliveryStatus": "PENDING",
            "updateType": "ACTION_REQUIRED",
            "supplierNotes": [
                {
                    "note": "Lorem ipsum dolor sit amet...",
                    "type": "Engineer Note",
                    "created": "2022-01-01T09:09:33.001Z",
                }
            ],
            "information": {
                "type": "CREATED",
                "code": "NETWORK_ISSUE",
                "text": "Resolving network issue",
                "supplierCode": "313",
            },
            "action": {
                "type": "INFORMATION_REQUIRED",
                "code": "NETWORK_ISSUE",
                "text": "Fault between Node and Toby.",
                "supplierCode": "313",
            },
            "error": {
                "uuid": "87432dfb-0000-4000-8000-000000000000",
                "code": "GATEWAY_FAULT",
                "messages": ["e.g. Invalid value for field x - accepted values are y"],
            },
            "serviceProblemResolution": RESOLUTION_SAMPLE,
        }
    ],
}
AMEND_SAMPLE: dict[str, Any] = {
    "serviceProblemId": 123,
    "problemText": "The service keeps dropping between 6pm and 9pm every evening.",
    "characteristics": [{"name": "string", "value": "string"}],
    "hazards": "Hazardous materials stored on site",
    "onSiteRestrictions": "Restricted access",
    "notes": "Lorem ipsum dolor sit amet...",
    "primaryContact": CONTACT,
    "secondaryContact": CONTACT,
    "appointmentReservationId": 345,
}
CANCEL_SAMPLE = {
    "serviceProblemId": 123,
    "reasonCode": "CUSTOMER_NETWORK_ISSUE",
    "text": "Issue appears to have rectified itself.",
}


def problem_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": 555,
        "status": "RECEIVED_BY_GATEWAY",
        "problemType": "OUTAGE",
        "problemText": "Service is completely down.",
        "serviceId": "BBEU12345678",
        "supplier": "FIBRECO",
        "serviceTestId": 98765,
    }
    body.update(overrides)
    return body


def _body(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


# -- create ---------------------------------------------------------------------------------


async def test_create_sends_the_documented_sample_body(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    route = gateway.post("/service-problems").respond(201, json=problem_json(id=123))
    problem = await resolve(
        make_client().service_problems.create(**CREATE_KWARGS, conversation_id="conv-sp")
    )
    assert _body(route) == CREATE_SAMPLE
    assert list(_body(route)) == list(CREATE_SAMPLE)  # the sample's field order too
    request = route.calls.last.request
    assert request.headers["X-Conversation-ID"] == "conv-sp"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"].startswith("Bearer ")
    assert len(request.headers["X-Request-ID"]) == 36
    assert isinstance(problem, ServiceProblem)
    assert problem.id == 123
    assert problem.status is ServiceProblemStatus.RECEIVED_BY_GATEWAY
    assert problem.conversation_id == "conv-sp"
    assert problem.request_id == request.headers["X-Request-ID"]
    assert problem.http_response is not None


async def test_create_leaves_out_what_was_not_given_and_accepts_cpe(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    route = gateway.post("/service-problems").respond(201, json=problem_json())
    await resolve(
        make_client().service_problems.create(**{**MINIMAL_KWARGS, "problem_type": "CPE"})
    )
    assert _body(route) == {
        "problemType": "CPE",  # 3 characters: the documented ^[\w_]{5,50} is not enforced
        "problemText": "Service is completely down.",
        "serviceId": "BBEU12345678",
        "supplier": "FIBRECO",
        "serviceTestId": 98765,
        "characteristics": [{"name": "SERVICE_HAS_WORKED", "value": "false"}],
        "primaryContact": {"name": "Jane Bloggs", "email": "jane@bloggs.com"},
    }


@pytest.mark.parametrize(
    ("change", "argument"),
    [
        ({"problem_text": "too short"}, "problem_text"),
        ({"problem_text": "x" * 81}, "problem_text"),
        ({"supplier": "NOT A SUPPLIER"}, "supplier"),
        ({"service_id": ""}, "service_id"),
        ({"service_test_id": 0}, "service_test_id"),
        ({"service_test_id": "12a"}, "service_test_id"),
        ({"service_test_id": True}, "service_test_id"),
        ({"problem_type": "NOT-A-WORD"}, "problem_type"),
        ({"problem_type": 3}, "problem_type"),
        ({"characteristics": []}, "characteristics"),
        ({"characteristics": {"SERVICE_HAS_WORKED": True}}, "characteristics"),
        ({"primary_contact": None}, "primary_contact"),
        ({"primary_contact": "Jane"}, "primary_contact"),
        ({"external_identifier": "x" * 65}, "external_identifier"),
        ({"hazards": ""}, "hazards"),
        ({"notes": "n" * 1001}, "notes"),
        ({"appointment_reservation_id": -1}, "appointment_reservation_id"),
        ({"service_specification": ""}, "service_specification"),
        ({"address": "somewhere"}, "address"),
        ({"conversation_id": "has space"}, "conversation_id"),
    ],
)
async def test_create_checks_arguments_before_sending(
    make_client: MakeClient, gateway: respx.MockRouter, change: dict[str, Any], argument: str
) -> None:
    route = gateway.post("/service-problems").respond(201, json=problem_json())
    with pytest.raises(RequestValidationError, match=f"^{argument}"):
        await resolve(make_client().service_problems.create(**{**MINIMAL_KWARGS, **change}))
    assert not route.called
    assert not gateway["token"].called


# -- get ------------------------------------------------------------------------------------


async def test_get_parses_the_documented_sample(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    route = gateway.get("/service-problems/123").respond(200, json=GET_SAMPLE)
    problem = await resolve(make_client().service_problems.get("123", conversation_id="c-1"))
    assert route.calls.last.request.headers["X-Conversation-ID"] == "c-1"
    assert problem.status is ServiceProblemStatus.ACKNOWLEDGED
    assert problem.supplier_identifier == "A123X"
    update = problem.updates[0]
    assert update.delivery_status == "PENDING"
    assert update.action is not None
    assert update.action.type == "INFORMATION_REQUIRED"
    assert update.supplier_notes[0].type == "Engineer Note"
    assert update.error is not None
    assert update.error.code == "GATEWAY_FAULT"
    resolution = update.service_problem_resolution
    assert resolution is not None
    assert resolution.status is ResolutionStatus.REJECTED
    assert resolution.resolution_details is not None
    assert resolution.resolution_details.fault_code == ["DAMAGED_ONT"]
    assert resolution.sla_violation == ["EXCEEDED_SLA_TIME_TO_REPAIR"]
    assert problem.pending_resolution is None  # that one is REJECTED, not PENDING
    assert problem.pending_action is not None
    assert ServiceProblem.model_validate(problem.to_dict()) == problem  # round-trips


async def test_get_retries_a_read_timeout_and_maps_404(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    route = gateway.get("/service-problems/7").mock(
        side_effect=[httpx.ReadTimeout("read"), httpx.Response(200, json=problem_json(id=7))]
    )
    assert (await resolve(make_client().service_problems.get(7))).id == 7
    assert route.call_count == 2
    gateway.get("/service-problems/8").respond(
        404, json={"uuid": "u-404", "code": "NOT_FOUND", "messages": ["no such problem"]}
    )
    with pytest.raises(NotFoundError) as info:
        await resolve(make_client().service_problems.get(8))
    assert info.value.uuid == "u-404"


@pytest.mark.parametrize("bad", [0, -3, "x", "", True, 1.5, None])
async def test_get_refuses_a_bad_id(
    make_client: MakeClient, gateway: respx.MockRouter, bad: object
) -> None:
    with pytest.raises(RequestValidationError, match=r"^problem_id"):
        await resolve(make_client().service_problems.get(bad))  # type: ignore[arg-type]
    assert not gateway["token"].called


# -- amend and cancel -----------------------------------------------------------------------


async def test_amend_sends_the_documented_sample_body(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    answer = {**AMEND_SAMPLE, "id": 9001, "status": "RECEIVED_BY_GATEWAY"}
    route = gateway.post("/service-problem-amendments").respond(201, json=answer)
    amendment = await resolve(
        make_client().service_problems.amend(
            123,
            problem_text=AMEND_SAMPLE["problemText"],
            characteristics=[{"name": "string", "value": "string"}],
            hazards="Hazardous materials stored on site",
            on_site_restrictions="Restricted access",
            notes="Lorem ipsum dolor sit amet...",
            primary_contact=CONTACT,
            secondary_contact=CONTACT,
            appointment_reservation_id="345",
        )
    )
    assert _body(route) == AMEND_SAMPLE
    assert isinstance(amendment, ServiceProblemAmendment)
    assert amendment.id == 9001
    assert amendment.service_problem_id == 123
    assert amendment.status is ServiceProblemRequestStatus.RECEIVED_BY_GATEWAY
    assert amendment.request_id == route.calls.last.request.headers["X-Request-ID"]


async def test_amend_needs_something_to_change(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    with pytest.raises(RequestValidationError, match="at least one field"):
        await resolve(make_client().service_problems.amend(123))
    with pytest.raises(RequestValidationError, match=r"^problem_text"):
        await resolve(make_client().service_problems.amend(123, problem_text="short"))
    assert not gateway["token"].called


async def test_cancel_sends_the_documented_body_and_parses_the_201(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    route = gateway.post("/service-problem-cancellations").respond(
        201, json={"id": 77, "status": "REJECTED", **CANCEL_SAMPLE}
    )
    cancellation = await resolve(
        make_client().service_problems.cancel(
            123,
            reason_code=CancellationReasonCode.CUSTOMER_NETWORK_ISSUE,
            text="Issue appears to have rectified itself.",
        )
    )
    assert _body(route) == CANCEL_SAMPLE
    assert isinstance(cancellation, ServiceProblemCancellation)
    assert cancellation.id == 77
    assert cancellation.status is ServiceProblemRequestStatus.REJECTED
    assert cancellation.reason_code is CancellationReasonCode.CUSTOMER_NETWORK_ISSUE


async def test_cancel_passes_an_unknown_reason_and_checks_its_shape(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    route = gateway.post("/service-problem-cancellations").respond(
        201, json={"id": 78, "status": "PENDING", "serviceProblemId": 5, "reasonCode": "NEW_ONE"}
    )
    await resolve(make_client().service_problems.cancel(5, reason_code="NEW_ONE"))
    assert _body(route) == {"serviceProblemId": 5, "reasonCode": "NEW_ONE"}
    for bad in ("lower_case", "ABC", 4):
        with pytest.raises(RequestValidationError, match=r"^reason_code"):
            await resolve(make_client().service_problems.cancel(5, reason_code=bad))  # type: ignore[arg-type]
    assert route.call_count == 1


# -- resolutions ----------------------------------------------------------------------------


def _pending_problem() -> ServiceProblem:
    return ServiceProblem.model_validate(
        problem_json(
            id=555,
            status="RESOLVED",
            updates=[
                {"id": "k1", "sequenceNumber": 1, "updateType": "INFORMATIONAL"},
                {
                    "id": "k2",
                    "sequenceNumber": 2,
                    "updateType": "ACTION_REQUIRED",
                    "action": {"type": "CONFIRM", "text": "Please confirm the repair"},
                    "serviceProblemResolution": {
                        "id": 4242,
                        "serviceProblemId": 555,
                        "status": "PENDING",
                        "resolvedDate": "2024-05-01T10:00:00.000Z",
                        "resolutionDetails": {"resolutionCode": "CUSTOMER_FAULT_MODEM"},
                    },
                },
            ],
        )
    )


async def test_accept_resolution_patches_the_resolution_not_the_problem(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    problem = _pending_problem()
    assert problem.needs_tenant_action
    assert problem.resolution_id == 4242
    route = gateway.patch("/service-problem-resolutions/4242").respond(
        200, json={**RESOLUTION_SAMPLE, "id": 4242, "status": "ACCEPTED", "tenantNotes": None}
    )
    resolution = await resolve(make_client().service_problems.accept_resolution(problem))
    assert _body(route) == {"status": "ACCEPTED"}
    assert route.calls.last.request.method == "PATCH"
    assert isinstance(resolution, ServiceProblemResolution)
    assert resolution.status is ResolutionStatus.ACCEPTED
    await resolve(make_client().service_problems.accept_resolution(4242, "Thanks"))
    assert _body(route) == {"status": "ACCEPTED", "tenantNotes": "Thanks"}


async def test_reject_resolution_sends_the_notes_and_requires_them(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    route = gateway.patch("/service-problem-resolutions/123").respond(200, json=RESOLUTION_SAMPLE)
    resolution = await resolve(
        make_client().service_problems.reject_resolution("123", notes="Issue still persists")
    )
    assert _body(route) == {"status": "REJECTED", "tenantNotes": "Issue still persists"}
    assert resolution.tenant_notes == "The problem was not resolved"
    for notes in ("", "   ", "n" * 1001, None):
        with pytest.raises(RequestValidationError, match=r"^notes"):
            await resolve(
                make_client().service_problems.reject_resolution(123, notes=notes)  # type: ignore[arg-type]
            )
    assert route.call_count == 1


async def test_a_problem_without_a_pending_resolution_is_refused(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    problem = ServiceProblem.model_validate(problem_json(status="IN_PROGRESS"))
    with pytest.raises(RequestValidationError, match=r"^resolution_id: .*no pending resolution"):
        await resolve(make_client().service_problems.accept_resolution(problem))
    assert not gateway["token"].called


# -- statuses and retries -------------------------------------------------------------------

ERROR_BODY = {"uuid": "err-uuid-1", "code": "INVALID_REQUEST", "messages": ["bad thing"]}
STATUSES = [
    (400, BadRequestError),
    (403, PermissionDeniedError),
    (404, NotFoundError),
    (422, UnprocessableEntityError),
    (500, InternalServerError),
    (503, ServiceUnavailableError),
]
CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("create", "/service-problems", MINIMAL_KWARGS),
    ("amend", "/service-problem-amendments", {"problem_id": 1, "notes": "more info"}),
    ("cancel", "/service-problem-cancellations", {"problem_id": 1, "reason_code": "OTHER"}),
    ("accept_resolution", "/service-problem-resolutions/9", {"resolution_id": 9}),
]


def _invoke(client: Any, name: str, kwargs: dict[str, Any]) -> Any:
    method = getattr(client.service_problems, name)
    kwargs = dict(kwargs)
    positional = [kwargs.pop(k) for k in ("problem_id", "resolution_id") if k in kwargs]
    return method(*positional, **kwargs)


@pytest.mark.parametrize(("status", "error"), STATUSES)
@pytest.mark.parametrize("case", CALLS, ids=[c[0] for c in CALLS])
async def test_every_status_maps_to_its_error_without_a_resend(
    make_client: MakeClient,
    gateway: respx.MockRouter,
    status: int,
    error: type[Exception],
    case: tuple[str, str, dict[str, Any]],
) -> None:
    name, path, kwargs = case
    method = "patch" if "resolutions" in path else "post"
    body = None if status == 503 else ERROR_BODY
    route = getattr(gateway, method)(path).respond(status, json=body)
    with pytest.raises(error) as info:
        await resolve(_invoke(make_client(), name, kwargs))
    assert route.call_count == 1  # neither a POST nor a PATCH is resent, 5xx included
    err: Any = info.value
    assert err.status_code == status
    assert err.outcome_unknown is (status >= 500)
    if body is not None:
        assert err.uuid == "err-uuid-1"


NOUNS = {
    "create": "the service problem may exist",
    "amend": "the amendment may have been made",
    "cancel": "the cancellation may have been requested",
    "accept_resolution": "the resolution may already be accepted or rejected",
}


@pytest.mark.parametrize(("name", "path", "kwargs"), CALLS, ids=[c[0] for c in CALLS])
async def test_a_read_timeout_is_never_resent_and_names_what_may_exist(
    make_client: MakeClient, gateway: respx.MockRouter, name: str, path: str, kwargs: dict[str, Any]
) -> None:
    method = "patch" if "resolutions" in path else "post"
    route = getattr(gateway, method)(path).mock(side_effect=httpx.ReadTimeout("read"))
    with pytest.raises(APITimeoutError) as info:
        await resolve(_invoke(make_client(), name, {**kwargs, "conversation_id": "conv-rt"}))
    assert route.call_count == 1
    err = info.value
    assert err.outcome_unknown
    assert NOUNS[name] in str(err)
    assert "service test" not in str(err)
    assert "conv-rt" in str(err)


@pytest.mark.parametrize(("name", "path", "kwargs"), CALLS, ids=[c[0] for c in CALLS])
async def test_a_connect_error_is_resent_because_nothing_arrived(
    make_client: MakeClient, gateway: respx.MockRouter, name: str, path: str, kwargs: dict[str, Any]
) -> None:
    method = "patch" if "resolutions" in path else "post"
    answers: dict[str, dict[str, Any]] = {
        "create": problem_json(),
        "amend": {"id": 2, "status": "RECEIVED_BY_GATEWAY"},
        "cancel": {"id": 3, "status": "RECEIVED_BY_GATEWAY"},
        "accept_resolution": {"id": 9, "status": "ACCEPTED"},
    }
    route = getattr(gateway, method)(path).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=answers[name])]
    )
    await resolve(_invoke(make_client(), name, kwargs))
    assert route.call_count == 2


async def test_a_processed_post_with_a_bad_body_is_not_resent(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    route = gateway.post("/service-problems").respond(201, json={"status": "RECEIVED_BY_GATEWAY"})
    with pytest.raises(ResponseValidationError) as info:
        await resolve(make_client().service_problems.create(**MINIMAL_KWARGS))
    assert route.call_count == 1
    assert info.value.outcome_unknown


# -- wait -----------------------------------------------------------------------------------


def _responses(*statuses: str) -> list[httpx.Response]:
    return [httpx.Response(200, json=problem_json(status=s)) for s in statuses]


async def test_wait_stops_at_a_tenant_action_state(
    make_client: MakeClient, gateway: respx.MockRouter, clock: FakeClock
) -> None:
    route = gateway.get("/service-problems/555").mock(
        side_effect=_responses("SENT_TO_SUPPLIER", "ACKNOWLEDGED", "IN_PROGRESS", "RESOLVED")
    )
    seen: list[str] = []
    final = await resolve(
        make_client().service_problems.wait(
            555,
            poll_interval=2,
            max_poll_interval=4,
            on_update=lambda p: seen.append(str(p.status)),
            conversation_id="conv-w",
        )
    )
    assert final.status is ServiceProblemStatus.RESOLVED
    assert seen == ["SENT_TO_SUPPLIER", "ACKNOWLEDGED", "IN_PROGRESS", "RESOLVED"]
    assert clock.sleeps == [2.0, 3.0, 4.0]
    assert {c.request.headers["X-Conversation-ID"] for c in route.calls} == {"conv-w"}


async def test_wait_until_a_custom_condition(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    gateway.get("/service-problems/555").mock(
        side_effect=_responses("PENDING", "IN_PROGRESS", "COMPLETED")
    )
    final = await resolve(
        make_client().service_problems.wait(555, until=lambda p: p.is_terminal, poll_interval=1)
    )
    assert final.status is ServiceProblemStatus.COMPLETED


@pytest.mark.parametrize("kind", ["async"])
async def test_wait_awaits_an_async_on_update(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    gateway.get("/service-problems/555").mock(side_effect=_responses("HELD", "CANCELLED"))
    seen: list[int] = []

    async def on_update(problem: ServiceProblem) -> None:
        seen.append(problem.id)

    client = make_client()
    assert isinstance(client, AsyncFibreCafe)
    await client.service_problems.wait(555, on_update=on_update, poll_interval=1)
    assert seen == [555, 555]


async def test_wait_times_out_with_the_last_problem(
    make_client: MakeClient, gateway: respx.MockRouter, clock: FakeClock
) -> None:
    gateway.get("/service-problems/555").respond(200, json=problem_json(status="IN_PROGRESS"))
    with pytest.raises(ServiceProblemWaitTimeout) as info:
        await resolve(
            make_client().service_problems.wait(
                555, timeout=10, poll_interval=2, max_poll_interval=4
            )
        )
    assert clock.sleeps == [2.0, 3.0, 4.0, 1.0]
    err = info.value
    assert err.problem_id == 555
    assert isinstance(err.last, ServiceProblem)
    assert "IN_PROGRESS" in str(err)
    assert isinstance(err, TimeoutError)


# -- models ---------------------------------------------------------------------------------

STATUS_TABLE = [
    ("RECEIVED_BY_GATEWAY", False, False),
    ("SENT_TO_SUPPLIER", False, False),
    ("FAILED_TO_SEND", True, False),
    ("REJECTED", True, False),
    ("ACKNOWLEDGED", False, False),
    ("IN_PROGRESS", False, False),
    ("PENDING", False, True),
    ("HELD", False, False),
    ("NETWORK_INCIDENT", False, False),
    ("PENDING_AMENDMENT", False, False),
    ("PENDING_CANCELLATION", False, False),
    ("CANCELLED", True, False),
    ("RESOLVED", False, True),
    ("COMPLETED", True, False),
    ("SOMETHING_NEW", False, False),
]


@pytest.mark.parametrize(("status", "terminal", "action"), STATUS_TABLE)
def test_status_semantics(status: str, terminal: bool, action: bool) -> None:
    problem = ServiceProblem.model_validate(problem_json(status=status))
    assert problem.is_terminal is terminal
    assert problem.needs_tenant_action is action
    assert isinstance(problem.status, ServiceProblemStatus) is (status != "SOMETHING_NEW")


def test_only_id_and_status_are_required_and_ids_are_unbounded() -> None:
    huge = 10**30
    raw = f'{{"id": {huge}, "status": "WHATEVER", "parentServiceProblemId": {huge}, "new": [1]}}'
    problem = ServiceProblem.model_validate_json(raw)
    assert problem.id == huge
    assert problem.parent_service_problem_id == huge
    assert problem.status == "WHATEVER"
    assert problem.model_extra == {"new": [1]}
    assert json.loads(problem.to_json()) == json.loads(raw)


def test_characteristics_builder_reproduces_the_published_twelve() -> None:
    built = ServiceProblemCharacteristics(
        end_user_equipment_checked=True,
        end_user_cpe="Zyxel 3213",
        cpe_power_on=True,
        usage_changes=False,
        product_changes=False,
        access_24hr=False,
        trc_chargeband=2,
        repeat_problem=False,
        ont_power_on=False,
        cpe_sync_light_status="Flashing",
        service_has_worked=True,
        service_last_worked=datetime(2024, 4, 30, 13, tzinfo=UTC) - timedelta(hours=1),
    )
    assert list(built.to_mapping().items()) == [
        ("END_USER_EQUIPMENT_CHECKED", "true"),
        ("END_USER_CPE", "Zyxel 3213"),
        ("CPE_POWER_ON", "true"),
        ("USAGE_CHANGES", "false"),
        ("PRODUCT_CHANGES", "false"),
        ("24HR_ACCESS", "false"),
        ("TRC_CHARGEBAND", "2"),
        ("REPEAT_PROBLEM", "false"),
        ("ONT_POWER_ON", "false"),
        ("CPE_SYNC_LIGHT_STATUS", "Flashing"),
        ("SERVICE_HAS_WORKED", "true"),
        ("SERVICE_LAST_WORKED", "2024-04-30T12:00:00.000Z"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"service_has_worked": True}, ValueError),
        ({"service_has_worked": False, "service_last_worked": datetime(2024, 1, 1, tzinfo=UTC)},
         ValueError),
        ({"service_has_worked": True, "service_last_worked": datetime(2024, 1, 1)}, ValueError),
        ({"service_has_worked": "yes"}, TypeError),
        ({"service_has_worked": False, "cpe_power_on": "true"}, TypeError),
        ({"service_has_worked": False, "end_user_cpe": " "}, ValueError),
        ({"service_has_worked": False, "extra": {"SERVICE_HAS_WORKED": "true"}}, ValueError),
    ],
)  # fmt: skip
def test_characteristics_builder_rules(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        ServiceProblemCharacteristics(**kwargs)


# -- from a test to a problem ---------------------------------------------------------------

NOW = datetime(2024, 4, 23, 11, 0, tzinfo=UTC)


def _test(result: str, **overrides: Any) -> ServiceTest:
    body = service_test_json(
        status="COMPLETED",
        result={
            "testValidity": "2024-04-23T12:26:01.000Z",
            "testOutcome": {"testResult": result, "code": "STALE_PPP_SESSION"},
        },
        **overrides,
    )
    return ServiceTest.model_validate(body)


async def test_problem_request_fills_the_test_fields_and_create_from_sends_it(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    route = gateway.post("/service-problems").respond(201, json=problem_json())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        request = _test("RED").problem_request(
            problem_text="Service is completely down.",
            characteristics=ServiceProblemCharacteristics(service_has_worked=False),
            primary_contact=Contact(name="Jane Bloggs"),
            external_identifier="DS-1234567890",
            now=NOW,
        )
    problem = await resolve(make_client().service_problems.create_from(request))
    assert problem.status is ServiceProblemStatus.RECEIVED_BY_GATEWAY
    assert _body(route) == {
        "externalIdentifier": "DS-1234567890",
        "problemType": "OUTAGE",
        "problemText": "Service is completely down.",
        "serviceId": "BBEU00537760",
        "serviceSpecification": {"id": "FTTP"},
        "supplier": "FIBRECO",
        "serviceTestId": 123,
        "characteristics": [{"name": "SERVICE_HAS_WORKED", "value": "false"}],
        "primaryContact": {"name": "Jane Bloggs"},
    }


@pytest.mark.parametrize(
    ("test", "now", "words"),
    [
        (_test("GREEN"), NOW, "GREEN"),
        (_test("FAILED"), NOW, "FAILED"),
        (_test("RED"), NOW + timedelta(hours=2), "window"),
        (ServiceTest.model_validate(service_test_json(status="IN_PROGRESS")), NOW, "COMPLETED"),
    ],
)
def test_problem_request_warns_but_does_not_block(
    test: ServiceTest, now: datetime, words: str
) -> None:
    with pytest.warns(ServiceProblemWarning, match=words):
        request = test.problem_request(
            problem_text="Service is completely down.",
            characteristics={"SERVICE_HAS_WORKED": "false"},
            primary_contact={"name": "Jane"},
            problem_type="CPE",
            now=now,
        )
    assert request.service_test_id == 123
    assert request.problem_type is ProblemType.CPE
