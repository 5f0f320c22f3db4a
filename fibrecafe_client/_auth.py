"""OAuth2 client credentials as an ``httpx.Auth``: one token, fetched once, shared by everyone.

How it behaves:

- the first request fetches a token (lazily); it is reused until shortly before it expires,
  measured on the monotonic clock so wall-clock jumps cannot revive or kill it;
- single flight: however many threads (sync flow, ``threading.Lock``) or coroutines (async flow,
  ``anyio.Lock``, which also works when the client is used from a second event loop) need a
  token at once, exactly one token request is made and the others wait for it;
- a failing token endpoint is retried by the one fetch (with the client's retry policy) and its
  final failure is handed to every caller that was waiting for it, and to those arriving in
  the following second: no stampede, no N serial retries;
- a 401 from the API clears the token only if it is still the one that was refused
  (compare-and-clear), fetches a new one (single flight again) and replays the request once;
- locks are held around the token fetch only, never across a ``yield`` of the auth flow, so a
  cancelled API request cannot leave one held;
- after ``os.fork()`` the child drops the parent's locks and token state (a pid check).

The token request is sent through a separate ``send`` callable with no auth of its own, so it
never recurses into this flow. Tokens and the secret appear in no log, repr or exception text.

authlib is not used: the protocol parts needed here (RFC 6749 client authentication, the token
and error bodies) are a few lines, and authlib's Basic encoding skips the form-encoding RFC 6749
asks for.
"""

from __future__ import annotations

import base64
import copy
import math
import os
import re
import threading
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NoReturn, cast
from urllib.parse import quote, quote_plus, urlencode

import anyio
import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import _log_scrub
from ._deadline import DEADLINE_KEY, cut_timeouts
from ._logging import logger, redact
from ._retry import TRANSPORT_ERRORS, CallRetry, Outcome, RetryPolicy
from ._secret import Secret
from ._telemetry import retried, token_scope
from .errors import TokenConnectionError, TokenError, TokenTimeoutError

__all__ = ["AccessToken", "ClientCredentialsAuth"]

#: Lifetime assumed when the token response has no usable ``expires_in``.
MISSING_EXPIRY_TTL: Final = 60.0
#: Longest lifetime believed: a token said to last longer is refreshed after a day anyway, and a
#: huge ``expires_in`` (``1e12``, a 400-digit integer) cannot overflow the expiry arithmetic.
MAX_EXPIRY_TTL: Final = 86_400.0
#: Refresh this long before expiry at most (and never earlier than 10% of the lifetime).
DEFAULT_REFRESH_LEEWAY: Final = 60.0
#: What a bearer token may hold to be sent as ``Authorization: Bearer <token>``: visible ASCII.
#: A control character (``\n``, CR LF, NUL) would make httpx refuse the header after the request
#: was built, printing the token in its error, and wrongly report the outcome as unknown.
_HEADER_SAFE_TOKEN: Final = re.compile(r"[\x21-\x7e]+")
#: A failed fetch is also the answer for callers arriving this many seconds after it.
FAILURE_COOLDOWN: Final = 1.0
#: Replaced tokens still scrubbed from httpx's and httpcore's logs.
_RECENT_TOKENS: Final = 4
#: A fetch that failed with less than this left of its caller's budget failed for lack of time.
_BUDGET_SPENT: Final = 0.05


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A cached access token. ``value`` is kept out of the repr."""

    value: str = field(repr=False)
    token_type: str
    scope: str | None
    expires_in: float
    #: monotonic time after which the token is refreshed before use
    refresh_at: float
    #: wall-clock expiry, for display only
    expires_at: datetime


class _TokenBody(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    access_token: str = Field(min_length=1, repr=False)  # a traceback's locals show the model
    token_type: str | None = None
    expires_in: Any = None
    scope: str | None = None


class _OAuthErrorBody(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    error: str | None = None
    error_description: str | None = None


def _form_encode(value: str) -> str:
    # RFC 6749 section 2.3.1: id and secret are form-encoded before Basic encoding.
    return quote(value, safe="")


def parse_expires_in(value: object) -> float | None:
    """``expires_in`` as seconds: a number or a numeric string (both seen in the docs).

    Capped at :data:`MAX_EXPIRY_TTL`; the docs give no upper bound, so a huge value is believed
    only up to a day rather than refused.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())  # "1e999" is inf, never an OverflowError
        except ValueError:
            return None
    if isinstance(value, int) and value > MAX_EXPIRY_TTL:
        return MAX_EXPIRY_TTL  # before float(): float(10**400) raises OverflowError
    if isinstance(value, int | float) and not math.isnan(value) and value > 0:
        return min(float(value), MAX_EXPIRY_TTL)
    return None  # missing, garbage or 0: the caller assumes a short lifetime


class ClientCredentialsAuth(httpx.Auth):
    """Bearer tokens from the client-credentials grant, for ``client.send(..., auth=...)``.

    ``send`` / ``asend`` post the token request (they must not apply this auth again); the
    client that owns this object provides them. ``sleep`` / ``asleep`` and ``clock`` are
    injectable for tests.
    """

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str | Secret,
        scope: str | None = None,
        auth_method: str = "client_secret_basic",
        policy: RetryPolicy | None = None,
        timeout: httpx.Timeout | None = None,
        user_agent: str | None = None,
        send: Callable[[httpx.Request], httpx.Response] | None = None,
        asend: Callable[[httpx.Request], Awaitable[httpx.Response]] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        asleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock: Callable[[], float] = time.monotonic,
        refresh_leeway: float = DEFAULT_REFRESH_LEEWAY,
    ) -> None:
        if auth_method not in ("client_secret_basic", "client_secret_post"):
            raise ValueError(f"unsupported token auth method {auth_method!r}")
        self._token_url = token_url
        self._client_id = client_id
        # Held as a Secret from here on: no attribute or local shows it in a traceback.
        if not isinstance(client_secret, Secret):
            client_secret = Secret(client_secret)
        self._secret = client_secret
        self._scope = scope
        self._auth_method = auth_method
        self._policy = policy or RetryPolicy()
        self._timeout = timeout or httpx.Timeout(30.0, connect=10.0)
        self._user_agent = user_agent
        self._send = send
        self._asend = asend
        self._sleep = sleep
        self._asleep = asleep
        self._clock = clock
        self._leeway = refresh_leeway
        self._basic, self._secret_forms = _secret_forms(client_id, client_secret)
        self._reset()
        _log_scrub.register(self)

    def secrets(self) -> tuple[str, ...]:
        """The secret in each form it is sent in, and the tokens in use (for log scrubbing)."""
        token = self._token
        return (*self._secret_forms, *self._recent, *((token.value,) if token else ()))

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._alock = anyio.Lock()
        self._token: AccessToken | None = None
        # Tokens replaced lately: a late log line or echo may still carry one.
        self._recent: list[str] = []
        # Completed fetches so far, and the error of the last one if it failed: a caller that
        # waited while a fetch failed takes that failure instead of fetching again.
        self._generation = 0
        self._last_error: TokenError | None = None
        self._failed_until = 0.0

    def _check_fork(self) -> None:
        if os.getpid() != self._pid:
            self._reset()

    @property
    def wait_limit(self) -> float:
        """Longest a caller waits for another caller's token fetch before giving up."""
        t = self._timeout
        per_attempt = sum(v for v in (t.connect, t.read, t.write, t.pool) if v is not None)
        attempts = self._policy.max_attempts
        waits = attempts * max(self._policy.max_backoff, self._policy.max_retry_after)
        budget = per_attempt * attempts + waits
        if self._policy.deadline is not None:
            budget = min(budget, self._policy.deadline)
        return budget + 5.0

    def __repr__(self) -> str:
        return (
            f"ClientCredentialsAuth(token_url={self._token_url!r}, client_id={self._client_id!r}, "
            f"auth_method={self._auth_method!r}, scope={self._scope!r})"
        )

    def __reduce__(self) -> NoReturn:
        raise TypeError("ClientCredentialsAuth holds credentials and cannot be pickled")

    # -- the token request: pure building and parsing ---------------------------------------

    def build_token_request(
        self, timeout: httpx.Timeout | None = None, *, deadline: float | None = None
    ) -> httpx.Request:
        """The ``POST`` to the token endpoint (form body, client authentication).

        ``deadline`` (a time of the clock) bounds the whole exchange, body included.
        """
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Request-ID": str(uuid.uuid4()),
        }
        if self._user_agent:
            headers["User-Agent"] = self._user_agent
        if self._auth_method == "client_secret_post":
            form["client_id"] = self._client_id
            form["client_secret"] = self._secret.reveal()
        else:
            headers["Authorization"] = self._basic
        extensions: dict[str, object] = {"timeout": (timeout or self._timeout).as_dict()}
        if deadline is not None:
            extensions[DEADLINE_KEY] = deadline
        return httpx.Request(
            "POST",
            self._token_url,
            headers=headers,
            content=urlencode(form).encode(),
            extensions=extensions,
        )

    def _scrub(self, text: str | None) -> str | None:
        """``text`` without the secret in any form it was sent in, nor the cached token.

        A token endpoint may echo what it received: the raw or form-encoded secret, or the
        Basic header value (which decodes to the secret).
        """
        if text is None:
            return None
        token = (self._token.value,) if self._token is not None else ()
        return redact(text, (*self._secret_forms, *token))

    def _token_from(self, response: httpx.Response, sent_at: float) -> AccessToken:
        rid = response.request.headers.get("X-Request-ID")
        try:
            body = _TokenBody.model_validate_json(response.content)
        except ValidationError:
            raise TokenError(
                "the token endpoint answered without a usable access_token",
                status_code=response.status_code,
                request_id=rid,
            ) from None
        if _HEADER_SAFE_TOKEN.fullmatch(body.access_token) is None:
            raise TokenError(
                "the token endpoint issued an access token that cannot be sent in a header "
                "(control characters, spaces or non-ASCII); refused",
                status_code=response.status_code,
                request_id=rid,
            )
        token_type = body.token_type or "Bearer"
        if token_type.lower() != "bearer":
            raise TokenError(
                f"the token endpoint issued an unsupported token_type {token_type[:40]!r}",
                status_code=response.status_code,
                request_id=rid,
            )
        ttl = parse_expires_in(body.expires_in)
        if ttl is None:
            logger.debug(
                "token response without usable expires_in: assuming %.0fs", MISSING_EXPIRY_TTL
            )
            ttl = MISSING_EXPIRY_TTL
        leeway = min(self._leeway, ttl * 0.1)
        return AccessToken(
            value=body.access_token,
            token_type=token_type,
            scope=body.scope if body.scope is not None else self._scope,
            expires_in=ttl,
            refresh_at=sent_at + ttl - leeway,
            expires_at=datetime.now(UTC) + timedelta(seconds=ttl),
        )

    def _refusal(self, response: httpx.Response, attempts: int) -> TokenError:
        error = description = None
        try:
            parsed = _OAuthErrorBody.model_validate_json(response.content)
            error, description = parsed.error, parsed.error_description
        except ValidationError:
            pass
        status = response.status_code
        if error == "invalid_client":
            message = "the token endpoint refused the client credentials (check client_id/secret)"
        elif status == 403:
            message = "the token endpoint refused access (usually the WAF: check the IP allow-list)"
        elif status >= 500 or status == 429:
            message = f"the token endpoint is unavailable after {attempts} attempt(s)"
        else:
            message = "the token endpoint refused the request"
        return TokenError(
            message,
            error=self._scrub(error),
            description=self._scrub(description),
            status_code=status,
            attempts=attempts,
            request_id=response.request.headers.get("X-Request-ID"),
        )

    def _classify(self, outcome: Outcome, attempt: int) -> str | None:
        status = outcome.status_code if isinstance(outcome, httpx.Response) else outcome
        # Asking for a token twice is harmless: retry like a GET.
        reason = self._policy.should_retry("POST", status, attempt, replay_safe=True)
        shown = status if isinstance(status, int) else type(status).__name__
        logger.debug(
            "token request to %s -> %s (attempt %d%s)",
            self._token_url,
            shown,
            attempt,
            f", retry: {reason}" if reason else "",
        )
        return reason

    def _log_retry(self, attempt: int, wait: float, reason: str) -> None:
        retried(reason)
        logger.info(
            "retrying the token request in %.2fs (attempt %d failed: %s)", wait, attempt, reason
        )

    def _finish(
        self, outcome: Outcome, sent_at: float, attempts: int, retry: CallRetry, rid: str | None
    ) -> AccessToken:
        if isinstance(outcome, httpx.Response):
            if outcome.is_success:
                token = self._token_from(outcome, sent_at)
                logger.debug("fetched an access token (expires in %.0fs)", token.expires_in)
                return token
            raise self._refusal(outcome, attempts)
        # Not reached, or no answer: a connection failure (also a TokenError), not a refusal.
        cls = (
            TokenTimeoutError
            if isinstance(outcome, httpx.TimeoutException)
            else TokenConnectionError
        )
        error = cls(
            f"the token request to {self._token_url} failed after {attempts} attempt(s): "
            f"{type(outcome).__name__}: {self._scrub(str(outcome))}",
            attempts=attempts,
            request_id=rid,
        )
        left = retry.remaining()
        # A failure caused only by this caller's short budget is not an outage: callers with
        # more time must not be handed it (they fetch for themselves).
        error._budget_only = (  # pyright: ignore[reportPrivateUsage] - the SDK's own flag
            isinstance(outcome, httpx.TimeoutException)
            and retry.budget_limited
            and left is not None
            and left <= _BUDGET_SPENT
        )
        raise error from None  # the httpx error's .request carries the client credentials

    def _new_retry(self, budget: float | None) -> CallRetry:
        return CallRetry(
            self._policy,
            classify=self._classify,
            clock=self._clock,
            on_retry=self._log_retry,
            budget=budget,
        )

    def _budget(self, deadline: float | None) -> float | None:
        return None if deadline is None else deadline - self._clock()

    # -- the fetch, sync and async (thin over the pure parts above) -------------------------

    def _token_request(
        self, retry: CallRetry, ids: list[str], within: httpx.Timeout | None
    ) -> httpx.Request:
        request = self.build_token_request(
            retry.cap_timeout(_tighter(self._timeout, within)), deadline=retry.deadline_at()
        )
        ids.append(request.headers["X-Request-ID"])
        return request

    def _fetch_sync(
        self, deadline: float | None = None, within: httpx.Timeout | None = None
    ) -> AccessToken:
        if self._send is None:
            raise RuntimeError("this auth was built without a sync sender")
        send = self._send
        retry = self._new_retry(self._budget(deadline))
        sent: list[float] = []
        ids: list[str] = []

        def attempt() -> Outcome:
            sent.append(self._clock())
            try:
                return send(self._token_request(retry, ids, within))
            except TRANSPORT_ERRORS as exc:
                return exc

        with token_scope(sent, self._token_url):
            outcome = retry.run_sync(self._sleep, attempt)
            return self._finish(outcome, sent[-1], len(sent), retry, ids[-1] if ids else None)

    async def _fetch_async(
        self, deadline: float | None = None, within: httpx.Timeout | None = None
    ) -> AccessToken:
        if self._asend is None:
            raise RuntimeError("this auth was built without an async sender")
        asend = self._asend
        retry = self._new_retry(self._budget(deadline))
        sent: list[float] = []
        ids: list[str] = []

        async def attempt() -> Outcome:
            sent.append(self._clock())
            try:
                return await asend(self._token_request(retry, ids, within))
            except TRANSPORT_ERRORS as exc:
                return exc

        with token_scope(sent, self._token_url):
            outcome = await retry.run_async(self._asleep, attempt)
            return self._finish(outcome, sent[-1], len(sent), retry, ids[-1] if ids else None)

    # -- single flight ------------------------------------------------------------------------

    def _usable(self, stale: str | None) -> AccessToken | None:
        """The cached token if it can be used; clears it if it is the ``stale`` one."""
        token = self._token
        if token is None:
            return None
        if stale is not None and token.value == stale:
            self._token = None  # compare-and-clear: only the token that was refused
            return None
        return token if self._clock() < token.refresh_at else None

    def _shared_failure(self, seen: int) -> TokenError | None:
        """The last fetch's failure, for those who waited on it or came just after it."""
        if self._last_error is None:
            return None
        if self._generation != seen or self._clock() < self._failed_until:
            return copy.copy(self._last_error)
        return None

    def _record(self, token: AccessToken | None, error: TokenError | None) -> None:
        if token is not None:
            if self._token is not None:
                self._recent = [self._token.value, *self._recent][:_RECENT_TOKENS]
            self._token = token
        if error is not None and error._budget_only:  # pyright: ignore[reportPrivateUsage]
            error = None  # not an outage: the next waiter, with more time, fetches itself
        if error is not None:
            self._failed_until = self._clock() + FAILURE_COOLDOWN
        self._last_error = error
        self._generation += 1

    def _lock_wait(self, deadline: float | None) -> float:
        """How long a caller may wait for the lock: the wait limit, or less if its budget is."""
        left = self._budget(deadline)
        return self.wait_limit if left is None else max(0.0, min(self.wait_limit, left))

    @staticmethod
    def _lock_timeout(who: str, deadline: float | None) -> TokenError:
        if deadline is not None:
            return TokenTimeoutError(
                f"the call's deadline passed while waiting for another {who}'s token request"
            )
        return TokenError(f"timed out waiting for another {who}'s token request")

    def get_token_sync(
        self,
        *,
        stale: str | None = None,
        deadline: float | None = None,
        within: httpx.Timeout | None = None,
    ) -> AccessToken:
        """A usable token, fetching one (single flight) if needed. ``stale``: refused token.

        ``deadline`` (a time of the clock): the caller's; the lock wait and the fetch end by it.
        ``within``: the calling attempt's timeouts; no token request waits longer per phase.
        """
        self._check_fork()
        if stale is None and (cached := self._usable(None)) is not None:
            return cached  # fast path: no lock while a good token is cached
        seen = self._generation
        if not self._lock.acquire(timeout=self._lock_wait(deadline)):
            raise self._lock_timeout("thread", deadline)
        try:
            token = self._usable(stale)
            if token is not None:
                return token
            shared = self._shared_failure(seen)
            if shared is not None:
                raise shared
            try:
                token = self._fetch_sync(deadline, within)
            except TokenError as exc:
                self._record(None, exc)
                raise
            self._record(token, None)
            return token
        finally:
            self._lock.release()

    async def get_token_async(
        self,
        *,
        stale: str | None = None,
        deadline: float | None = None,
        within: httpx.Timeout | None = None,
    ) -> AccessToken:
        """Async :meth:`get_token_sync`."""
        self._check_fork()
        if stale is None and (cached := self._usable(None)) is not None:
            return cached
        seen = self._generation
        lock = self._alock
        try:
            with anyio.fail_after(self._lock_wait(deadline)):
                await lock.acquire()
        except TimeoutError:
            raise self._lock_timeout("task", deadline) from None
        try:
            token = self._usable(stale)
            if token is not None:
                return token
            shared = self._shared_failure(seen)
            if shared is not None:
                raise shared
            try:
                token = await self._fetch_async(deadline, within)
            except TokenError as exc:
                self._record(None, exc)
                raise
            self._record(token, None)
            return token
        finally:
            lock.release()

    def refresh_sync(self) -> AccessToken:
        """Fetch a fresh token now (replacing the cached one) and return it."""
        current = self._token
        return self.get_token_sync(stale=current.value if current else None)

    async def refresh_async(self) -> AccessToken:
        """Async :meth:`refresh_sync`."""
        current = self._token
        return await self.get_token_async(stale=current.value if current else None)

    # -- the httpx flows ------------------------------------------------------------------------

    @staticmethod
    def _authorize(request: httpx.Request, token: AccessToken, *, replay: bool) -> None:
        request.headers["Authorization"] = f"Bearer {token.value}"
        if replay and "X-Request-ID" in request.headers:
            request.headers["X-Request-ID"] = str(uuid.uuid4())  # a new HTTP request, a new id

    def _after_token(self, request: httpx.Request, deadline: float | None) -> None:
        """The request's timeouts cut to what the token fetch left of the deadline."""
        if deadline is not None:
            cut_timeouts(request, deadline - self._clock())

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        request.read()  # replayable after a 401
        deadline = _deadline_of(request)
        token = self.get_token_sync(deadline=deadline, within=_timeout_of(request))
        self._authorize(request, token, replay=False)
        self._after_token(request, deadline)
        response = yield request
        if response.status_code == 401:
            logger.debug("401 from the API: fetching a new token and replaying once")
            # Read the 401 first: it hands its connection back to the pool. Otherwise a 401
            # storm holds every pooled connection while the token request waits for one.
            response.read()
            fresh = self.get_token_sync(
                stale=token.value, deadline=deadline, within=_timeout_of(request)
            )
            self._authorize(request, fresh, replay=True)
            self._after_token(request, deadline)
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        deadline = _deadline_of(request)
        token = await self.get_token_async(deadline=deadline, within=_timeout_of(request))
        self._authorize(request, token, replay=False)
        self._after_token(request, deadline)
        response = yield request
        if response.status_code == 401:
            logger.debug("401 from the API: fetching a new token and replaying once")
            await response.aread()  # hands its connection back to the pool (see the sync flow)
            fresh = await self.get_token_async(
                stale=token.value, deadline=deadline, within=_timeout_of(request)
            )
            self._authorize(request, fresh, replay=True)
            self._after_token(request, deadline)
            yield request


def _deadline_of(request: httpx.Request) -> float | None:
    value = request.extensions.get(DEADLINE_KEY)
    return float(value) if isinstance(value, int | float) else None


def _timeout_of(request: httpx.Request) -> httpx.Timeout | None:
    value = request.extensions.get("timeout")
    if not isinstance(value, dict):
        return None
    phases = cast("dict[str, float | None]", value)
    return httpx.Timeout(
        connect=phases.get("connect"),
        read=phases.get("read"),
        write=phases.get("write"),
        pool=phases.get("pool"),
    )


def _tighter(own: httpx.Timeout, within: httpx.Timeout | None) -> httpx.Timeout:
    """Each phase the shorter of the two (None is no limit)."""
    if within is None:
        return own

    def pick(a: float | None, b: float | None) -> float | None:
        return b if a is None else a if b is None else min(a, b)

    return httpx.Timeout(
        connect=pick(own.connect, within.connect),
        read=pick(own.read, within.read),
        write=pick(own.write, within.write),
        pool=pick(own.pool, within.pool),
    )


def _secret_forms(client_id: str, secret: Secret) -> tuple[str, tuple[str, ...]]:
    """The Basic header value, and every form in which the secret may come back in an echo:
    raw, form-encoded, and inside the Basic value (which decodes to it). Computed here so that
    the constructor's frame never holds the secret as text."""
    pair = f"{_form_encode(client_id)}:{_form_encode(secret.reveal())}"
    basic = "Basic " + base64.b64encode(pair.encode()).decode()
    forms = (
        basic.removeprefix("Basic "),
        secret.reveal(),
        _form_encode(secret.reveal()),
        quote_plus(secret.reveal()),
    )
    return basic, forms
