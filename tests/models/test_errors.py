"""The exception hierarchy: attributes, str(), pickling, class mapping."""

from __future__ import annotations

import pickle

import httpx
import pytest

from fibrecafe_client import errors
from fibrecafe_client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    FibreCafeError,
    InternalServerError,
    KciParseError,
    ResponseValidationError,
    ServiceTestWaitTimeout,
    ServiceUnavailableError,
    TokenError,
    status_error_class,
)


def test_every_public_error_derives_from_the_base() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, FibreCafeError), name


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (400, "BadRequestError"),
        (401, "AuthenticationError"),
        (403, "PermissionDeniedError"),
        (404, "NotFoundError"),
        (422, "UnprocessableEntityError"),
        (429, "RateLimitError"),
        (500, "InternalServerError"),
        (502, "InternalServerError"),
        (503, "ServiceUnavailableError"),
        (504, "InternalServerError"),
        (418, "APIStatusError"),
    ],
)
def test_status_classes(status: int, name: str) -> None:
    assert status_error_class(status).__name__ == name


def test_service_unavailable_is_an_internal_server_error() -> None:
    assert issubclass(ServiceUnavailableError, InternalServerError)
    assert issubclass(APITimeoutError, APIConnectionError)


def status_error() -> APIStatusError:
    return status_error_class(422)(
        "the gateway refused the request",
        status_code=422,
        code="INVALID_REQUEST",
        messages=["serviceId not found", "try again"],
        uuid="8a3138c9-6523-48b9-81bc-5870bdb5972f",
        response=httpx.Response(422),
        method="POST",
        url="https://cvt.fibregateway.com/v1/service-tests",
        request_id="req-1",
        conversation_id="conv-1",
        attempts=1,
    )


def test_str_carries_everything_support_asks_for() -> None:
    text = str(status_error())
    for part in (
        "422",
        "INVALID_REQUEST",
        "serviceId not found",
        "try again",
        "8a3138c9-6523-48b9-81bc-5870bdb5972f",
        "req-1",
        "conv-1",
    ):
        assert part in text


def test_outcome_unknown_says_the_test_may_exist_and_names_the_conversation() -> None:
    err = APITimeoutError(
        "read timed out", request_id="r", conversation_id="conv-42", outcome_unknown=True
    )
    assert "may exist" in str(err)
    assert str(err).count("conv-42") >= 1
    assert "may exist" not in str(APITimeoutError("read timed out", conversation_id="c"))


def test_status_errors_pickle_without_their_response() -> None:
    err = status_error()
    back = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own object
    assert type(back) is type(err)
    assert str(back) == str(err)
    assert (back.status_code, back.code, back.messages, back.uuid) == (
        422,
        "INVALID_REQUEST",
        ["serviceId not found", "try again"],
        "8a3138c9-6523-48b9-81bc-5870bdb5972f",
    )
    assert (back.request_id, back.conversation_id, back.method) == ("req-1", "conv-1", "POST")
    assert back.response is None


@pytest.mark.parametrize(
    "err",
    [
        TokenError("token endpoint refused", error="invalid_client", status_code=400, attempts=2),
        KciParseError("not JSON", path="entity.status", errors=[("entity.status", "not JSON")]),
        ServiceTestWaitTimeout("gave up", test_id=7, last=None),
        ResponseValidationError("bad body", status_code=201, errors=["id: missing"]),
        APIConnectionError("refused", conversation_id="c", outcome_unknown=False, attempts=3),
    ],
)
def test_other_errors_pickle_round_trip(err: Exception) -> None:
    back = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own object
    assert type(back) is type(err)
    assert str(back) == str(err)
    assert vars(back).keys() == vars(err).keys()


def test_token_error_text() -> None:
    err = TokenError("refused", error="invalid_client", description="bad secret", status_code=400)
    assert str(err) == "400: refused (error=invalid_client: bad secret)"
    assert err.error == "invalid_client"


def test_kci_parse_error_text_names_path_and_count() -> None:
    err = KciParseError(
        "field required",
        path="deliveredOn",
        errors=[("deliveredOn", "field required"), ("id", "x")],
    )
    assert str(err) == "invalid KCI: deliveredOn: field required (and 1 more)"
    assert isinstance(err, ValueError)
