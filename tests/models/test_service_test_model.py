"""The ServiceTest model: wire names, open enums, kept extras and the raise-a-problem rules."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from fibrecafe_client.models import (
    Characteristic,
    OutcomeResult,
    ProblemType,
    ServiceSpecification,
    ServiceTest,
    ServiceTestCharacteristics,
    ServiceTestRequest,
    ServiceTestStatus,
    UnknownValue,
    normalise_characteristics,
    render_wire_datetime,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "kcis"


def entity(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"service-test-{name}.json").read_text())
    return dict(data["entity"])


def test_completed_entity_parses_every_documented_field() -> None:
    test = ServiceTest.model_validate(entity("completed"))
    assert test.id == 123
    assert test.status is ServiceTestStatus.COMPLETED
    assert test.problem_type is ProblemType.OUTAGE
    assert test.service_specification.id == "FTTP"
    assert test.supplier_reference == "BBEU1234567824/04/2024 10:45:46GBEXJ"
    assert [c.name for c in test.characteristics] == ["SERVICE_HAS_WORKED", "SERVICE_LAST_WORKED"]
    assert test.result is not None
    assert test.result.test_validity == datetime(2024, 4, 23, 12, 45, 24, tzinfo=UTC)
    assert test.result.test_outcome is not None
    assert test.result.test_outcome.test_result is OutcomeResult.RED
    assert test.result.test_outcome.code == "NETWORK_NODE_ISSUE"
    assert test.result.test_outcome.supplier_codes == ["ND510"]
    assert test.test_result is OutcomeResult.RED
    assert test.is_terminal


def test_unknown_enum_values_and_fields_are_kept_and_written_back() -> None:
    raw = entity("in-progress") | {"status": "PAUSED_BY_SUPPLIER", "problemType": "NEW_KIND"}
    raw["brandNewField"] = {"nested": [1, 2]}
    test = ServiceTest.model_validate_json(json.dumps(raw))
    assert test.status == "PAUSED_BY_SUPPLIER"
    assert not isinstance(test.status, ServiceTestStatus)
    assert test.problem_type == "NEW_KIND"
    assert test.model_extra == {"brandNewField": {"nested": [1, 2]}}
    assert not test.is_terminal  # unknown status never ends a wait early
    assert test.to_dict() == raw


def test_an_unknown_value_is_an_unknown_value_a_known_one_the_member() -> None:
    raw = entity("completed") | {"status": "PAUSED_BY_SUPPLIER", "problemType": "NEW_KIND"}
    raw["result"]["testOutcome"]["testResult"] = "PURPLE"
    for test in (ServiceTest.model_validate_json(json.dumps(raw)), ServiceTest.model_validate(raw)):
        for value in (test.status, test.problem_type, test.test_result):
            assert type(value) is UnknownValue
        assert repr(test.status) == "UnknownValue('PAUSED_BY_SUPPLIER')"
        assert str(test.status) == "PAUSED_BY_SUPPLIER"
        assert f"{test.status}" == "PAUSED_BY_SUPPLIER"
        assert json.loads(test.to_json())["problemType"] == "NEW_KIND"
        assert test.to_dict()["status"] == "PAUSED_BY_SUPPLIER"
        copied = pickle.loads(pickle.dumps(test))  # noqa: S301 - our own object
        assert copied == test
        assert type(copied.status) is UnknownValue
        # A dump fed back in gives the same types (known stays known, unknown stays unknown).
        again = ServiceTest.model_validate(test.model_dump())
        assert type(again.status) is UnknownValue
    known = ServiceTest.model_validate(entity("completed"))
    assert known.status is ServiceTestStatus.COMPLETED
    assert known.problem_type is ProblemType.OUTAGE


def test_a_request_keeps_the_callers_own_string_for_an_unknown_value() -> None:
    request = ServiceTestRequest(
        service_id="BBEU00537760",
        problem_type="NEW_KIND",
        service_specification=ServiceSpecification(id="FTTP"),
        supplier="FIBRECO",
        characteristics=[Characteristic(name="SERVICE_HAS_WORKED", value="false")],
    )
    assert request.problem_type == "NEW_KIND"
    assert json.loads(request.model_dump_json())["problemType"] == "NEW_KIND"


def test_an_open_enum_still_refuses_what_is_not_a_string() -> None:
    raw = entity("completed") | {"status": 7}
    with pytest.raises(ValidationError) as caught:
        ServiceTest.model_validate(raw)
    assert {error["type"] for error in caught.value.errors()} == {"enum", "string_type"}


def test_measures_are_typed_and_metric_values_stay_strings() -> None:
    raw = entity("completed")
    raw["result"]["testMeasures"] = [
        {
            "metricName": "ONT_LIGHT_LEVEL",
            "captureDateTime": "2024-04-23T10:45:00.000Z",
            "metricValue": "-14.5",
            "unitOfMeasure": "decibel",
            "ruleViolation": False,
            "ruleSeverity": "WARNING",
        }
    ]
    test = ServiceTest.model_validate(raw)
    assert test.result is not None
    (measure,) = test.result.test_measures
    assert measure.metric_value == "-14.5"
    assert measure.rule_violation is False
    assert measure.capture_date_time == datetime(2024, 4, 23, 10, 45, tzinfo=UTC)


def test_snake_case_names_are_accepted_on_input() -> None:
    test = ServiceTest(
        id=1,
        status="IN_PROGRESS",
        service_id="S1",
        problem_type="CPE",
        service_specification=ServiceSpecification(id="FTTP"),
    )
    assert test.status is ServiceTestStatus.IN_PROGRESS
    assert test.to_dict()["serviceId"] == "S1"
    assert test.request_id is None
    assert test.http_response is None


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        ("RECEIVED_BY_GATEWAY", False),
        ("SENT_TO_SUPPLIER", False),
        ("IN_PROGRESS", False),
        ("COMPLETED", True),
        ("REJECTED", True),
        ("FAILED_TO_SEND", True),
        ("FAILED", True),
        ("SOMETHING_NEW", False),
    ],
)
def test_is_terminal(status: str, terminal: bool) -> None:
    assert (
        ServiceTest.model_validate(entity("in-progress") | {"status": status}).is_terminal
        is terminal
    )


def completed_with(result: str, validity: str | None = "2024-04-23T12:45:24.000Z") -> ServiceTest:
    raw = entity("completed")
    raw["result"]["testOutcome"]["testResult"] = result
    if validity is None:
        del raw["result"]["testValidity"]
    else:
        raw["result"]["testValidity"] = validity
    return ServiceTest.model_validate(raw)


INSIDE = datetime(2024, 4, 23, 12, 0, tzinfo=UTC)
AFTER = datetime(2024, 4, 23, 12, 45, 24, tzinfo=UTC)


@pytest.mark.parametrize(
    ("result", "allowed"),
    [
        ("GREEN", False),
        ("FAILED", False),
        ("AMBER", True),
        ("RED", True),
        ("UNAVAILABLE", True),
        ("PURPLE", False),
    ],
)
def test_may_raise_problem_follows_the_documented_results(result: str, allowed: bool) -> None:
    assert completed_with(result).may_raise_problem(now=INSIDE) is allowed


def test_may_raise_problem_closes_after_the_two_hour_window() -> None:
    test = completed_with("RED")
    assert test.may_raise_problem(now=AFTER - timedelta(microseconds=1))
    assert not test.may_raise_problem(now=AFTER)
    # another zone, same instant
    bst = timezone(timedelta(hours=1))
    assert not test.may_raise_problem(now=AFTER.astimezone(bst))


def test_problem_window_falls_back_to_updated_plus_two_hours() -> None:
    test = completed_with("AMBER", validity=None)
    assert test.problem_window_ends is None
    assert test.may_raise_problem(now=INSIDE)  # no timestamp at all: only the result decides
    dated = ServiceTest.model_validate(test.to_dict() | {"updated": "2024-04-23T10:00:00Z"})
    assert dated.problem_window_ends == datetime(2024, 4, 23, 12, 0, tzinfo=UTC)
    assert not dated.may_raise_problem(now=INSIDE)


def test_may_raise_problem_needs_a_completed_test_and_an_aware_now() -> None:
    assert not ServiceTest.model_validate(entity("in-progress")).may_raise_problem(now=INSIDE)
    with pytest.raises(ValueError, match="timezone-aware"):
        completed_with("RED").may_raise_problem(now=datetime(2024, 4, 23, 12, 0))


def test_characteristics_helper_renders_gateway_strings() -> None:
    worked = ServiceTestCharacteristics(
        service_has_worked=True,
        service_last_worked=datetime(
            2024, 4, 20, 10, 45, 0, 123456, tzinfo=timezone(timedelta(hours=1))
        ),
        equipment_type="ONT",
        extra={"SUPPLIER_SPECIFIC": "x"},
    )
    assert worked.to_mapping() == {
        "SERVICE_HAS_WORKED": "true",
        "SERVICE_LAST_WORKED": "2024-04-20T09:45:00.123Z",
        "EQUIPMENT_TYPE": "ONT",
        "SUPPLIER_SPECIFIC": "x",
    }
    assert ServiceTestCharacteristics(service_has_worked=False).to_list() == [
        Characteristic(name="SERVICE_HAS_WORKED", value="false")
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"service_has_worked": True}, "required when service_has_worked"),
        (
            {"service_has_worked": False, "service_last_worked": datetime(2024, 1, 1, tzinfo=UTC)},
            "must be None",
        ),
        (
            {"service_has_worked": True, "service_last_worked": datetime(2024, 1, 1)},
            "timezone-aware",
        ),
        ({"service_has_worked": False, "equipment_type": " "}, "must not be empty"),
        ({"service_has_worked": False, "extra": {"SERVICE_HAS_WORKED": "true"}}, "own argument"),
    ],
)
def test_characteristics_helper_refuses_undocumented_combinations(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ServiceTestCharacteristics(**kwargs)


def test_characteristics_helper_checks_equipment_type_for_cpe() -> None:
    chars = ServiceTestCharacteristics(service_has_worked=False)
    chars.check_for(ProblemType.OUTAGE)
    with pytest.raises(ValueError, match="CPE"):
        chars.check_for("CPE")


def test_characteristics_helper_refuses_a_non_bool() -> None:
    with pytest.raises(TypeError):
        ServiceTestCharacteristics(service_has_worked="true")  # type: ignore[arg-type]


def test_render_wire_datetime_refuses_naive() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        render_wire_datetime(datetime(2024, 1, 1))


def test_normalise_characteristics_accepts_every_documented_shape() -> None:
    expected = [Characteristic(name="A", value="1"), Characteristic(name="B", value="2")]
    assert normalise_characteristics({"A": "1", "B": "2"}) == expected
    assert normalise_characteristics([("A", "1"), {"name": "B", "value": "2"}]) == expected
    assert normalise_characteristics(expected) == expected


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"A": True}, TypeError),
        ("SERVICE_HAS_WORKED", TypeError),
        ([42], TypeError),
        ([{"name": "A"}], ValueError),
    ],
)
def test_normalise_characteristics_names_bad_items(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        normalise_characteristics(value)


def test_request_model_enforces_documented_constraints() -> None:
    good: dict[str, Any] = {
        "service_id": "BBEU00537760",
        "problem_type": "OUTAGE",
        "service_specification": {"id": "FTTP"},
        "supplier": "FIBRECO",
        "characteristics": [{"name": "SERVICE_HAS_WORKED", "value": "false"}],
    }
    assert ServiceTestRequest.model_validate(good).to_dict()["serviceSpecification"] == {
        "id": "FTTP"
    }
    for field, bad in [
        ("service_id", ""),
        ("service_id", "x" * 51),
        ("supplier", "has space"),
        ("characteristics", []),
        ("problem_type", "not a word"),
    ]:
        with pytest.raises(ValueError, match=field):
            ServiceTestRequest.model_validate(good | {field: bad})


@pytest.mark.parametrize(
    "test",
    [
        pytest.param(completed_with("GREEN"), id="GREEN"),
        pytest.param(completed_with("FAILED"), id="result-FAILED"),
        pytest.param(ServiceTest.model_validate(entity("rejected")), id="REJECTED"),
        pytest.param(ServiceTest.model_validate(entity("failed-to-send")), id="FAILED_TO_SEND"),
    ],
)
def test_no_problem_window_for_a_test_that_can_never_raise_one(test: ServiceTest) -> None:
    """Issue 11.18: a window end was returned for tests that can never raise a problem."""
    assert test.problem_window_ends is None
    assert not test.may_raise_problem(now=INSIDE)


@pytest.mark.parametrize("result", ["AMBER", "RED", "UNAVAILABLE", "SOMETHING_NEW"])
def test_a_raisable_or_unknown_result_keeps_its_window(result: str) -> None:
    assert completed_with(result).problem_window_ends == AFTER
