"""POST/GET /v1/service-tests: the gateway's status codes, error bodies and validation."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from fibrecafe_client.models import GatewayError, ServiceTest, ServiceTestStatus
from fibrecafe_client.sandbox import Sandbox

if TYPE_CHECKING:
    from conftest import Api

Body = Callable[..., dict[str, Any]]


def _error(response: httpx.Response, status: int, code: str) -> GatewayError:
    """Assert the documented error shape ``{uuid, code, messages}`` and return it parsed."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"uuid", "code", "messages"}
    assert isinstance(body["uuid"], str)
    assert len(body["uuid"]) == 36
    assert body["code"] == code
    assert body["messages"]
    assert all(isinstance(m, str) for m in body["messages"])
    return GatewayError.model_validate(body)


def test_create_returns_201_received_by_gateway(sandbox: Sandbox, api: Api) -> None:
    response = api.create(conversation_id="conv-42")
    assert response.status_code == 201
    test = ServiceTest.model_validate_json(response.content)
    assert test.status is ServiceTestStatus.RECEIVED_BY_GATEWAY
    assert test.service_id == "BBEU00537760"
    assert test.supplier == "FIBRECO"
    assert test.service_specification.id == "FTTP"
    assert [c.name for c in test.characteristics] == ["SERVICE_HAS_WORKED", "SERVICE_LAST_WORKED"]
    assert test.created is not None
    assert test.created == test.updated
    assert test.result is None
    assert response.headers["x-conversation-id"] == "conv-42"
    assert sandbox.stats.service_tests_created == 1
    assert sandbox.stats.count("POST", "/v1/service-tests", 201) == 1


def test_ids_are_distinct_and_get_finds_each(api: Api) -> None:
    ids = [api.create().json()["id"] for _ in range(3)]
    assert len(set(ids)) == 3
    for test_id in ids:
        response = api.get(test_id)
        assert response.status_code == 200
        assert response.json()["id"] == test_id


def test_service_specification_extras_are_echoed(api: Api, make_body: Body) -> None:
    spec = {"id": "FTTP", "name": "FTTH"}
    response = api.create(make_body(serviceSpecification=spec))
    assert response.json()["serviceSpecification"] == spec


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"serviceId": None}, "serviceId must be a string"),
        ({"problemType": 7}, "problemType must be a string"),
        ({"serviceSpecification": "FTTP"}, "serviceSpecification must be an object"),
        ({"serviceSpecification": {}}, "Missing mandatory parameter: serviceSpecification.id"),
        ({"characteristics": {"SERVICE_HAS_WORKED": "true"}}, "characteristics must be an array"),
        ({"characteristics": [{"name": "SERVICE_HAS_WORKED"}]}, "characteristics[0].value"),
        (
            {"characteristics": [{"name": "SERVICE_HAS_WORKED", "value": True}]},
            "characteristics[0].value must be a string",
        ),
        ({"characteristics": ["SERVICE_HAS_WORKED"]}, "characteristics[0] must be an object"),
    ],
)
def test_wrong_types_are_400_malformed(
    api: Api, make_body: Body, change: dict[str, Any], fragment: str
) -> None:
    error = _error(api.create(make_body(**change)), 400, "MALFORMED_REQUEST")
    assert any(fragment in m for m in error.messages), error.messages


def test_missing_fields_are_all_reported(api: Api) -> None:
    error = _error(api.create({"serviceId": "X"}), 400, "MALFORMED_REQUEST")
    assert error.messages == [
        "Missing mandatory parameter: problemType",
        "Missing mandatory parameter: serviceSpecification",
        "Missing mandatory parameter: supplier",
        "Missing mandatory parameter: characteristics",
    ]


def test_non_json_and_non_object_bodies_are_400(sandbox: Sandbox, api: Api) -> None:
    url = f"{sandbox.base_url}/service-tests"
    headers = api.headers() | {"Content-Type": "application/json"}
    _error(api.http.post(url, content=b"{not json", headers=headers), 400, "MALFORMED_REQUEST")
    _error(api.http.post(url, content=b"[1, 2]", headers=headers), 400, "MALFORMED_REQUEST")
    _error(api.http.post(url, content=b"\xff\xfe", headers=headers), 400, "MALFORMED_REQUEST")


def test_wrong_content_type_is_400(sandbox: Sandbox, api: Api) -> None:
    response = api.http.post(
        f"{sandbox.base_url}/service-tests",
        data={"serviceId": "X"},
        headers=api.headers(),
    )
    error = _error(response, 400, "MALFORMED_REQUEST")
    assert error.messages == ["Content-Type must be application/json"]


def _chars(**values: str) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in values.items()]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"serviceId": "X" * 51}, "serviceId must be 1 to 50 characters long"),
        ({"serviceId": ""}, "serviceId must be 1 to 50 characters long"),
        ({"characteristics": []}, "characteristics must not be empty"),
        (
            {"characteristics": _chars(SERVICE_LAST_WORKED="2024-04-20T09:45:00.000Z")},
            "The SERVICE_HAS_WORKED characteristic is mandatory",
        ),
        (
            {"characteristics": _chars(SERVICE_HAS_WORKED="true")},
            "SERVICE_LAST_WORKED is required when SERVICE_HAS_WORKED is true",
        ),
        (
            {"characteristics": _chars(SERVICE_HAS_WORKED="yes")},
            "SERVICE_HAS_WORKED must be 'true' or 'false'",
        ),
        (
            {
                "characteristics": _chars(
                    SERVICE_HAS_WORKED="true", SERVICE_LAST_WORKED="last tuesday"
                )
            },
            "SERVICE_LAST_WORKED must be an ISO 8601 date-time with a time zone",
        ),
        (
            {"problemType": "CPE"},
            "The EQUIPMENT_TYPE characteristic is required when problemType is CPE",
        ),
        ({"problemType": "BROKEN"}, "problemType must be one of"),
        ({"supplier": "FIBRE CO"}, "supplier must be 1 to 20 word characters"),
        ({"serviceSpecification": {"id": " "}}, "serviceSpecification.id must not be empty"),
    ],
)
def test_rule_breaks_are_422_invalid(
    api: Api, make_body: Body, change: dict[str, Any], message: str
) -> None:
    error = _error(api.create(make_body(**change)), 422, "INVALID_REQUEST")
    assert any(m.startswith(message) for m in error.messages), error.messages


def test_cpe_with_equipment_type_and_never_worked_is_valid(api: Api, make_body: Body) -> None:
    body = make_body(
        problemType="CPE",
        characteristics=_chars(SERVICE_HAS_WORKED="false", EQUIPMENT_TYPE="ONT"),
    )
    assert api.create(body).status_code == 201


@pytest.mark.parametrize("header", ["X-Request-ID", "X-Conversation-ID"])
def test_missing_correlation_headers_are_400(sandbox: Sandbox, api: Api, header: str) -> None:
    headers = api.headers()
    del headers[header]
    response = api.http.post(f"{sandbox.base_url}/service-tests", json={}, headers=headers)
    error = _error(response, 400, "MALFORMED_REQUEST")
    assert error.messages == [f"Missing mandatory header: {header}"]
    get_error = _error(
        api.http.get(f"{sandbox.base_url}/service-tests/1", headers=headers),
        400,
        "MALFORMED_REQUEST",
    )
    assert get_error.messages == error.messages


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "the Authorization header is missing"),
        ("Bearer not-a-token", "the access token is not valid"),
        ("Basic c2FuZGJveC1jbGllbnQ6c2FuZGJveC1zZWNyZXQ=", "not a Bearer token"),
    ],
)
def test_bad_tokens_are_401_not_authorised(
    sandbox: Sandbox, api: Api, authorization: str | None, message: str
) -> None:
    headers = api.headers()
    if authorization is None:
        del headers["Authorization"]
    else:
        headers["Authorization"] = authorization
    for response in (
        api.http.post(f"{sandbox.base_url}/service-tests", json={}, headers=headers),
        api.http.get(f"{sandbox.base_url}/service-tests/1", headers=headers),
    ):
        error = _error(response, 401, "NOT_AUTHORISED")
        assert message in error.messages[0]
    assert sandbox.stats.service_tests_created == 0


def test_auth_is_checked_before_the_body(sandbox: Sandbox, api: Api) -> None:
    headers = api.headers() | {"Authorization": "Bearer nope"}
    response = api.http.post(
        f"{sandbox.base_url}/service-tests", content=b"garbage", headers=headers
    )
    _error(response, 401, "NOT_AUTHORISED")


@pytest.mark.parametrize("test_id", ["424242", "abc", "1.5", "99999999999999999999999"])
def test_unknown_ids_are_404_not_found(api: Api, test_id: str) -> None:
    error = _error(api.get(test_id), 404, "NOT_FOUND")
    assert error.messages == [f"No service test with id {test_id}"]


def test_unknown_route_is_404_and_counted(sandbox: Sandbox, api: Api) -> None:
    response = api.http.get(f"{sandbox.base_url}/service-orders/1", headers=api.headers())
    _error(response, 404, "NOT_FOUND")
    assert sandbox.stats.count(route="(unmatched)", status=404) == 1


def test_wrong_methods_are_405(sandbox: Sandbox, api: Api) -> None:
    listing = api.http.get(f"{sandbox.base_url}/service-tests", headers=api.headers())
    _error(listing, 405, "MALFORMED_REQUEST")
    assert listing.headers["allow"] == "POST"
    delete = api.http.delete(f"{sandbox.base_url}/service-tests/1", headers=api.headers())
    _error(delete, 405, "MALFORMED_REQUEST")
    assert delete.headers["allow"] == "GET"


@pytest.mark.parametrize(
    ("headers", "status", "fragment"),
    [
        ({"X-Scenario": "ORDER_SUCCESSFUL"}, 422, "Unknown X-Scenario 'ORDER_SUCCESSFUL'"),
        ({"X-Scenario": "service_test_green"}, 422, "Unknown X-Scenario"),
        ({"X-Kci-Delay": "soon"}, 400, "X-Kci-Delay must be a number"),
        ({"X-Kci-Delay": "-1"}, 422, "X-Kci-Delay must be between 0 and 3600"),
        ({"X-Kci-Delay": "nan"}, 422, "X-Kci-Delay must be between"),
        ({"X-Problem-Code": "not a code"}, 422, "X-Problem-Code must be"),
    ],
)
def test_bad_cvt_headers_are_refused(
    sandbox: Sandbox, api: Api, headers: dict[str, str], status: int, fragment: str
) -> None:
    code = "MALFORMED_REQUEST" if status == 400 else "INVALID_REQUEST"
    error = _error(api.create(headers=headers), status, code)
    assert fragment in error.messages[0]
    assert sandbox.stats.service_tests_created == 0


def test_oversized_body_is_413(sandbox: Sandbox, api: Api) -> None:
    response = api.http.post(
        f"{sandbox.base_url}/service-tests",
        content=b" " * (1024 * 1024 + 1),
        headers=api.headers() | {"Content-Type": "application/json"},
    )
    _error(response, 413, "MALFORMED_REQUEST")
