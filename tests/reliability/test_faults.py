"""The fault matrix: every fault, for ``create()`` and ``get()``, sync and async, on real sockets.

The async client runs each case on both of its HTTP backends (httpx's pool and aiohttp's), with
the same expectations: every guarantee below holds on both.

For each case the test asserts:

- the outcome: success, or exactly the expected typed error with its key attributes
  (``attempts``, ``outcome_unknown``, status, OAuth ``error``);
- the server's count of service tests created is never more than the one asked for, and what
  the server saw (attempts, token requests) is what the client reports;
- the call returns (a bounded join: the hang check), and every wait the retry policy asked for
  is within ``max_retry_after`` and the deadline;
- no canary credential in the error's str, repr, pickle or traceback, nor in any log record at
  DEBUG (root logger, so httpx's and httpcore's records are included).
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fibrecafe_client import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AsyncFibreCafe,
    AuthenticationError,
    BadRequestError,
    FibreCafe,
    FibreCafeError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    RetryPolicy,
    ServiceTest,
    ServiceUnavailableError,
    TokenConnectionError,
    TokenError,
    TokenTimeoutError,
    UnprocessableEntityError,
)

from .badserver import BadGateway, Behaviour, json_answer, service_test_body
from .canaries import CANARY_SECRET, CLIENT_ID, assert_clean_exception, assert_clean_logs
from .conftest import Matrix
from .runner import KINDS, Kind, run_bounded

pytestmark = pytest.mark.network

#: Per-call timeout of the API requests: a short read, so hangs end quickly.
CALL_TIMEOUT = httpx.Timeout(5.0, read=0.4)
#: The client's timeout (token requests use it): generous unless a fault makes tokens slow.
CLIENT_TIMEOUT = httpx.Timeout(5.0)
SHORT_TIMEOUT = httpx.Timeout(5.0, read=0.4)
POLICY = RetryPolicy(
    max_retries=2, initial_backoff=0.01, max_backoff=0.02, max_retry_after=2.0, deadline=3.0
)
#: The hang check: no call may still run this long after it started (deadline + margin).
HANG_LIMIT = 3.0 + 5.0
#: Persistent faults are queued this many times: more than any call's attempts.
PERSISTENT = 3

CREATE_ARGS: dict[str, Any] = {
    "service_id": "BBEU00537760",
    "problem_type": "OUTAGE",
    "service_specification": "FTTP",
    "supplier": "FIBRECO",
    "characteristics": {"SERVICE_HAS_WORKED": "false"},
}
GET_ID = 4242


@dataclass(frozen=True, slots=True)
class Expect:
    """The observed outcome a fault must produce for one operation."""

    error: type[FibreCafeError] | None = None  # None: success
    attempts: int | tuple[int, ...] = 1  # a tuple: any of these (a racy fault)
    created: int = 0
    unknown: bool | None = False  # None: either (a racy fault)
    api_requests: int | None = None  # what the API listener saw (default: attempts)
    tokens: int | None = None  # token requests the server saw (default: not checked)
    waits: tuple[float, ...] | None = None  # exact waits asked for (None: only bounded)
    check: Callable[[Any], None] | None = None

    def describe(self) -> str:
        made = f", {self.created} created" if self.created else ""
        if self.tokens is not None:
            made += f", {self.tokens} token request{'s' if self.tokens != 1 else ''}"
        counts = self.attempts if isinstance(self.attempts, tuple) else (self.attempts,)
        shown = "-".join(str(n) for n in sorted({min(counts), max(counts)}))
        tries = f"{shown} attempt{'s' if counts != (1,) else ''}"
        if self.error is None:
            return f"success, {tries}{made}"
        unknown = {True: ", `outcome_unknown`", False: "", None: ", `outcome_unknown` or not"}
        return f"`{self.error.__name__}`, {tries}{unknown[self.unknown]}{made}"

    def allows(self, attempts: int) -> bool:
        if isinstance(self.attempts, tuple):
            return attempts in self.attempts
        return attempts == self.attempts


def ok(attempts: int = 1, **kwargs: Any) -> Expect:
    return Expect(None, attempts, **kwargs)


def err(error: type[FibreCafeError], attempts: int | tuple[int, ...] = 1, **kwargs: Any) -> Expect:
    return Expect(error, attempts, **kwargs)


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: how to provoke it and what ``create()`` and ``get()`` must do."""

    id: str
    title: str
    create: Expect
    get: Expect
    api: tuple[Behaviour, ...] = ()
    token: tuple[Behaviour, ...] = ()
    dead_api: bool = False
    dead_token: bool = False
    policy: RetryPolicy = POLICY
    client_timeout: httpx.Timeout | None = None  # None: CLIENT_TIMEOUT


def both(expect: Expect) -> tuple[Expect, Expect]:
    """The same expectation for create and get (faults that stop before the API)."""
    return expect, expect


def times(behaviour: Behaviour, count: int = PERSISTENT) -> tuple[Behaviour, ...]:
    return (behaviour,) * count


def error_body(code: str, *messages: str) -> bytes:
    return json.dumps({"uuid": "e-123", "code": code, "messages": list(messages)}).encode()


def status(code: int, body: bytes = b"", *, name: str = "", **kwargs: Any) -> Behaviour:
    """An error status; bodyless 429/503 are "not processed" unless ``processes`` says so."""
    headers = kwargs.pop("headers", (("content-type", "application/json"),))
    processes = kwargs.pop("processes", code >= 500 and code != 503)
    return Behaviour(
        name=name or str(code),
        status=code,
        body=body,
        headers=headers,
        processes=processes,
        **kwargs,
    )


def retry_after(code: int, value: str) -> Behaviour:
    return status(code, name=f"{code} ra", headers=(("retry-after", value),))


def http_date(seconds_ahead: float) -> str:
    return email.utils.formatdate(time.time() + seconds_ahead, usegmt=True)


def html(title: str, text: str = "") -> bytes:
    return f"<html><head><title>{title}</title></head><body>{text}</body></html>".encode()


RESET_BEFORE = Behaviour("reset before", on_accept="reset")
RESET_NOW = Behaviour("reset on accept", on_accept="reset_now")
RESET_AFTER = Behaviour("reset after", after_read="reset")
SILENT = Behaviour("silent", on_accept="silent")
HANG = Behaviour("hang", after_read="hang")
SLOW = Behaviour("slow", delay=2.0)
GATEWAY_FAULT = error_body("GATEWAY_FAULT", "Internal fault")
HTML = (("content-type", "text/html"),)
TEXT = (("content-type", "text/plain"),)
BIG = 4 * 1024 * 1024


def status_is(code: int) -> Callable[[Any], None]:
    def check(exc: Any) -> None:
        assert exc.status_code == code

    return check


def token_error(
    attempts: int,
    code: int | None,
    error: str | None = None,
    tokens: int | None = None,
    extra: Callable[[Any], None] | None = None,
    *,
    cls: type[TokenError] = TokenError,
) -> Expect:
    def check(exc: Any) -> None:
        assert exc.status_code == code
        assert exc.error == error
        # The token request's id (none when no connection was ever made)
        assert exc.request_id
        if extra is not None:
            extra(exc)

    return err(cls, attempts, api_requests=0, tokens=tokens, check=check)


def validation(*fragments: str) -> Callable[[Any], None]:
    def check(exc: Any) -> None:
        text = " ".join(exc.errors)
        for fragment in fragments:
            assert fragment in text, text

    return check


def big_valid_body() -> bytes:
    return json.dumps(service_test_body(77, huge="x" * BIG)).encode()


def bounded_text(limit: int) -> Callable[[Any], None]:
    def check(exc: Any) -> None:
        assert len(str(exc)) < limit, f"error text is {len(str(exc))} characters"

    return check


FAULTS: list[Fault] = [
    Fault("healthy", "No fault (baseline)", ok(1, created=1), ok(1)),
    # -- the connection ---------------------------------------------------------------------
    Fault(
        "refused",
        "Connection refused",
        err(APIConnectionError, 3, api_requests=0),
        err(APIConnectionError, 3, api_requests=0),
        dead_api=True,
    ),
    Fault(
        "reset-on-accept",
        "Reset as soon as the connection is accepted (every attempt; races the connect)",
        # A reset seen while connecting proves nothing was sent (resent, even a POST); one
        # seen after the request was written leaves the outcome unknown (not resent).
        err(APIConnectionError, (1, 2, 3), unknown=None),
        err(APIConnectionError, 3),
        api=times(RESET_NOW),
    ),
    Fault(
        "reset-before",
        "Reset before the request is read (every attempt)",
        err(APIConnectionError, 1, unknown=True),
        err(APIConnectionError, 3),
        api=times(RESET_BEFORE),
    ),
    Fault(
        "reset-before-once",
        "Reset before the request is read (once)",
        err(APIConnectionError, 1, unknown=True),
        ok(2),
        api=(RESET_BEFORE,),
    ),
    Fault(
        "reset-after",
        "Reset after the request is read (every attempt)",
        err(APIConnectionError, 1, unknown=True, created=1),
        err(APIConnectionError, 3),
        api=times(RESET_AFTER),
    ),
    Fault(
        "reset-after-once",
        "Reset after the request is read (once)",
        err(APIConnectionError, 1, unknown=True, created=1),
        ok(2),
        api=(RESET_AFTER,),
    ),
    Fault(
        "silent",
        "Accepts the connection, never reads nor answers",
        err(APITimeoutError, 1, unknown=True),
        err(APITimeoutError, 3),
        api=times(SILENT),
    ),
    Fault(
        "hang",
        "Reads the request, never answers",
        err(APITimeoutError, 1, unknown=True, created=1),
        err(APITimeoutError, 3),
        api=times(HANG),
    ),
    Fault(
        "slow",
        "Answers after 2 s, read timeout 0.4 s (every attempt)",
        err(APITimeoutError, 1, unknown=True, created=1),
        err(APITimeoutError, 3),
        api=times(SLOW),
    ),
    Fault(
        "slow-once",
        "Answers after 2 s, read timeout 0.4 s (once)",
        err(APITimeoutError, 1, unknown=True, created=1),
        ok(2),
        api=(SLOW,),
    ),
    # -- 5xx --------------------------------------------------------------------------------
    *(
        Fault(
            f"{code}-burst",
            f"{code} twice, then healthy",
            err(InternalServerError, 1, unknown=True, created=1, check=status_is(code)),
            ok(3),
            api=times(status(code, GATEWAY_FAULT), 2),
        )
        for code in (500, 502, 504)
    ),
    Fault(
        "500-persistent",
        "500 on every attempt",
        err(InternalServerError, 1, unknown=True, created=1),
        err(InternalServerError, 3),
        api=times(status(500, GATEWAY_FAULT)),
    ),
    # A POST is not resent after a 503: a proxy may answer 503 after the gateway processed it.
    Fault(
        "503-burst",
        "503 (no body) twice, then healthy",
        err(ServiceUnavailableError, 1, unknown=True),
        ok(3),
        api=times(status(503), 2),
    ),
    Fault(
        "503-persistent",
        "503 (no body) on every attempt",
        err(ServiceUnavailableError, 1, unknown=True),
        err(ServiceUnavailableError, 3),
        api=times(status(503)),
    ),
    Fault(
        "503-after-processing",
        "A proxy answers 503 after the gateway processed the request, then healthy",
        err(ServiceUnavailableError, 1, unknown=True, created=1),
        ok(2),
        api=(status(503, name="503 processed", processes=True),),
    ),
    Fault(
        "503-burst-opted-in",
        "503 (no body) twice, then healthy, with `resend_post_after_503=True`",
        ok(3, created=1),
        ok(3),
        api=times(status(503), 2),
        policy=POLICY.replace(resend_post_after_503=True),
    ),
    Fault(
        "429-persistent",
        "429 (no body) on every attempt",
        err(RateLimitError, 3),
        err(RateLimitError, 3),
        api=times(status(429)),
    ),
    # -- Retry-After --------------------------------------------------------------------------
    *(
        Fault(
            f"{code}-ra-{kind}",
            f"{code} with `Retry-After: {label}`, then healthy",
            ok(2, created=1, waits=(wait,))
            if code == 429
            else err(ServiceUnavailableError, 1, unknown=True),
            ok(2, waits=(wait,)),
            api=(retry_after(code, value),),
        )
        for code in (429, 503)
        for kind, label, value, wait in (
            ("seconds", "1", "1", 1.0),
            ("date", "<HTTP date 10 min ahead>", http_date(600), 2.0),
            ("absurd", "4294967295", "4294967295", 2.0),
        )
    ),
    Fault(
        "429-ra-garbage",
        "429 with `Retry-After: 99999999999999999999` (not a delay), then healthy",
        ok(2, created=1),
        ok(2),
        api=(retry_after(429, "99999999999999999999"),),
    ),
    Fault(
        "429-ra-past-deadline",
        "429 with `Retry-After: 3600`, `max_retry_after=60` beyond the 3 s deadline",
        err(RateLimitError, 1, waits=()),
        err(RateLimitError, 1, waits=()),
        api=times(retry_after(429, "3600")),
        policy=POLICY.replace(max_retry_after=60.0),
    ),
    # -- the token endpoint ----------------------------------------------------------------
    Fault(
        "token-refused",
        "Token endpoint down (connection refused)",
        *both(token_error(3, None, tokens=0, cls=TokenConnectionError)),
        dead_token=True,
    ),
    Fault(
        "token-503",
        "Token endpoint answers 503 on every attempt",
        *both(token_error(3, 503, tokens=3)),
        token=times(status(503)),
    ),
    Fault(
        "token-slow",
        "Token endpoint slower than the read timeout",
        *both(token_error(3, None, tokens=3, cls=TokenTimeoutError)),
        token=times(SLOW),
        client_timeout=SHORT_TIMEOUT,
    ),
    Fault(
        "token-silent",
        "Token endpoint accepts and never answers",
        *both(token_error(3, None, tokens=3, cls=TokenTimeoutError)),
        token=times(SILENT),
        client_timeout=SHORT_TIMEOUT,
    ),
    Fault(
        "token-reset-once",
        "Token endpoint resets the connection once",
        ok(1, created=1, tokens=2),
        ok(1, tokens=2),
        token=(RESET_AFTER,),
    ),
    Fault(
        "token-400",
        "Token endpoint answers 400 `invalid_client`",
        *both(token_error(1, 400, "invalid_client", tokens=1)),
        token=(json_answer("400", 400, {"error": "invalid_client"}),),
    ),
    Fault(
        "token-400-echo",
        "Token endpoint answers 400 and echoes the Basic credentials in `error_description`",
        *both(token_error(1, 400, "invalid_client", tokens=1)),
        token=(
            json_answer(
                "400 echo",
                400,
                {"error": "invalid_client", "error_description": "bad: {authorization}"},
                echo=True,
            ),
        ),
    ),
    Fault(
        "token-400-oversized",
        "Token endpoint answers 400 with a 1 MiB `error_description`",
        *both(token_error(1, 400, "invalid_client", tokens=1, extra=bounded_text(2000))),
        token=(
            json_answer(
                "400 big",
                400,
                {"error": "invalid_client", "error_description": "d" * 1024 * 1024},
            ),
        ),
    ),
    Fault(
        "token-html",
        "Token endpoint answers 200 with an HTML page",
        *both(token_error(1, 200, tokens=1)),
        token=(Behaviour("html", body=html("Maintenance"), headers=HTML),),
    ),
    Fault(
        "token-not-json",
        "Token endpoint answers 200 with plain text",
        *both(token_error(1, 200, tokens=1)),
        token=(Behaviour("text", body=b"ok", headers=TEXT),),
    ),
    Fault(
        "token-no-access-token",
        "Token endpoint answers 200 JSON without `access_token`",
        *both(token_error(1, 200, tokens=1)),
        token=(json_answer("{}", 200, {"token_type": "Bearer", "expires_in": 60}),),
    ),
    Fault(
        "token-type-mac",
        "Token endpoint issues a `mac` token",
        *both(token_error(1, 200, tokens=1)),
        token=(json_answer("mac", 200, {"access_token": "canary-TOKEN-x", "token_type": "mac"}),),
    ),
    Fault(
        "token-expiry-garbage",
        'Token endpoint sends `expires_in: "soon"`',
        ok(1, created=1, tokens=1),
        ok(1, tokens=1),
        token=(
            json_answer(
                "garbage expiry",
                200,
                {"access_token": "canary-TOKEN-y", "token_type": "Bearer", "expires_in": "soon"},
            ),
        ),
    ),
    # -- the token refused by the API ------------------------------------------------------
    Fault(
        "revoked-once",
        "401 once (token revoked mid-run): one new token, one replay",
        ok(1, created=1, api_requests=2, tokens=2),
        ok(1, api_requests=2, tokens=2),
        api=(status(401, error_body("NOT_AUTHORISED", "token revoked")),),
    ),
    Fault(
        "revoked-always",
        "401 on every request",
        err(AuthenticationError, 1, api_requests=2, tokens=2),
        err(AuthenticationError, 1, api_requests=2, tokens=2),
        api=times(status(401, error_body("NOT_AUTHORISED", "token revoked"))),
    ),
    # -- bodies of a 2xx -------------------------------------------------------------------
    Fault(
        "truncated",
        "2xx body cut short (`Content-Length: 10000`, 20 bytes sent)",
        err(APIConnectionError, 1, unknown=True, created=1),
        err(APIConnectionError, 3),
        api=times(
            Behaviour("truncated", status=201, body=b'{"id": 1, "status": ', declared_length=10_000)
        ),
    ),
    Fault(
        "json-cut",
        "2xx JSON cut mid-way (length consistent)",
        err(ResponseValidationError, 1, unknown=True, created=1),
        err(ResponseValidationError, 1),
        api=(Behaviour("json cut", status=201, body=b'{"id": 1, "status": "RECEI'),),
    ),
    Fault(
        "not-json",
        "2xx plain text",
        err(ResponseValidationError, 1, unknown=True, created=1),
        err(ResponseValidationError, 1),
        api=(Behaviour("text", status=201, body=b"Created", headers=TEXT),),
    ),
    Fault(
        "html-200",
        "2xx HTML page (a captive portal)",
        err(ResponseValidationError, 1, unknown=True, created=1),
        err(ResponseValidationError, 1),
        api=(Behaviour("html", status=200, body=html("Login"), headers=HTML),),
    ),
    Fault(
        "empty-200",
        "2xx empty body",
        err(ResponseValidationError, 1, unknown=True, created=1),
        err(ResponseValidationError, 1),
        api=(Behaviour("empty", status=201, body=b""),),
    ),
    Fault(
        "oversized-valid",
        "2xx 4 MiB valid body (a huge unknown field)",
        ok(1, created=1),
        ok(1),
        api=(Behaviour("big valid", status=201, body=big_valid_body()),),
    ),
    Fault(
        "oversized-garbage",
        "2xx 4 MiB of non-JSON",
        err(ResponseValidationError, 1, unknown=True, created=1, check=bounded_text(2000)),
        err(ResponseValidationError, 1, check=bounded_text(2000)),
        api=(Behaviour("big garbage", status=200, body=b"x" * BIG, headers=TEXT),),
    ),
    Fault(
        "wrong-content-type",
        "2xx valid JSON labelled `text/html`",
        ok(1, created=1),
        ok(1),
        api=(
            Behaviour(
                "mislabelled",
                status=201,
                body=json.dumps(service_test_body(9)).encode(),
                headers=HTML,
            ),
        ),
    ),
    Fault(
        "missing-fields",
        "2xx JSON missing required fields",
        err(ResponseValidationError, 1, unknown=True, created=1, check=validation("status")),
        err(ResponseValidationError, 1, check=validation("status")),
        api=(json_answer("missing", 201, {"id": 5}),),
    ),
    Fault(
        "wrong-types",
        "2xx JSON with a field of the wrong type",
        err(ResponseValidationError, 1, unknown=True, created=1, check=validation("id")),
        err(ResponseValidationError, 1, check=validation("id")),
        api=(json_answer("types", 201, service_test_body(1, id="abc")),),
    ),
    # -- bodies of an error ----------------------------------------------------------------
    Fault(
        "403-waf-html",
        "403 HTML page (a WAF)",
        err(PermissionDeniedError, 1, check=status_is(403)),
        err(PermissionDeniedError, 1, check=status_is(403)),
        api=(status(403, html("Request blocked"), headers=HTML),),
    ),
    Fault(
        "404-empty",
        "404 with an empty body",
        err(NotFoundError, 1),
        err(NotFoundError, 1),
        api=(status(404),),
    ),
    Fault(
        "422-not-json",
        "422 with a non-JSON body",
        err(UnprocessableEntityError, 1),
        err(UnprocessableEntityError, 1),
        api=(status(422, b"invalid", headers=TEXT),),
    ),
    Fault(
        "418-undocumented",
        "An undocumented status (418)",
        err(APIStatusError, 1, check=status_is(418)),
        err(APIStatusError, 1, check=status_is(418)),
        api=(status(418, error_body("TEAPOT", "short and stout")),),
    ),
    Fault(
        "422-oversized",
        "422 with a 1 MiB message and 5000 messages",
        err(UnprocessableEntityError, 1, check=bounded_text(5000)),
        err(UnprocessableEntityError, 1, check=bounded_text(5000)),
        api=(
            status(
                422,
                error_body("INVALID_REQUEST", "m" * 1024 * 1024, *["more"] * 5000),
            ),
        ),
    ),
    Fault(
        "500-html-echo",
        "500 HTML page echoing the request's Authorization header",
        err(InternalServerError, 1, unknown=True, created=1),
        err(InternalServerError, 3),
        api=times(
            status(500, html("Error", "Authorization: {authorization}"), headers=HTML, echo=True)
        ),
    ),
    Fault(
        "400-json-echo",
        "400 JSON whose message echoes the bearer token",
        err(BadRequestError, 1),
        err(BadRequestError, 1),
        api=(
            status(
                400,
                error_body("MALFORMED_REQUEST", "bad header: {authorization}"),
                echo=True,
            ),
        ),
    ),
    Fault(
        "400-reason-echo",
        "400 whose reason phrase echoes the bearer token",
        err(BadRequestError, 1, check=status_is(400)),
        err(BadRequestError, 1, check=status_is(400)),
        api=(status(400, reason="Bad token {authorization}", echo=True),),
    ),
    Fault(
        "401-www-authenticate-echo",
        "401 on every request, `WWW-Authenticate` and reason phrase echoing the token",
        err(AuthenticationError, 1, api_requests=2, tokens=2),
        err(AuthenticationError, 1, api_requests=2, tokens=2),
        api=times(
            status(
                401,
                error_body("NOT_AUTHORISED", "token revoked"),
                reason="Unauthorized {authorization}",
                headers=(
                    ("content-type", "application/json"),
                    ("www-authenticate", 'Bearer error="invalid_token", token="{authorization}"'),
                ),
                echo=True,
            )
        ),
    ),
    Fault(
        "400-text-echo",
        "400 plain text echoing the bearer token",
        err(BadRequestError, 1),
        err(BadRequestError, 1),
        api=(status(400, b"rejected {authorization}", headers=TEXT, echo=True),),
    ),
]

CASES = [
    pytest.param((fault, op, kind), id=f"{fault.id}-{op}-{kind}")
    for fault in FAULTS
    for op in ("create", "get")
    for kind in KINDS
]


def client_kwargs(fault: Fault, bad: BadGateway, dead_url: str) -> dict[str, Any]:
    return {
        "client_id": CLIENT_ID,
        "client_secret": CANARY_SECRET,
        "base_url": dead_url + "/v1" if fault.dead_api else bad.base_url,
        "token_url": dead_url + "/v1/token" if fault.dead_token else bad.token_url,
        "retry": fault.policy,
        "timeout": fault.client_timeout or CLIENT_TIMEOUT,
    }


def sync_call(op: str) -> Callable[[FibreCafe], ServiceTest]:
    def call(client: FibreCafe) -> ServiceTest:
        if op == "create":
            return client.service_tests.create(**CREATE_ARGS, timeout=CALL_TIMEOUT)
        return client.service_tests.get(GET_ID, timeout=CALL_TIMEOUT)

    return call


def async_call(op: str) -> Callable[[AsyncFibreCafe], Any]:
    async def call(client: AsyncFibreCafe) -> ServiceTest:
        if op == "create":
            return await client.service_tests.create(**CREATE_ARGS, timeout=CALL_TIMEOUT)
        return await client.service_tests.get(GET_ID, timeout=CALL_TIMEOUT)

    return call


@pytest.mark.parametrize("case", CASES)
def test_fault(
    case: tuple[Fault, str, Kind],
    bad: BadGateway,
    dead_url: str,
    matrix: Matrix,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fault, op, kind = case
    caplog.set_level(logging.DEBUG)  # the root logger: httpx and httpcore records too
    expect: Expect = getattr(fault, op)
    bad.script("api", *fault.api)
    bad.script("token", *fault.token)
    outcome = run_bounded(
        kind,
        client_kwargs(fault, bad, dead_url),
        sync_call(op),
        async_call(op),
        limit=HANG_LIMIT,
        what=f"{op} under {fault.id}",
    )
    # Nothing the server was told to do was left unused by a call that should have used it.
    api_seen = bad.seen("api")
    if expect.error is None:
        assert outcome.error is None, f"expected success, got {outcome.error!r}"
        assert isinstance(outcome.result, ServiceTest)
        assert api_seen == (expect.attempts if expect.api_requests is None else expect.api_requests)
    else:
        error = outcome.error
        assert type(error) is expect.error, f"expected {expect.error.__name__}, got {error!r}"
        assert isinstance(error, FibreCafeError)
        attempts: int = error.attempts  # type: ignore[attr-defined]
        assert expect.allows(attempts), attempts
        if isinstance(error, APIError):
            if expect.unknown is None:  # racy: unknown unless the last attempt never left
                assert error.outcome_unknown is ("ConnectError" not in str(error))
            else:
                assert error.outcome_unknown is expect.unknown
            assert error.conversation_id
            assert error.method == ("POST" if op == "create" else "GET")
        expected_seen = attempts if expect.api_requests is None else expect.api_requests
        if fault.dead_api:
            expected_seen = 0
        assert api_seen == expected_seen
        if expect.check is not None:
            expect.check(error)
        assert_clean_exception(error)
    assert bad.created == (expect.created if op == "create" else 0)
    assert bad.created <= 1  # never more service tests than asked for
    if expect.tokens is not None:
        assert bad.seen("token") == expect.tokens
    waits = outcome.waits
    if expect.waits is not None:
        assert tuple(waits) == expect.waits
    assert all(0 <= w <= fault.policy.max_retry_after for w in waits), waits
    assert sum(waits) <= (fault.policy.deadline or 0)
    assert_clean_logs(caplog.records, caplog.text)
    matrix.add(fault.id, fault.title, op, expect.describe(), outcome.elapsed)
