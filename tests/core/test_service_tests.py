"""service_tests.create/get/wait: wire bodies, argument checks, results, polling."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import respx

from fibrecafe_client import (
    AsyncFibreCafe,
    Characteristic,
    NotFoundError,
    OutcomeResult,
    ProblemType,
    RequestValidationError,
    ServiceSpecification,
    ServiceTest,
    ServiceTestCharacteristics,
    ServiceTestStatus,
    ServiceTestWaitTimeout,
)

from .conftest import MakeClient
from .helpers import CREATE_ARGS, FakeClock, resolve, service_test_json

GET_PATH = "/service-tests/123"
COMPLETED_AMBER = service_test_json(
    status="COMPLETED",
    result={
        "testValidity": "2024-04-23T12:26:01.000Z",
        "testMeasures": [
            {
                "metricName": "ONT_LIGHT_LEVEL",
                "captureDateTime": "2024-04-23T10:40:00.000Z",
                "metricValue": "-14.5",
                "unitOfMeasure": "decibel",
                "ruleViolation": True,
                "ruleSeverity": "WARNING",
            }
        ],
        "testOutcome": {
            "testResult": "AMBER",
            "code": "NO_FAULT_FOUND",
            "description": "No fault found",
            "supplierCodes": ["D1234"],
            "supplierText": "Line looks fine",
        },
    },
)


async def test_create_sends_the_wire_body_and_returns_the_test(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    route = gateway.post("/service-tests").respond(
        201, json=service_test_json(status="RECEIVED_BY_GATEWAY")
    )
    test = await resolve(
        make_client().service_tests.create(
            service_id="BBEU00537760",
            problem_type=ProblemType.CPE,
            service_specification={"id": "FTTP", "name": "FTTP"},
            supplier="FIBRECO",
            characteristics=ServiceTestCharacteristics(
                service_has_worked=True,
                service_last_worked=datetime(
                    2024, 4, 20, 10, 45, tzinfo=timezone(timedelta(hours=1))
                ),
                equipment_type="ONT",
                extra={"SUPPLIER_THING": "x"},
            ),
            conversation_id="conv-create",
        )
    )
    assert json.loads(route.calls.last.request.content) == {
        "serviceId": "BBEU00537760",
        "problemType": "CPE",
        "serviceSpecification": {"id": "FTTP", "name": "FTTP"},
        "supplier": "FIBRECO",
        "characteristics": [
            {"name": "SERVICE_HAS_WORKED", "value": "true"},
            {"name": "SERVICE_LAST_WORKED", "value": "2024-04-20T09:45:00.000Z"},
            {"name": "EQUIPMENT_TYPE", "value": "ONT"},
            {"name": "SUPPLIER_THING", "value": "x"},
        ],
    }
    assert isinstance(test, ServiceTest)
    assert test.id == 123
    assert test.status is ServiceTestStatus.RECEIVED_BY_GATEWAY
    assert test.conversation_id == "conv-create"
    assert test.request_id == route.calls.last.request.headers["X-Request-ID"]
    assert test.http_response is not None
    assert test.http_response.status_code == 201


@pytest.mark.parametrize(
    "characteristics",
    [
        {"SERVICE_HAS_WORKED": "false"},
        [("SERVICE_HAS_WORKED", "false")],
        [{"name": "SERVICE_HAS_WORKED", "value": "false"}],
        [Characteristic(name="SERVICE_HAS_WORKED", value="false")],
        ServiceTestCharacteristics(service_has_worked=False),
    ],
    ids=["mapping", "pairs", "dicts", "models", "helper"],
)
@pytest.mark.parametrize(
    "spec", ["FTTP", ServiceSpecification(id="FTTP"), {"id": "FTTP"}], ids=["str", "model", "map"]
)
async def test_create_accepts_every_documented_input_form(
    make_client: MakeClient, gateway: respx.MockRouter, characteristics: Any, spec: Any
) -> None:
    route = gateway.post("/service-tests").respond(201, json=service_test_json())
    args = {**CREATE_ARGS, "characteristics": characteristics, "service_specification": spec}
    await resolve(make_client().service_tests.create(**args))
    body = json.loads(route.calls.last.request.content)
    assert body["characteristics"] == [{"name": "SERVICE_HAS_WORKED", "value": "false"}]
    assert body["serviceSpecification"] == {"id": "FTTP"}
    assert body["problemType"] == "OUTAGE"


NOT_WORKED = ServiceTestCharacteristics(service_has_worked=False)
BAD_CREATE: list[tuple[dict[str, Any], str]] = [
    ({"service_id": ""}, "service_id: String should have at least 1 character"),
    ({"service_id": "S" * 51}, "service_id: String should have at most 50 characters"),
    ({"service_id": 12345}, "service_id: Input should be a valid string"),
    ({"supplier": "FIBRE CO"}, "supplier: String should match pattern"),
    ({"problem_type": "not a type!"}, "problem_type: Value error, must be a problem type"),
    ({"problem_type": 7}, "problem_type: expected a ProblemType or str"),
    ({"service_specification": 7}, "service_specification: expected an id string"),
    ({"service_specification": " "}, "service_specification: must not be empty"),
    ({"service_specification": {"name": "x"}}, "service_specification.id: Field required"),
    ({"characteristics": {}}, "characteristics: List should have at least 1 item"),
    ({"characteristics": {"SERVICE_HAS_WORKED": True}}, "use ServiceTestCharacteristics"),
    ({"characteristics": "SERVICE_HAS_WORKED"}, "characteristics: characteristics must be"),
    ({"characteristics": [("a", "b", "c")]}, "characteristics: characteristics[0]: expected"),
    ({"problem_type": "CPE", "characteristics": NOT_WORKED},
     "characteristics: equipment_type is required when problem_type is CPE"),
    ({"conversation_id": "two words"}, "conversation_id: must be 1-200 printable"),
    ({"extra_headers": {"X-Conversation-ID": "c"}}, "pass conversation_id= instead"),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "message"), BAD_CREATE, ids=[m for _, m in BAD_CREATE])
async def test_bad_create_arguments_are_named_and_nothing_is_sent(
    make_client: MakeClient, gateway: respx.MockRouter, overrides: dict[str, Any], message: str
) -> None:
    route = gateway.post("/service-tests").respond(201, json=service_test_json())
    with pytest.raises(RequestValidationError) as info:
        await resolve(make_client().service_tests.create(**{**CREATE_ARGS, **overrides}))
    assert message in str(info.value)
    assert not route.called
    assert not gateway["token"].called


@pytest.mark.parametrize(
    "test_id", [0, -4, "abc", "12a", "", True, 1.5, None, "99999999999999999999"]
)
async def test_bad_test_ids_are_refused(
    make_client: MakeClient, gateway: respx.MockRouter, test_id: Any
) -> None:
    with pytest.raises(RequestValidationError, match="test_id"):
        await resolve(make_client().service_tests.get(test_id))
    assert not gateway["token"].called


async def test_get_parses_the_whole_result(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    route = gateway.get("/service-tests/987").respond(200, json={**COMPLETED_AMBER, "id": 987})
    test = await resolve(make_client().service_tests.get("987"))
    assert route.called
    assert test.id == 987
    assert test.is_terminal
    assert test.result is not None
    assert test.result.test_outcome is not None
    assert test.test_result is OutcomeResult.AMBER
    assert test.result.test_outcome.supplier_codes == ["D1234"]
    measure = test.result.test_measures[0]
    assert (measure.metric_name, measure.metric_value, measure.rule_violation) == (
        "ONT_LIGHT_LEVEL",
        "-14.5",
        True,
    )
    assert test.to_dict()["result"]["testOutcome"]["testResult"] == "AMBER"


def test_problem_raising_rules_on_results() -> None:
    amber = ServiceTest.model_validate(COMPLETED_AMBER)
    validity = datetime(2024, 4, 23, 12, 26, 1, tzinfo=UTC)
    assert amber.may_raise_problem(now=validity - timedelta(minutes=1))
    assert not amber.may_raise_problem(now=validity + timedelta(seconds=1))
    for verdict, allowed in [("GREEN", False), ("FAILED", False), ("RED", True), ("NEW", False)]:
        body = json.loads(json.dumps(COMPLETED_AMBER))
        body["result"]["testOutcome"]["testResult"] = verdict
        test = ServiceTest.model_validate(body)
        assert test.may_raise_problem(now=validity - timedelta(hours=1)) is allowed
    for status, terminal in [
        ("RECEIVED_BY_GATEWAY", False),
        ("SENT_TO_SUPPLIER", False),
        ("IN_PROGRESS", False),
        ("FAILED_TO_SEND", True),
        ("REJECTED", True),
        ("FAILED", True),
        ("COMPLETED", True),
        ("SOMETHING_NEW", False),
    ]:
        assert ServiceTest.model_validate(service_test_json(status=status)).is_terminal is terminal


def _statuses(*statuses: str) -> list[httpx.Response]:
    return [httpx.Response(200, json=service_test_json(status=s)) for s in statuses]


async def test_wait_polls_with_backoff_until_terminal(
    make_client: MakeClient, gateway: respx.MockRouter, clock: FakeClock
) -> None:
    route = gateway.get(GET_PATH).mock(
        side_effect=_statuses("RECEIVED_BY_GATEWAY", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED")
    )
    seen: list[str] = []
    final = await resolve(
        make_client().service_tests.wait(
            123,
            poll_interval=2.0,
            max_poll_interval=4.0,
            on_update=lambda t: seen.append(str(t.status)),
            conversation_id="conv-wait",
        )
    )
    assert final.status is ServiceTestStatus.COMPLETED
    assert seen == ["RECEIVED_BY_GATEWAY", "IN_PROGRESS", "COMPLETED"]  # changes only
    assert clock.sleeps == [2.0, 3.0, 4.0]
    assert {c.request.headers["X-Conversation-ID"] for c in route.calls} == {"conv-wait"}


@pytest.mark.parametrize("kind", ["async"])
async def test_wait_awaits_an_async_on_update(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    gateway.get(GET_PATH).mock(side_effect=_statuses("IN_PROGRESS", "REJECTED"))
    seen: list[int] = []

    async def on_update(test: ServiceTest) -> None:
        seen.append(test.id)

    client = make_client()
    assert isinstance(client, AsyncFibreCafe)
    final = await client.service_tests.wait(123, on_update=on_update)
    assert final.status is ServiceTestStatus.REJECTED
    assert seen == [123, 123]


async def test_wait_times_out_with_the_last_test(
    make_client: MakeClient, gateway: respx.MockRouter, clock: FakeClock
) -> None:
    route = gateway.get(GET_PATH).respond(200, json=service_test_json(status="IN_PROGRESS"))
    with pytest.raises(ServiceTestWaitTimeout) as info:
        await resolve(
            make_client().service_tests.wait(123, timeout=10, poll_interval=2, max_poll_interval=4)
        )
    assert clock.sleeps == [2.0, 3.0, 4.0, 1.0]  # the last sleep ends at the deadline
    assert route.call_count == 5
    err = info.value
    assert err.test_id == 123
    assert isinstance(err.last, ServiceTest)
    assert err.last.status is ServiceTestStatus.IN_PROGRESS
    assert "IN_PROGRESS" in str(err)
    assert isinstance(err, TimeoutError)


async def test_wait_is_bounded_even_if_the_clock_never_moves(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    route = gateway.get(GET_PATH).respond(200, json=service_test_json(status="IN_PROGRESS"))
    client = make_client(clock=lambda: 0.0)  # the fake sleeps no longer move this clock
    with pytest.raises(ServiceTestWaitTimeout):
        await resolve(client.service_tests.wait(123, timeout=10, poll_interval=2))
    assert route.call_count == 7  # timeout / poll_interval + 2, then it gives up


async def test_wait_gets_follow_the_retry_policy(
    make_client: MakeClient, gateway: respx.MockRouter, clock: FakeClock
) -> None:
    route = gateway.get(GET_PATH).mock(
        side_effect=[httpx.Response(503), *_statuses("IN_PROGRESS"), httpx.Response(502),
                     *_statuses("COMPLETED")]
    )  # fmt: skip
    final = await resolve(make_client().service_tests.wait(123, poll_interval=5))
    assert final.status is ServiceTestStatus.COMPLETED
    assert route.call_count == 4
    assert 5.0 in clock.sleeps  # the poll interval, besides the short retry backoffs


async def test_wait_raises_errors_that_are_not_retried(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    gateway.get(GET_PATH).respond(404, json={"uuid": "u", "code": "NOT_FOUND", "messages": []})
    with pytest.raises(NotFoundError):
        await resolve(make_client().service_tests.wait(123))


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"timeout": 0}, "timeout"),
        ({"poll_interval": -1}, "poll_interval"),
        ({"poll_interval": 5, "max_poll_interval": 2}, "max_poll_interval"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": "10"}, "timeout"),
    ],
)
async def test_wait_arguments_are_checked(
    make_client: MakeClient, gateway: respx.MockRouter, options: dict[str, Any], argument: str
) -> None:
    with pytest.raises(RequestValidationError, match=f"^{argument}:"):
        await resolve(make_client().service_tests.wait(123, **options))
    assert not gateway["token"].called
