"""Logging: every attempt is logged usefully, and no secret or token ever is (canary tests)."""

from __future__ import annotations

import base64
import logging
import pickle
from collections.abc import Callable

import httpx
import pytest
import respx

from fibrecafe_client import APIError, FibreCafeError, TokenError
from fibrecafe_client._logging import LOGGER_NAME, REDACTED, configure_from_env, redact_headers

from .conftest import MakeClient
from .helpers import (
    CANARY_SECRET,
    CANARY_TOKEN,
    CLIENT_ID,
    CREATE_ARGS,
    resolve,
    service_test_json,
    token_json,
)

BASIC = base64.b64encode(f"{CLIENT_ID}:{CANARY_SECRET}".encode()).decode()
CANARIES = (CANARY_SECRET, CANARY_TOKEN, BASIC)


def _assert_clean(text: str) -> None:
    for canary in CANARIES:
        assert canary not in text


async def _journey(make_client: MakeClient, gateway: respx.MockRouter) -> list[BaseException]:
    """Token fetch, 401 replay, retries, a success and several failures, all at DEBUG."""
    gateway["token"].mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(200, json=token_json()),
            httpx.Response(200, json=token_json(CANARY_TOKEN + "-2")),
        ]
    )
    gateway.get("/service-tests/123").mock(
        side_effect=[
            httpx.Response(401),
            httpx.Response(503, headers={"Retry-After": "1"}),
            httpx.Response(200, json=service_test_json()),
        ]
    )
    gateway.post("/service-tests").mock(side_effect=httpx.ReadTimeout("read timed out"))
    gateway.get("/service-tests/404").respond(404, json={"uuid": "u", "code": "NOT_FOUND"})
    client = make_client()
    errors: list[BaseException] = []
    await resolve(client.service_tests.get(123, conversation_id="conv-log"))
    calls: list[Callable[[], object]] = [
        lambda: client.service_tests.create(**CREATE_ARGS),
        lambda: client.service_tests.get(404),
    ]
    for call in calls:
        try:
            await resolve(call())
        except FibreCafeError as exc:
            errors.append(exc)
    gateway["token"].mock(side_effect=None, return_value=httpx.Response(400, json={"error": "x"}))
    try:
        await resolve(client.check_credentials())
    except TokenError as exc:
        errors.append(exc)
    errors.append(APIError("plain"))
    return errors


async def test_no_canary_in_debug_logs_reprs_or_pickles(
    make_client: MakeClient, gateway: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    errors = await _journey(make_client, gateway)
    assert len(errors) == 4
    _assert_clean(caplog.text)
    for record in caplog.records:
        _assert_clean(record.getMessage())
    for err in errors:
        _assert_clean(str(err) + repr(err))
        _assert_clean(pickle.dumps(err).decode("latin-1"))
        response = getattr(err, "response", None)
        if isinstance(response, httpx.Response):
            # the raw response stays reachable, but its request no longer carries the token
            assert response.request.headers["Authorization"] == REDACTED


async def test_each_attempt_is_logged_with_what_support_needs(
    make_client: MakeClient, gateway: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    route = gateway.get("/service-tests/123").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=service_test_json())]
    )
    await resolve(make_client().service_tests.get(123, conversation_id="conv-log"))
    first_id, second_id = (c.request.headers["X-Request-ID"] for c in route.calls)
    lines = [r.getMessage() for r in caplog.records]
    attempt1 = next(line for line in lines if first_id in line and "-> 503" in line)
    assert "GET /service-tests/123" in attempt1
    assert "attempt 1" in attempt1
    assert "conversation_id=conv-log" in attempt1
    assert "retry: status 503" in attempt1
    retry = next(r for r in caplog.records if r.getMessage().startswith("retrying GET"))
    assert retry.levelno == logging.INFO
    assert "status 503" in retry.getMessage()
    attempt2 = next(line for line in lines if second_id in line and "-> 200" in line)
    assert "attempt 2" in attempt2
    assert "retry: no" in attempt2
    headers_line = next(line for line in lines if line.startswith("request headers:"))
    assert f"'authorization': '{REDACTED}'" in headers_line
    assert f"'x-request-id': '{first_id}'" in headers_line


async def test_fibrecafe_log_env_installs_one_stderr_handler(
    make_client: MakeClient,
    gateway: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FIBRECAFE_LOG", "debug")
    logger = logging.getLogger(LOGGER_NAME)
    before = len(logger.handlers)
    make_client()
    errors = await _journey(make_client, gateway)  # a second client: still one handler
    assert len(logger.handlers) == before + 1
    assert logger.level == logging.DEBUG
    err = capsys.readouterr().err
    assert "retrying GET /service-tests/123" in err
    assert "conversation_id=conv-log" in err
    _assert_clean(err)
    assert errors


def test_fibrecafe_log_values() -> None:
    logger = logging.getLogger(LOGGER_NAME)
    assert configure_from_env({}) is None
    assert configure_from_env({"FIBRECAFE_LOG": "verbose"}) is None
    handler = configure_from_env({"FIBRECAFE_LOG": " INFO "})
    assert handler is not None
    assert logger.level == logging.INFO
    assert configure_from_env({"FIBRECAFE_LOG": "debug"}) is handler
    assert logger.level == logging.DEBUG


def test_header_redaction_is_an_allowlist() -> None:
    headers = {
        "Authorization": f"Bearer {CANARY_TOKEN}",
        "X-Api-Key": CANARY_SECRET,
        "X-Request-ID": "r-1",
        "x-conversation-id": "c-1",
        "User-Agent": "ua",
        "X-Scenario": "SERVICE_TEST_RED",
    }
    assert redact_headers(headers) == {
        "Authorization": REDACTED,
        "X-Api-Key": REDACTED,
        "X-Request-ID": "r-1",
        "x-conversation-id": "c-1",
        "User-Agent": "ua",
        "X-Scenario": "SERVICE_TEST_RED",
    }
    assert redact_headers([("authorization", "Basic " + BASIC)]) == {"authorization": REDACTED}
