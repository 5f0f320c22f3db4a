"""The one request path: build a request, send it under the retry policy, map the response.

Building requests and mapping responses are pure functions shared by both clients; the sync
and async pipelines differ only in how they send and sleep, and each is a few lines over
:class:`_Run`, which holds the state of one logical call.

Per logical call: one ``X-Conversation-ID`` (the caller's own, or a new UUID), stable across
retries. Per HTTP attempt: a fresh UUID ``X-Request-ID``. Every attempt is logged with method,
path, status, request id, attempt number and retry reason. No httpx, pydantic or JSON exception
leaves this module: each becomes a typed :mod:`~fibrecafe_client.errors` exception.
"""

from __future__ import annotations

import functools
import json
import logging
import platform
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar, cast

import httpx
from pydantic import ValidationError

from ._deadline import (
    DEADLINE_KEY,
    DEFAULT_MAX_RESPONSE_BYTES,
    BodyTooLarge,
    send_async,
    send_sync,
)
from ._logging import REDACTED, logger, redact, redact_headers
from ._retry import (
    TRANSPORT_ERRORS,
    CallRetry,
    Outcome,
    RetryPolicy,
    is_replay_safe,
    outcome_unknown,
)
from ._telemetry import call_scope, end_attempt, retried, start_attempt
from ._version import __version__
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ResponseTooLargeError,
    ResponseValidationError,
    TokenConnectionError,
    status_error_class,
)
from .models import ErrorCode, FibreCafeModel, GatewayError

__all__ = [
    "USER_AGENT",
    "AsyncPipeline",
    "Call",
    "Settings",
    "SyncPipeline",
    "build_request",
    "connection_error",
    "new_id",
    "parse_model",
    "status_error",
]

M = TypeVar("M", bound=FibreCafeModel)

USER_AGENT: Final = (
    f"fibrecafe-client/{__version__} python/{platform.python_version()} httpx/{httpx.__version__}"
)
_MIN_SCRUBBED: Final = 8  # shorter "tokens" are not scrubbed from text (too many false hits)
_MAX_LISTED_ERRORS: Final = 10
_SNIPPET: Final = 120
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Settings:
    """What a client contributes to every request (changed by ``with_options``)."""

    base_url: str
    timeout: httpx.Timeout
    retry: RetryPolicy
    default_headers: Mapping[str, str] = field(default_factory=dict[str, str])
    user_agent: str = USER_AGENT
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES


@dataclass(frozen=True, slots=True)
class Call:
    """One logical call, before any attempt: what to send and how to correlate it."""

    method: str
    path: str
    conversation_id: str
    body: bytes | None = None
    extra_headers: Mapping[str, str] = field(default_factory=dict[str, str])
    timeout: httpx.Timeout | None = None
    #: Seconds this call may take in all (a caller's budget, e.g. what is left of a wait()),
    #: on top of the policy's deadline: the tighter one applies.
    deadline: float | None = None


def new_id() -> str:
    """A fresh random UUID, as request and conversation ids."""
    return str(uuid.uuid4())


@functools.lru_cache(maxsize=1024)
def _parsed_url(url: str) -> httpx.URL:
    """``url`` parsed once: httpx parses and checks a URL string afresh for every request, a
    tenth of the client's CPU per call at many calls in flight; a poll asks for the same URL
    again and again. (``httpx.URL`` is immutable; an invalid URL raises and is not cached.)"""
    return httpx.URL(url)


def build_request(
    settings: Settings, call: Call, *, request_id: str, timeout: httpx.Timeout
) -> httpx.Request:
    """The ``httpx.Request`` of one attempt (pure; the auth adds the bearer token later)."""
    headers = {
        "Accept": "application/json",
        "User-Agent": settings.user_agent,
        **settings.default_headers,
        **call.extra_headers,
        "X-Request-ID": request_id,
        "X-Conversation-ID": call.conversation_id,
    }
    if call.body is not None:
        headers["Content-Type"] = "application/json"
    return httpx.Request(
        call.method,
        _parsed_url(settings.base_url + call.path),
        headers=headers,
        content=call.body,
        extensions={"timeout": timeout.as_dict()},
    )


def _ids(call: Call, request: httpx.Request | None, request_id: str | None) -> dict[str, Any]:
    return {
        "method": call.method,
        "url": str(request.url) if request is not None else None,
        "request_id": request_id,
        "conversation_id": call.conversation_id,
    }


def _body_detail(response: httpx.Response) -> str:
    content = response.content
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    size = f"{len(content)} bytes"
    stripped = content.lstrip()
    if "json" in ctype or stripped[:1] in (b"{", b"["):
        return f"invalid JSON body ({size}; truncated?)"
    if "html" in ctype or stripped[:1] == b"<":
        match = _TITLE.search(content[:4096])
        title = _SPACES.sub(" ", match.group(1).decode("utf-8", "replace")).strip() if match else ""
        return f"HTML body ({size})" + (f": {title[:_SNIPPET]!r}" if title else "")
    text = _SPACES.sub(" ", content[: _SNIPPET * 2].decode("utf-8", "replace")).strip()
    return f"non-JSON body ({ctype or 'no content type'}, {size}): {text[:_SNIPPET]!r}"


def _open_code(code: str) -> str:
    """A known gateway error code as its :class:`ErrorCode` member, else the raw string."""
    return ErrorCode(code) if code in ErrorCode.__members__ else code


def _salvage(data: object) -> tuple[str | None, list[str], str | None]:
    """Fields of an error body that is JSON but not exactly the documented shape."""
    if not isinstance(data, dict):
        return None, [], None
    fields = cast("dict[str, object]", data)
    raw_code = fields.get("code")
    code = _open_code(raw_code) if isinstance(raw_code, str) else None
    raw = fields.get("messages", fields.get("message"))
    if isinstance(raw, str):
        messages = [raw]
    elif isinstance(raw, list):
        messages = [m for m in cast("list[object]", raw) if isinstance(m, str)]
    else:
        messages = []
    raw_uuid = fields.get("uuid")
    error_uuid = raw_uuid if isinstance(raw_uuid, str) else None
    return code, messages, error_uuid


def read_error_body(
    response: httpx.Response,
) -> tuple[str | None, list[str], str | None, str | None]:
    """``(code, messages, uuid, detail)`` from an error response of any shape.

    ``detail`` describes a body that is not the gateway's JSON error (empty, HTML, truncated).
    """
    if not response.content.strip():
        return None, [], None, "empty body"
    try:
        body = GatewayError.model_validate_json(response.content)
    except ValidationError:
        pass
    else:
        messages = list(body.messages)
        extra = (body.model_extra or {}).get("message")
        if not messages and isinstance(extra, str):
            messages = [extra]  # e.g. an API gateway's {"message": "Forbidden"}
        return body.code, messages, body.uuid, None
    try:
        data = json.loads(response.content)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        return None, [], None, _body_detail(response)
    code, messages, error_uuid = _salvage(data)
    return code, messages, error_uuid, "error body not in the documented shape"


CLOSED_CLIENT: Final = (
    "the client is closed (its connection pool was closed by close()/aclose() on the client "
    "that owns it); create a new client"
)


def ensure_open(client: httpx.Client | httpx.AsyncClient) -> None:
    """Raise :class:`APIConnectionError` for a closed pool (httpx would raise RuntimeError)."""
    if client.is_closed:
        raise APIConnectionError(CLOSED_CLIENT)


class EventLoopError(httpx.NetworkError):
    """A connection could not be used because it belongs to another event loop.

    A network error for the retry policy: a GET is resent (the broken connection is dropped
    from the pool), a POST is not (it may have been sent).
    """

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"{detail}: a pooled connection was opened by another event loop, which has "
            "stopped; create the AsyncClient you pass as http_client in the event loop that "
            "uses it"
        )


def status_error(
    response: httpx.Response,
    *,
    call: Call,
    request_id: str | None,
    attempts: int,
    secrets: Sequence[str] = (),
) -> APIStatusError:
    """The typed exception for a non-success response (pure).

    ``secrets`` (the bearer tokens sent) are replaced by ``[redacted]`` wherever the body
    echoes them: a proxy or gateway that reflects the request must not put a token in the
    error text.
    """
    status = response.status_code
    code, messages, error_uuid, detail = read_error_body(response)
    if secrets:
        messages = [redact(m, secrets) for m in messages]
        detail = detail and redact(detail, secrets)
        error_uuid = error_uuid and redact(error_uuid, secrets)
        if code is not None and not isinstance(code, ErrorCode):
            code = redact(code, secrets)
    # The reason phrase is the server's text too: a proxy may echo the token in it.
    reason = redact(response.reason_phrase, secrets) if secrets else response.reason_phrase
    message = f"{reason[:_SNIPPET] or 'HTTP error'} ({call.method} {call.path})"
    if detail:
        message += f"; {detail}"
    if status == 403 and code is None:
        message += "; usually the gateway's WAF: check that your egress IP is allow-listed"
    return status_error_class(status)(
        message,
        status_code=status,
        code=code,
        messages=messages,
        uuid=error_uuid,
        response=response,
        outcome_unknown=outcome_unknown(call.method, status),
        attempts=attempts,
        **_ids(call, response.request, request_id),
    )


def connection_error(
    exc: Exception,
    *,
    call: Call,
    request: httpx.Request | None,
    request_id: str | None,
    attempts: int,
) -> APIConnectionError:
    """The typed exception for an httpx failure (pure)."""
    cls: type[APIConnectionError] = APIConnectionError
    if isinstance(exc, httpx.TimeoutException):
        cls = APITimeoutError
    elif isinstance(exc, BodyTooLarge):
        cls = ResponseTooLargeError
    text = str(exc)
    detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    plural = "s" if attempts != 1 else ""
    return cls(
        f"{call.method} {call.path} failed after {attempts} attempt{plural} ({detail})",
        outcome_unknown=outcome_unknown(call.method, exc),
        attempts=attempts,
        **_ids(call, request, request_id),
    )


def _validation_errors(exc: ValidationError) -> list[str]:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    listed = [
        f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}"
        for e in errors[:_MAX_LISTED_ERRORS]
    ]
    if len(errors) > _MAX_LISTED_ERRORS:
        listed.append(f"... and {len(errors) - _MAX_LISTED_ERRORS} more")
    return listed


def parse_model(
    response: httpx.Response,
    model: type[M],
    *,
    call: Call,
    request_id: str | None,
    attempts: int,
) -> M:
    """The model from a 2xx response, or :class:`ResponseValidationError` (pure)."""
    try:
        obj = model.model_validate_json(response.content)
    except ValidationError as exc:
        unknown = not is_replay_safe(call.method)  # a 2xx POST was processed
        message = f"the {response.status_code} body of {call.method} {call.path} is not a valid "
        message += model.__name__
        if not response.content.strip():
            message += " (empty body)"
        if unknown:
            message += (
                "; the request WAS processed, so it was not resent: find the result through "
                f"the KCIs or support using conversation id {call.conversation_id}"
            )
        raise ResponseValidationError(
            message,
            status_code=response.status_code,
            errors=_validation_errors(exc),
            response=response,
            attempts=attempts,
            outcome_unknown=unknown,
            **_ids(call, response.request, request_id),
        ) from None
    attach = getattr(obj, "_attach_response", None)
    if attach is not None:
        attach(response, request_id=request_id, conversation_id=call.conversation_id)
    return obj


class NothingSentError(httpx.ConnectError):
    """The connection failed while the request head was being written: nothing was sent.

    httpcore reports it through its ``trace`` extension (``send_request_headers.failed``); a
    head is a few hundred bytes written in one send on an idle connection, so a failed write
    means the server (which had closed a stale pooled connection) received none of it. A
    ``ConnectError`` for the retry rules: even a POST may be resent.
    """


class _HeadTrace:
    """httpcore's trace events of one attempt: did writing the request head fail?"""

    def __init__(self) -> None:
        self.head_failed = False
        self.head_sent = False

    def __call__(self, name: str, info: Mapping[str, Any]) -> None:
        if name.endswith(".send_request_headers.failed"):
            self.head_failed = True
        elif name.endswith(".send_request_headers.complete"):
            self.head_sent = True

    async def atrace(self, name: str, info: Mapping[str, Any]) -> None:
        self(name, info)

    def nothing_sent(self) -> bool:
        return self.head_failed and not self.head_sent


class _Run:
    """The state of one logical call across its attempts (shared by both pipelines)."""

    def __init__(
        self, settings: Settings, call: Call, clock: Callable[[], float], *, is_async: bool
    ) -> None:
        self.settings = settings
        self.call = call
        self._is_async = is_async
        self._trace = _HeadTrace()
        self.attempts = 0
        self.request: httpx.Request | None = None
        self.request_id: str | None = None
        # Bearer tokens this call sent: scrubbed from error text if the gateway echoes them.
        self.tokens: list[str] = []
        self.retry = CallRetry(
            settings.retry,
            classify=self._classify,
            clock=clock,
            on_retry=self._log_retry,
            on_give_up=self._log_give_up,
            budget=call.deadline,
        )

    def check_open(self, client: httpx.Client | httpx.AsyncClient) -> None:
        if client.is_closed:
            raise APIConnectionError(
                CLOSED_CLIENT, attempts=self.attempts, **_ids(self.call, None, None)
            )

    def next_request(self) -> httpx.Request:
        self.attempts += 1
        self.request_id = new_id()
        timeout = self.retry.cap_timeout(self.call.timeout or self.settings.timeout)
        self.request = build_request(
            self.settings, self.call, request_id=self.request_id, timeout=timeout
        )
        deadline = self.retry.deadline_at()
        if deadline is not None:
            self.request.extensions[DEADLINE_KEY] = deadline
        self._trace = _HeadTrace()
        trace = self._trace.atrace if self._is_async else self._trace
        self.request.extensions["trace"] = trace
        start_attempt(self.request, self.attempts)
        return self.request

    def failed(self, request: httpx.Request, exc: Exception) -> Outcome:
        """Record a transport failure, as :class:`NothingSentError` when provably unsent."""
        if self._trace.nothing_sent() and not isinstance(exc, httpx.ConnectError):
            text = str(exc) or type(exc).__name__
            exc = NothingSentError(
                f"the connection was closed before the request was sent (a stale pooled "
                f"connection?): {text}",
                request=request,
            )
        return self.record(request, exc)

    def token_failed(self, exc: TokenConnectionError) -> None:
        """Say which call a token endpoint outage stopped (nothing reached the API)."""
        exc.method = self.call.method
        exc.url = str(self.request.url) if self.request is not None else None
        exc.conversation_id = self.call.conversation_id

    def record(self, request: httpx.Request, outcome: Outcome) -> Outcome:
        end_attempt(outcome)
        # A 401 replay gave the request a new id; report the one the gateway saw last.
        self.request_id = request.headers.get("X-Request-ID", self.request_id)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("request headers: %s", redact_headers(request.headers.items()))
        if "Authorization" in request.headers:
            token = request.headers["Authorization"].partition(" ")[2].strip()
            if len(token) >= _MIN_SCRUBBED and token != REDACTED:
                self.tokens.append(token)
            # Errors and results keep the response (and so this request): drop the token.
            request.headers["Authorization"] = REDACTED
        return outcome

    def _classify(self, outcome: Outcome, attempt: int) -> str | None:
        status = outcome.status_code if isinstance(outcome, httpx.Response) else outcome
        reason = self.settings.retry.should_retry(self.call.method, status, attempt)
        logger.debug(
            "%s %s -> %s (attempt %d, request_id=%s, conversation_id=%s, retry: %s)",
            self.call.method,
            self.call.path,
            status if isinstance(status, int) else type(status).__name__,
            attempt,
            self.request_id,
            self.call.conversation_id,
            reason or "no",
        )
        return reason

    def _log_retry(self, attempt: int, wait: float, reason: str) -> None:
        retried(reason)
        logger.info(
            "retrying %s %s in %.2fs: attempt %d of %d failed with %s "
            "(request_id=%s, conversation_id=%s)",
            self.call.method,
            self.call.path,
            wait,
            attempt,
            self.settings.retry.max_attempts,
            reason,
            self.request_id,
            self.call.conversation_id,
        )

    def _log_give_up(self, attempt: int, wait: float, reason: str) -> None:
        logger.info(
            "not retrying %s %s after %s: waiting %.2fs would pass the %ss deadline "
            "(attempt %d, request_id=%s, conversation_id=%s)",
            self.call.method,
            self.call.path,
            reason,
            wait,
            self.retry.deadline,
            attempt,
            self.request_id,
            self.call.conversation_id,
        )

    def finish(self, outcome: Outcome, model: type[M]) -> M:
        call, rid, attempts = self.call, self.request_id, self.attempts
        if isinstance(outcome, httpx.Response):
            if outcome.is_success:
                return parse_model(outcome, model, call=call, request_id=rid, attempts=attempts)
            raise status_error(
                outcome, call=call, request_id=rid, attempts=attempts, secrets=self.tokens
            )
        raise connection_error(
            outcome, call=call, request=self.request, request_id=rid, attempts=attempts
        ) from outcome


class SyncPipeline:
    """Sends calls through an ``httpx.Client`` (``client()`` returns it, per call)."""

    def __init__(
        self,
        client: Callable[[], httpx.Client],
        auth: httpx.Auth,
        settings: Settings,
        *,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
    ) -> None:
        self._client = client
        self._auth = auth
        self.settings = settings
        self.sleep = sleep
        self.clock = clock

    def with_settings(self, settings: Settings) -> SyncPipeline:
        """A pipeline with other settings, sharing the client and the token cache."""
        return SyncPipeline(self._client, self._auth, settings, sleep=self.sleep, clock=self.clock)

    def request(self, call: Call, model: type[M]) -> M:
        """Run ``call`` under the retry policy and return its parsed result."""
        run = _Run(self.settings, call, self.clock, is_async=False)
        with call_scope(run) as scope:
            outcome = run.retry.run_sync(self.sleep, lambda: self._attempt(run))
            return scope.done(run.finish(outcome, model))

    def _attempt(self, run: _Run) -> Outcome:
        client = self._client()
        run.check_open(client)
        request = run.next_request()
        try:
            response = send_sync(
                client,
                request,
                auth=self._auth,
                clock=self.clock,
                max_bytes=self.settings.max_response_bytes,
            )
        except TRANSPORT_ERRORS as exc:
            return run.failed(request, exc)
        except TokenConnectionError as exc:
            run.token_failed(exc)
            raise
        return run.record(request, response)


class AsyncPipeline:
    """Sends calls through an ``httpx.AsyncClient``."""

    def __init__(
        self,
        client: Callable[[], httpx.AsyncClient],
        auth: httpx.Auth,
        settings: Settings,
        *,
        sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float],
    ) -> None:
        self._client = client
        self._auth = auth
        self.settings = settings
        self.sleep = sleep
        self.clock = clock

    def with_settings(self, settings: Settings) -> AsyncPipeline:
        """A pipeline with other settings, sharing the client and the token cache."""
        return AsyncPipeline(self._client, self._auth, settings, sleep=self.sleep, clock=self.clock)

    async def request(self, call: Call, model: type[M]) -> M:
        """Run ``call`` under the retry policy and return its parsed result."""
        run = _Run(self.settings, call, self.clock, is_async=True)
        with call_scope(run) as scope:
            outcome = await run.retry.run_async(self.sleep, lambda: self._attempt(run))
            return scope.done(run.finish(outcome, model))

    async def _attempt(self, run: _Run) -> Outcome:
        client = self._client()
        run.check_open(client)
        request = run.next_request()
        try:
            response = await send_async(
                client,
                request,
                auth=self._auth,
                clock=self.clock,
                max_bytes=self.settings.max_response_bytes,
            )
        except TRANSPORT_ERRORS as exc:
            return run.failed(request, exc)
        except TokenConnectionError as exc:
            run.token_failed(exc)
            raise
        except RuntimeError as exc:
            if "loop" not in str(exc):
                raise
            # A pooled connection of a user's AsyncClient opened by another (stopped) loop.
            return run.record(request, EventLoopError(str(exc)))
        return run.record(request, response)
