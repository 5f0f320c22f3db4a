"""The sandbox gateway as a bare ASGI application: routing, faults on the way in, the handlers.

``SandboxApp`` is what uvicorn serves (and what a tenant can mount in their own ASGI server).
Its state lives on the event loop that serves it; the thread-safe controls (``reset``,
``close``) hop onto that loop, so a test thread can steer a sandbox served from another thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Final, Literal

from fibrecafe_client.models import ErrorCode

from ._asgi import (
    BodyTooLarge,
    ClientGone,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    drop_connection,
    read_request,
    send_response,
    server_transport,
)
from ._config import SandboxConfig, Webhook
from ._delivery import KciDelivery
from ._faults import DROPPED, Counters, FailureSpec, Faults, SandboxStats
from ._lifecycle import Lifecycle
from ._problems import PROBLEM_ROUTES, ProblemDesk, problem_route
from ._scenarios import DEFAULT_SCENARIO, PROBLEM_CODE_PATTERN, Scenario
from ._store import ServiceTestStore
from ._tokens import OAuthFailure, TokenIssuer
from ._validation import Invalid, validate_create

__all__ = [
    "ADMIN_PREFIX",
    "API_PREFIX",
    "SERVICE_TESTS_PATH",
    "SERVICE_TEST_ROUTE",
    "TOKEN_PATH",
    "SandboxApp",
    "error_response",
]

logger = logging.getLogger("fibrecafe_client.sandbox")

API_PREFIX: Final = "/v1"
TOKEN_PATH: Final = f"{API_PREFIX}/auth/tenant/access-token"
SERVICE_TESTS_PATH: Final = f"{API_PREFIX}/service-tests"
SERVICE_TEST_ROUTE: Final = f"{SERVICE_TESTS_PATH}/{{id}}"
ADMIN_PREFIX: Final = "/_sandbox"
UNMATCHED_ROUTE: Final = "(unmatched)"

_SERVICE_TEST_PATH = re.compile(re.escape(SERVICE_TESTS_PATH) + r"/([^/]+)")
_TEST_ID = re.compile(r"[0-9]{1,18}")
_NO_STORE: Final = (("cache-control", "no-store"), ("pragma", "no-cache"))
_BODYLESS_FAILURES: Final = frozenset({429, 503})
_STATUS_CODES: Final[dict[int, ErrorCode]] = {
    400: ErrorCode.MALFORMED_REQUEST,
    401: ErrorCode.NOT_AUTHORISED,
    404: ErrorCode.NOT_FOUND,
    422: ErrorCode.INVALID_REQUEST,
    501: ErrorCode.NOT_IMPLEMENTED,
}


def error_response(
    status: int,
    code: ErrorCode | str,
    messages: Iterable[str],
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    """The gateway's error body ``{uuid, code, messages}``."""
    body = {"uuid": str(uuid.uuid4()), "code": str(code), "messages": list(messages)}
    return Response.json(status, body, headers)


def _failure_response(spec: FailureSpec, endpoint: Literal["api", "token"]) -> Response:
    headers = () if spec.retry_after is None else (("retry-after", spec.retry_after),)
    if spec.status in _BODYLESS_FAILURES:
        return Response(spec.status, b"", headers)
    if endpoint == "token":
        error = "invalid_request" if spec.status < 500 else "server_error"
        return Response.json(spec.status, {"error": error}, headers)
    fallback = ErrorCode.GATEWAY_FAULT if spec.status >= 500 else ErrorCode.MALFORMED_REQUEST
    code = _STATUS_CODES.get(spec.status, fallback)
    return error_response(spec.status, code, ["Fault injected by the sandbox"], headers)


def _invalid(outcome: Invalid) -> Response:
    return error_response(outcome.status, _STATUS_CODES[outcome.status], outcome.messages)


def _parse_delay(raw: str | None, default: float, maximum: float) -> float | Invalid:
    if raw is None:
        return float(default)
    try:
        delay = float(raw)
    except ValueError:
        return Invalid(400, [f"X-Kci-Delay must be a number of seconds, got {raw!r}"])
    if not math.isfinite(delay) or not 0 <= delay <= maximum:
        return Invalid(422, [f"X-Kci-Delay must be between 0 and {maximum:g} seconds"])
    return delay


def _parse_scenario(raw: str | None) -> Scenario | Invalid:
    if raw is None or not raw.strip():
        return DEFAULT_SCENARIO
    try:
        return Scenario(raw.strip())
    except ValueError:
        known = ", ".join(s.value for s in Scenario)
        return Invalid(422, [f"Unknown X-Scenario {raw.strip()!r}; expected one of {known}"])


def _parse_problem_code(raw: str | None) -> str | Invalid | None:
    if raw is None or not raw.strip():
        return None
    if not PROBLEM_CODE_PATTERN.fullmatch(raw.strip()):
        return Invalid(422, ["X-Problem-Code must be an upper-case code such as UNKNOWN_FAULT"])
    return raw.strip()


class SandboxApp:
    """A fake Fibre Cafe gateway as an ASGI 3 application.

    Serves ``POST /v1/auth/tenant/access-token``, ``POST /v1/service-tests`` and
    ``GET /v1/service-tests/{id}`` with the gateway's shapes and status codes, moves tests
    through CVT-style scenarios, delivers KCIs to webhooks, and exposes the control API under
    ``/_sandbox/``. ``faults`` and ``stats`` are the in-process handles to the same knobs.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config: SandboxConfig = config if config is not None else SandboxConfig()
        self.faults: Faults = Faults(token_lifetime=self.config.token_lifetime)
        self.counters: Counters = Counters()
        self.tokens: TokenIssuer = TokenIssuer(self.config, self.faults)
        self.store: ServiceTestStore = ServiceTestStore()
        self.delivery: KciDelivery = KciDelivery(self.config, self.counters)
        self.lifecycle: Lifecycle = Lifecycle(self.store, self.delivery)
        self.problems: ProblemDesk = ProblemDesk(
            self.delivery, self.store.get, kci_delay=lambda: self.config.kci_delay
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._closing: asyncio.Event | None = None
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """API and token requests being handled right now (admin requests excluded)."""
        return self._in_flight

    @property
    def stats(self) -> SandboxStats:
        """A snapshot of the counters."""
        return self.counters.snapshot()

    def add_webhook(self, webhook: Webhook | str) -> Webhook:
        """Deliver KCIs emitted from now on to another webhook too (any thread)."""
        hook = webhook if isinstance(webhook, Webhook) else Webhook(webhook)
        self.delivery.add_webhook(hook)
        return hook

    def remove_webhook(self, webhook: Webhook) -> bool:
        """Stop delivering new KCIs to ``webhook`` (any thread)."""
        return self.delivery.remove_webhook(webhook)

    # --- lifecycle of the app itself ---

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        if self._loop is not None and self._loop.is_running():
            raise RuntimeError("a SandboxApp can only be served by one event loop at a time")
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._closing = asyncio.Event()

    def _on_loop(self, make: Callable[[], Coroutine[Any, Any, None]], timeout: float) -> bool:
        """Run ``make()`` on the serving loop; False (nothing run) when no loop is serving."""
        loop = self._loop
        if loop is None or loop.is_closed() or not loop.is_running():
            return False  # nothing can be running: every task lives on that loop
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError("called from the sandbox's own event loop: await the a* method")
        future = asyncio.run_coroutine_threadsafe(make(), loop)
        future.result(timeout + 1.0)
        return True

    async def areset(self, grace: float = 5.0) -> None:
        """Reset on the event loop: see :meth:`reset`."""
        await self.lifecycle.cancel_all(grace)
        await self.problems.cancel_all(grace)
        await self.delivery.cancel_all(grace)
        self._reset_state()

    def _reset_state(self) -> None:
        self.store.clear()
        self.problems.clear()
        self.faults.reset()
        self.counters.reset()
        self.delivery.reset_webhooks()
        self.delivery.knobs.reset()

    def reset(self, timeout: float = 5.0) -> None:
        """Back to a fresh state between tests (any thread but the sandbox's own loop).

        Stops every lifecycle timer and pending KCI delivery, forgets the service tests, restores
        every fault knob and the start-up webhooks, and zeroes the counters. Issued tokens stay
        valid and test ids keep increasing.
        """
        if not self._on_loop(lambda: self.areset(timeout), timeout):
            self._reset_state()

    async def aclose(self, grace: float = 5.0) -> None:
        """Shut down on the event loop: see :meth:`close`."""
        if self._closing is not None:
            self._closing.set()
        await self.lifecycle.cancel_all(grace)
        await self.problems.cancel_all(grace)
        await self.delivery.aclose(grace)

    def close(self, timeout: float = 5.0) -> None:
        """Stop every timer and delivery and close the KCI HTTP client (bounded).

        Requests waiting out an injected latency are answered 503 at once, so a server can stop
        without waiting for them.
        """
        self._on_loop(lambda: self.aclose(timeout), timeout)

    # --- ASGI ---

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            return
        self._bind_loop()
        try:
            request = await read_request(scope, receive)
        except ClientGone:
            return
        except BodyTooLarge:
            too_large = error_response(413, ErrorCode.MALFORMED_REQUEST, ["Request too large"])
            await send_response(send, too_large.with_headers([("connection", "close")]))
            return
        if request.path == ADMIN_PREFIX or request.path.startswith(ADMIN_PREFIX + "/"):
            from ._admin import handle_admin  # noqa: PLC0415 - keeps the modules acyclic

            await send_response(send, await handle_admin(self, request))
            return
        self._in_flight += 1
        try:
            await self._serve(request, send)
        finally:
            self._in_flight -= 1

    async def _pause(self, seconds: float) -> None:
        closing = self._closing
        if closing is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closing.wait(), seconds)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._bind_loop()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _serve(self, request: Request, send: Send) -> None:
        route, endpoint = self._route(request.path)
        if endpoint is None:
            self.counters.record_request(request.method, route, 404)
            await send_response(
                send, error_response(404, ErrorCode.NOT_FOUND, [f"No route for {request.path}"])
            )
            return
        latency = self.faults.api_latency if endpoint == "api" else self.faults.token_latency
        if latency > 0:
            await self._pause(latency)
        if self._closing is not None and self._closing.is_set():
            self.counters.record_request(request.method, route, 503)
            await send_response(send, Response(503, b"", (("connection", "close"),)))
            return
        fault = self.faults.take(endpoint)
        if fault == "drop":
            transport = server_transport(send)
            if transport is not None:
                # counted first: the client may look at the counters as soon as it is cut off
                self.counters.record_request(request.method, route, DROPPED)
                await drop_connection(transport)
                return
            logger.warning("this ASGI server cannot drop connections; answering 502 instead")
            fault = FailureSpec(502)
        if isinstance(fault, FailureSpec):
            response = _failure_response(fault, endpoint)
        elif endpoint == "token":
            response = self._token(request)
        else:
            response = self._api(request, route)
        self.counters.record_request(request.method, route, response.status)
        await send_response(send, response)

    @staticmethod
    def _route(path: str) -> tuple[str, Literal["api", "token"] | None]:
        if path == TOKEN_PATH:
            return TOKEN_PATH, "token"
        if path == SERVICE_TESTS_PATH:
            return SERVICE_TESTS_PATH, "api"
        if _SERVICE_TEST_PATH.fullmatch(path):
            return SERVICE_TEST_ROUTE, "api"
        if (problems := problem_route(path)) is not None:
            return problems, "api"
        return UNMATCHED_ROUTE, None

    # --- token endpoint ---

    def _token(self, request: Request) -> Response:
        if request.method != "POST":
            return Response.json(405, {"error": "invalid_request"}, [("allow", "POST")])
        if self.faults.token_down:
            return Response(503)
        if self.faults.token_garbage:
            page = b"<html><body><h1>Service maintenance</h1></body></html>"
            return Response(200, page, (("content-type", "text/html"),))
        result = self.tokens.issue(
            body=request.body,
            content_type=request.header("content-type"),
            authorization=request.header("authorization"),
        )
        if isinstance(result, OAuthFailure):
            logger.info("token request refused: %s (%s)", result.error, result.reason)
            return Response.json(400, {"error": result.error}, _NO_STORE)
        self.counters.add("tokens_issued")
        return Response.json(200, result.body(), _NO_STORE)

    # --- service tests ---

    def _api(self, request: Request, route: str) -> Response:
        echo = [
            (name, value)
            for name in ("x-request-id", "x-conversation-id")
            if (value := request.header(name))
        ]
        allowed = PROBLEM_ROUTES.get(route) or ("POST" if route == SERVICE_TESTS_PATH else "GET")
        if request.method != allowed:
            message = f"Method {request.method} is not allowed here"
            return error_response(
                405, ErrorCode.MALFORMED_REQUEST, [message], [("allow", allowed), *echo]
            )
        reason = self.tokens.check(request.header("authorization"))
        if reason is not None:
            return error_response(401, ErrorCode.NOT_AUTHORISED, [reason], echo)
        missing = [
            f"Missing mandatory header: {name}"
            for name in ("X-Request-ID", "X-Conversation-ID")
            if not (request.header(name) or "").strip()
        ]
        if missing:
            return error_response(400, ErrorCode.MALFORMED_REQUEST, missing, echo)
        if route in PROBLEM_ROUTES:
            return self.problems.handle(request, route).with_headers(echo)
        if route == SERVICE_TESTS_PATH:
            return self._create(request).with_headers(echo)
        return self._get(request.path.rsplit("/", 1)[1]).with_headers(echo)

    def _create(self, request: Request) -> Response:
        content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return error_response(
                400, ErrorCode.MALFORMED_REQUEST, ["Content-Type must be application/json"]
            )
        checked = validate_create(request.body)
        if isinstance(checked, Invalid):
            return _invalid(checked)
        scenario = _parse_scenario(request.header("x-scenario"))
        if isinstance(scenario, Invalid):
            return _invalid(scenario)
        delay = _parse_delay(
            request.header("x-kci-delay"), self.config.kci_delay, self.config.max_kci_delay
        )
        if isinstance(delay, Invalid):
            return _invalid(delay)
        problem_code = _parse_problem_code(request.header("x-problem-code"))
        if isinstance(problem_code, Invalid):
            return _invalid(problem_code)
        conversation_id = (request.header("x-conversation-id") or "").strip()
        test_id, body = self.store.create(
            checked,
            scenario=scenario,
            delay=delay,
            problem_code=problem_code,
            conversation_id=conversation_id,
        )
        self.counters.add("service_tests_created")
        self.lifecycle.start(test_id)
        return Response.json(201, body)

    def _get(self, raw_id: str) -> Response:
        found = self.store.get(int(raw_id)) if _TEST_ID.fullmatch(raw_id) else None
        if found is None:
            return error_response(404, ErrorCode.NOT_FOUND, [f"No service test with id {raw_id}"])
        return Response.json(200, found)
