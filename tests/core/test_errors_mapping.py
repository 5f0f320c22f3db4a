"""Every response and failure maps to its typed error, with what support needs in it."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import respx

from fibrecafe_client import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ErrorCode,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    ServiceTestStatus,
    ServiceUnavailableError,
    UnprocessableEntityError,
)
from fibrecafe_client._pipeline import read_error_body

from .conftest import MakeClient
from .helpers import CANARY_SECRET, CANARY_TOKEN, CREATE_ARGS, resolve, service_test_json

GET_PATH = "/service-tests/123"
WAF_PAGE = "<html><head><title>403 Forbidden</title></head><body>Request blocked</body></html>"


@dataclass
class Case:
    status: int
    cls: type[APIStatusError]
    body: Any = None  # dict: JSON; str: raw text; None: no body
    content_type: str | None = None
    code: str | None = None
    messages: list[str] = field(default_factory=list)
    uuid: str | None = None
    text: tuple[str, ...] = ()  # must appear in str(err)

    @property
    def id(self) -> str:
        return f"{self.status}-{self.cls.__name__}-{type(self.body).__name__}"


def _error(code: str, message: str, error_uuid: str = "3f0c2a8e-1") -> dict[str, Any]:
    return {"uuid": error_uuid, "code": code, "messages": [message]}


CASES = [
    Case(400, BadRequestError, _error("MALFORMED_REQUEST", "bad json"), code="MALFORMED_REQUEST",
         messages=["bad json"], uuid="3f0c2a8e-1"),
    Case(401, AuthenticationError, _error("NOT_AUTHORISED", "expired"), code="NOT_AUTHORISED",
         messages=["expired"], uuid="3f0c2a8e-1"),
    Case(403, PermissionDeniedError, WAF_PAGE, "text/html",
         text=("HTML body", "'403 Forbidden'", "WAF", "allow-listed")),
    Case(403, PermissionDeniedError, {"message": "Forbidden"}, messages=["Forbidden"]),
    Case(404, NotFoundError, _error("NOT_FOUND", "no test 123"), code="NOT_FOUND",
         messages=["no test 123"], uuid="3f0c2a8e-1"),
    Case(422, UnprocessableEntityError,
         _error("INVALID_REQUEST", "The supplier API returned: not in coverage"),
         code="INVALID_REQUEST", messages=["The supplier API returned: not in coverage"],
         uuid="3f0c2a8e-1"),
    Case(429, RateLimitError, None, text=("empty body",)),
    Case(500, InternalServerError, _error("GATEWAY_FAULT", "oops"), code="GATEWAY_FAULT",
         messages=["oops"], uuid="3f0c2a8e-1"),
    Case(500, InternalServerError, '{"uuid": "u-1", "code": "GATEWAY_FA', "application/json",
         text=("invalid JSON body", "truncated")),
    Case(501, InternalServerError, _error("NOT_IMPLEMENTED", "n/a"), code="NOT_IMPLEMENTED",
         messages=["n/a"], uuid="3f0c2a8e-1"),
    Case(502, InternalServerError, _error("SUPPLIER_FAULT", "supplier down"),
         code="SUPPLIER_FAULT", messages=["supplier down"], uuid="3f0c2a8e-1"),
    Case(503, ServiceUnavailableError, None, text=("empty body", "Service Unavailable")),
    Case(504, InternalServerError, "upstream timed out", "text/plain",
         text=("non-JSON body", "upstream timed out")),
    Case(409, APIStatusError, _error("BRAND_NEW_CODE", "new"), code="BRAND_NEW_CODE",
         messages=["new"], uuid="3f0c2a8e-1"),
    Case(400, BadRequestError, {"uuid": 5, "code": "MALFORMED_REQUEST", "messages": "one"},
         code="MALFORMED_REQUEST", messages=["one"], text=("not in the documented shape",)),
]  # fmt: skip


def _respond(route: respx.Route, case: Case) -> None:
    headers = {"Content-Type": case.content_type} if case.content_type else {}
    if isinstance(case.body, dict):
        route.respond(case.status, json=case.body)
    elif isinstance(case.body, str):
        route.respond(case.status, text=case.body, headers=headers)
    else:
        route.respond(case.status)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_status_maps_to_its_class_with_its_attributes(
    make_client: MakeClient, gateway: respx.MockRouter, case: Case
) -> None:
    route = gateway.get(GET_PATH)
    _respond(route, case)
    with pytest.raises(APIStatusError) as info:
        await resolve(make_client(max_retries=0).service_tests.get(123, conversation_id="conv-s"))
    err = info.value
    assert type(err) is case.cls
    assert err.status_code == case.status
    assert err.code == case.code
    assert err.messages == case.messages
    assert err.uuid == case.uuid
    assert err.request_id == route.calls.last.request.headers["X-Request-ID"]
    assert err.conversation_id == "conv-s"
    assert err.method == "GET"
    assert err.url == "https://gateway.test/v1/service-tests/123"
    assert isinstance(err.response, httpx.Response)
    assert not err.outcome_unknown
    text = str(err)
    for expected in (str(case.status), err.request_id, "conv-s", *case.messages, *case.text):
        assert expected in text
    for optional in (case.code, case.uuid):
        assert optional is None or optional in text
    if case.code in ErrorCode.__members__:
        assert isinstance(err.code, ErrorCode)
    # pickles without the response, keeping what support needs; no secret inside
    raw = pickle.dumps(err)
    assert CANARY_SECRET.encode() not in raw
    assert CANARY_TOKEN.encode() not in raw
    clone = pickle.loads(raw)  # noqa: S301 - our own bytes
    assert (type(clone), str(clone), clone.response) == (type(err), text, None)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"id": "abc"}, ["id: Input should be a valid integer", "serviceId: Field required"]),
        ({**service_test_json(), "serviceSpecification": {}}, ["serviceSpecification.id: Field"]),
        ("", ["(body): Invalid JSON"]),
        ("<html>ok</html>", ["(body): Invalid JSON"]),
        ([1, 2], ["(body): Input should be an object"]),
    ],
)  # fmt: skip
async def test_a_2xx_that_does_not_fit_is_a_response_validation_error(
    make_client: MakeClient, gateway: respx.MockRouter, body: Any, expected: list[str]
) -> None:
    route = gateway.get(GET_PATH)
    if isinstance(body, str):
        route.respond(200, text=body)
    else:
        route.respond(200, json=body)
    with pytest.raises(ResponseValidationError) as info:
        await resolve(make_client().service_tests.get(123))
    err = info.value
    assert route.call_count == 1  # a bad body is not retried
    assert err.status_code == 200
    assert not err.outcome_unknown
    for prefix in expected:
        assert any(e.startswith(prefix) for e in err.errors), err.errors
        assert prefix in str(err)


async def test_a_created_test_with_an_unreadable_body_says_it_exists(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    gateway.post("/service-tests").respond(201, text="")
    with pytest.raises(ResponseValidationError) as info:
        await resolve(make_client().service_tests.create(**CREATE_ARGS, conversation_id="c-1"))
    assert info.value.outcome_unknown
    assert "WAS processed" in str(info.value)
    assert "c-1" in str(info.value)


async def test_unknown_values_and_fields_are_kept(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    body = service_test_json(status="PAUSED_BY_SUPPLIER", problemType="NEW_KIND", newField={"a": 1})
    gateway.get(GET_PATH).respond(200, json=body)
    test = await resolve(make_client().service_tests.get(123))
    assert test.status == "PAUSED_BY_SUPPLIER"
    assert not isinstance(test.status, ServiceTestStatus)
    assert not test.is_terminal
    assert test.model_extra == {"newField": {"a": 1}}
    assert test.to_dict()["newField"] == {"a": 1}
    assert test.to_dict()["problemType"] == "NEW_KIND"


@pytest.mark.parametrize(
    "failure",
    [
        httpx.LocalProtocolError("illegal header"),
        httpx.UnsupportedProtocol("no transport"),
        httpx.DecodingError("bad gzip"),
        httpx.TooManyRedirects("loop"),
        httpx.ProxyError("proxy refused"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_every_httpx_exception_becomes_ours(
    make_client: MakeClient, gateway: respx.MockRouter, failure: Exception
) -> None:
    gateway.post("/service-tests").mock(side_effect=failure)
    with pytest.raises(APIConnectionError) as info:
        await resolve(make_client().service_tests.create(**CREATE_ARGS))
    assert not isinstance(info.value, httpx.HTTPError)
    assert type(failure).__name__ in str(info.value)
    assert info.value.outcome_unknown is not isinstance(failure, httpx.UnsupportedProtocol)


def test_read_error_body_pure() -> None:
    request = httpx.Request("GET", "https://gateway.test/v1/x")
    empty = httpx.Response(503, request=request)
    assert read_error_body(empty) == (None, [], None, "empty body")
    html = httpx.Response(403, text="<!doctype html><p>no</p>", request=request)
    assert read_error_body(html)[3] == "HTML body (24 bytes)"
    whitespace = httpx.Response(500, text="   \n", request=request)
    assert read_error_body(whitespace)[3] == "empty body"
