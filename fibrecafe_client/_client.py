"""``FibreCafe`` and ``AsyncFibreCafe``: configuration, lifecycle, ``with_options``, resources.

One HTTP connection pool and one token cache per client, shared by its ``with_options`` copies.

Who closes the pool:

- a client that built its own ``httpx`` client owns it: ``close()``/``aclose()`` (or leaving the
  ``with`` block) closes it, and with it every copy made by ``with_options``;
- a copy never closes the shared pool: its ``close()`` does nothing;
- an ``http_client=`` you pass stays yours: the SDK never closes it; close it yourself.

After ``os.fork()``, a pool the SDK owns is replaced in the child (sockets inherited from the
parent must not be shared), and the token cache starts empty there.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Generic, NoReturn, Self, TypeVar

import anyio
import httpx

from ._aiohttp import HttpBackend, aiohttp_http_client
from ._auth import AccessToken, ClientCredentialsAuth
from ._config import DEFAULT_TIMEOUT, ClientConfig, Environment, TokenAuthMethod, resolve_config
from ._deadline import DEFAULT_MAX_RESPONSE_BYTES, send_async, send_sync
from ._logging import configure_from_env
from ._owned_clients import OwnedAsyncClient, OwnedClient
from ._pipeline import USER_AGENT, AsyncPipeline, Settings, SyncPipeline, ensure_open
from ._retry import RetryPolicy
from ._secret import conceal
from .errors import APIConnectionError, ConfigurationError
from .resources import AsyncServiceProblems, AsyncServiceTests, ServiceProblems, ServiceTests

if TYPE_CHECKING:
    import asyncio

__all__ = ["AsyncFibreCafe", "FibreCafe", "TokenInfo"]

_C = TypeVar("_C", httpx.Client, httpx.AsyncClient)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What :meth:`FibreCafe.check_credentials` learnt about the token. Holds no token."""

    token_type: str
    scope: str | None
    expires_in: float
    expires_at: datetime

    @classmethod
    def _of(cls, token: AccessToken) -> TokenInfo:
        return cls(
            token_type=token.token_type,
            scope=token.scope,
            expires_in=token.expires_in,
            expires_at=token.expires_at,
        )


class _Pool(Generic[_C]):
    """The httpx client shared by a client and its copies; rebuilt after a fork if ours.

    An async pool also follows the event loop (``per_loop``): its connections belong to the
    loop that opened them. A request from another loop once that one has stopped gets a new
    pool (if ours); one from a second loop while the first still runs is refused with a clear
    error, since httpx connections cannot be shared between running loops.
    """

    def __init__(self, client: _C | None, factory: Callable[[], _C], *, per_loop: bool = False):
        self.owned = client is None
        self._factory: Callable[[], _C] = factory
        self._client: _C = factory() if client is None else client
        self._pid = os.getpid()
        self._per_loop = per_loop
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._loop_lock = threading.Lock()

    def get(self) -> _C:
        if self.owned and os.getpid() != self._pid:
            # Forked: the parent's sockets are not ours to use (or close).
            self._client = self._factory()
            self._pid = os.getpid()
            self._loop = None
        return self._client

    def for_request(self) -> _C:
        """The pool to send a request with from the current event loop (see the class docs)."""
        client = self.get()
        if not self._per_loop:
            return client
        import asyncio  # noqa: PLC0415 - async clients only: keeps it out of the SDK's import

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on asyncio (trio): nothing to follow
            return client
        if self._loop is not None and self._loop() is loop:
            return client
        with self._loop_lock:
            owner = self._loop() if self._loop is not None else None
            if owner is loop:
                return self._client
            if owner is not None and owner.is_running() and not owner.is_closed():
                raise APIConnectionError(
                    f"{self._who} is in use by another event loop that is still running, and "
                    "httpx connections cannot be shared between running event loops: create "
                    "one AsyncFibreCafe per event loop (or share a FibreCafe between threads)"
                )
            if self._loop is not None and self.owned and not self._client.is_closed:
                # The connections belong to a loop that has stopped: start a new pool here.
                self._client = self._factory()
            self._loop = weakref.ref(loop)
            return self._client

    def settled(self) -> _C:
        """:meth:`get`, but a pool of ours whose event loop has closed is replaced first: its
        connections went with that loop and cannot even be closed from another one."""
        if self._per_loop and self._loop is not None and self.owned:
            owner = self._loop()
            if (owner is None or owner.is_closed()) and not self._client.is_closed:
                self._client = self._factory()
                self._loop = None
        return self.get()

    @property
    def _who(self) -> str:
        return "this AsyncFibreCafe" if self.owned else "the http_client of this AsyncFibreCafe"


def _settings(config: ClientConfig, max_response_bytes: int) -> Settings:
    return Settings(
        base_url=config.base_url,
        timeout=config.timeout,
        retry=config.retry,
        default_headers=dict(config.default_headers),
        user_agent=USER_AGENT,
        max_response_bytes=max_response_bytes,
    )


def _check_max_bytes(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
        raise ConfigurationError("max_response_bytes must be an int of at least 1024 (bytes)")
    return value


def _auth(
    config: ClientConfig,
    *,
    clock: Callable[[], float],
    send: Callable[[httpx.Request], httpx.Response] | None = None,
    asend: Callable[[httpx.Request], Awaitable[httpx.Response]] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    asleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> ClientCredentialsAuth:
    return ClientCredentialsAuth(
        token_url=config.token_url,
        client_id=config.client_id,
        client_secret=config.client_secret,
        scope=config.scope,
        auth_method=config.token_auth_method,
        policy=config.retry,
        timeout=config.timeout,
        user_agent=USER_AGENT,
        send=send,
        asend=asend,
        sleep=sleep,
        asleep=asleep,
        clock=clock,
    )


class _ClientBase:
    """What both clients share that does no I/O: settings, repr, pickling refusal."""

    _config: ClientConfig
    _owner: bool

    @property
    def base_url(self) -> str:
        """The gateway base URL, e.g. ``https://cvt.fibregateway.com/v1``."""
        return self._config.base_url

    @property
    def token_url(self) -> str:
        """The token endpoint the client credentials are sent to."""
        return self._config.token_url

    @property
    def environment(self) -> str | None:
        """``"prod"`` or ``"cvt"`` when chosen by name, else None."""
        return self._config.environment

    @property
    def timeout(self) -> httpx.Timeout:
        """The default timeout of each HTTP attempt."""
        return self._config.timeout

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy of this client."""
        return self._config.retry

    @property
    def max_retries(self) -> int:
        """Shortcut to ``retry.max_retries``."""
        return self._config.retry.max_retries

    @property
    def default_headers(self) -> Mapping[str, str]:
        """Headers sent with every call (besides the SDK's own)."""
        return dict(self._config.default_headers)

    def __repr__(self) -> str:
        c = getattr(self, "_config", None)
        if c is None:  # construction failed part-way (a traceback tool may still print us)
            return f"{type(self).__name__}(<not configured>)"
        return (
            f"{type(self).__name__}(base_url={c.base_url!r}, "
            f"token_host={httpx.URL(c.token_url).netloc.decode('ascii')!r}, "
            f"client_id={c.client_id!r}, "
            f"token_auth_method={c.token_auth_method!r}, max_retries={c.retry.max_retries})"
        )

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"{type(self).__name__} holds credentials and cannot be pickled")


def _check_http_client(value: object, expected: type[httpx.Client | httpx.AsyncClient]) -> None:
    if value is not None and not isinstance(value, expected):
        raise ConfigurationError(
            f"http_client must be an {expected.__module__}.{expected.__qualname__}, "
            f"not {type(value).__name__}"
        )


def _async_factory(
    config: ClientConfig, backend: object, http_client: object
) -> Callable[[], httpx.AsyncClient]:
    """What builds the async client's own pool: httpx's, or aiohttp's (``http_backend``)."""
    if backend == "httpx":
        return lambda: OwnedAsyncClient(timeout=config.timeout, follow_redirects=False)
    if backend != "aiohttp":
        raise ConfigurationError(f"http_backend must be 'httpx' or 'aiohttp', not {backend!r}")
    if http_client is not None:
        raise ConfigurationError(
            "pass either http_client or http_backend='aiohttp', not both (for an aiohttp pool "
            "of your own: http_client=fibrecafe_client.aiohttp_http_client(...))"
        )
    # The pool is built at construction, so a missing extra is a ConfigurationError here.
    return lambda: aiohttp_http_client(timeout=config.timeout)


class FibreCafe(_ClientBase):
    """The synchronous Fibre Cafe client. Thread-safe; make one per process and share it.

    Settings come from the arguments, else from ``FIBRECAFE_CLIENT_ID``,
    ``FIBRECAFE_CLIENT_SECRET``, ``FIBRECAFE_ENVIRONMENT`` / ``FIBRECAFE_BASE_URL``,
    ``FIBRECAFE_TOKEN_URL`` and ``FIBRECAFE_SCOPE``; a missing or invalid one raises
    :class:`~fibrecafe_client.ConfigurationError` here. ``max_retries`` overrides the count of
    ``retry``. An ``http_client`` you pass (for proxies, TLS, transports) is used for every
    request, token requests included, with the SDK's own headers, auth and timeouts, and is
    never closed by the SDK. ``max_response_bytes`` caps what a response body may decode to
    (default 64 MiB; past it, :class:`~fibrecafe_client.ResponseTooLargeError` and nothing more
    is read: a decompression bomb cannot exhaust memory). ``sleep`` and ``clock`` (the wait
    between retries and polls, and the monotonic clock) exist for tests.

    Every keyword and its default is described in the configuration guide. No request is made
    here: the first token is fetched by the first call.

    Raises:
        ConfigurationError: a credential is missing or a setting is invalid (the message names
            it and never contains the secret).

    Examples:
        >>> from fibrecafe_client import FibreCafe
        >>> client = FibreCafe("my-id", "my-secret", environment="cvt")
        >>> client.base_url
        'https://cvt.fibregateway.com/v1'
        >>> client.with_options(max_retries=0).max_retries
        0
        >>> client.close()
    """

    service_tests: ServiceTests
    service_problems: ServiceProblems

    def __init__(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        environment: Environment | None = None,
        base_url: str | httpx.URL | None = None,
        token_url: str | None = None,
        scope: str | None = None,
        token_auth_method: TokenAuthMethod = "client_secret_basic",  # noqa: S107 - a method name
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
        allow_insecure_http: bool = False,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        client_secret = conceal(client_secret)  # type: ignore[assignment] # no text in this frame
        configure_from_env()
        config = resolve_config(
            client_id,
            client_secret,
            environment=environment,
            base_url=base_url,
            token_url=token_url,
            scope=scope,
            token_auth_method=token_auth_method,
            timeout=timeout,
            max_retries=max_retries,
            retry=retry,
            default_headers=default_headers,
            allow_insecure_http=allow_insecure_http,
        )
        _check_http_client(http_client, httpx.Client)
        cap = _check_max_bytes(max_response_bytes)
        pool: _Pool[httpx.Client] = _Pool(
            http_client, lambda: OwnedClient(timeout=config.timeout, follow_redirects=False)
        )
        the_clock = clock or time.monotonic
        the_sleep = sleep or time.sleep

        def send_token_request(request: httpx.Request) -> httpx.Response:
            client = pool.get()
            ensure_open(client)
            # auth=None: the token request must not go through the bearer auth (no recursion).
            return send_sync(client, request, auth=None, clock=the_clock, max_bytes=cap)

        auth = _auth(config, clock=the_clock, send=send_token_request, sleep=the_sleep)
        pipeline = SyncPipeline(
            pool.get, auth, _settings(config, cap), sleep=the_sleep, clock=the_clock
        )
        self._setup(config, pool, auth, pipeline, owner=True)

    def _setup(
        self,
        config: ClientConfig,
        pool: _Pool[httpx.Client],
        auth: ClientCredentialsAuth,
        pipeline: SyncPipeline,
        *,
        owner: bool,
    ) -> None:
        self._config = config
        self._pool = pool
        self._auth = auth
        self._pipeline = pipeline
        self._owner = owner
        self.service_tests = ServiceTests(pipeline)
        self.service_problems = ServiceProblems(pipeline)

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> FibreCafe:
        """A copy with other settings that shares this client's pool and token cache.

        ``default_headers`` are merged over the current ones. Closing the copy does not close
        the shared pool; closing this client does (and makes the copy unusable).
        """
        config = self._config.with_options(
            timeout=timeout, max_retries=max_retries, retry=retry, default_headers=default_headers
        )
        clone = object.__new__(FibreCafe)
        cap = self._pipeline.settings.max_response_bytes
        pipeline = self._pipeline.with_settings(_settings(config, cap))
        clone._setup(config, self._pool, self._auth, pipeline, owner=False)
        return clone

    def check_credentials(self) -> TokenInfo:
        """Fetch a fresh token now (it replaces the cached one) and describe it.

        Raises :class:`~fibrecafe_client.TokenError` when the credentials are refused.
        """
        return TokenInfo._of(self._auth.refresh_sync())  # pyright: ignore[reportPrivateUsage]

    @property
    def is_closed(self) -> bool:
        """True once the connection pool has been closed."""
        return self._pool.get().is_closed

    def close(self) -> None:
        """Close the connection pool if this client owns it (see the module docs)."""
        if self._owner and self._pool.owned:
            self._pool.get().close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncFibreCafe(_ClientBase):
    """The asynchronous Fibre Cafe client (asyncio or trio, via anyio).

    Same settings as :class:`FibreCafe`; ``http_client`` is an ``httpx.AsyncClient`` and
    ``sleep`` an async function. Use it from one event loop at a time (an httpx limitation).

    ``http_backend="aiohttp"`` makes the client's own pool aiohttp's (the ``aiohttp`` extra),
    several times faster with many calls in flight; every setting and guarantee is the same
    (see :func:`~fibrecafe_client.aiohttp_http_client`). It cannot be combined with
    ``http_client`` (pass ``http_client=aiohttp_http_client(...)`` instead).
    """

    service_tests: AsyncServiceTests
    service_problems: AsyncServiceProblems

    def __init__(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        environment: Environment | None = None,
        base_url: str | httpx.URL | None = None,
        token_url: str | None = None,
        scope: str | None = None,
        token_auth_method: TokenAuthMethod = "client_secret_basic",  # noqa: S107 - a method name
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        http_backend: HttpBackend = "httpx",
        allow_insecure_http: bool = False,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        client_secret = conceal(client_secret)  # type: ignore[assignment] # no text in this frame
        configure_from_env()
        config = resolve_config(
            client_id,
            client_secret,
            environment=environment,
            base_url=base_url,
            token_url=token_url,
            scope=scope,
            token_auth_method=token_auth_method,
            timeout=timeout,
            max_retries=max_retries,
            retry=retry,
            default_headers=default_headers,
            allow_insecure_http=allow_insecure_http,
        )
        _check_http_client(http_client, httpx.AsyncClient)
        cap = _check_max_bytes(max_response_bytes)
        pool: _Pool[httpx.AsyncClient] = _Pool(
            http_client, _async_factory(config, http_backend, http_client), per_loop=True
        )
        the_clock = clock or time.monotonic
        the_sleep = sleep or anyio.sleep

        async def send_token_request(request: httpx.Request) -> httpx.Response:
            client = pool.for_request()
            ensure_open(client)
            return await send_async(client, request, auth=None, clock=the_clock, max_bytes=cap)

        auth = _auth(config, clock=the_clock, asend=send_token_request, asleep=the_sleep)
        pipeline = AsyncPipeline(
            pool.for_request, auth, _settings(config, cap), sleep=the_sleep, clock=the_clock
        )
        self._setup(config, pool, auth, pipeline, owner=True)

    def _setup(
        self,
        config: ClientConfig,
        pool: _Pool[httpx.AsyncClient],
        auth: ClientCredentialsAuth,
        pipeline: AsyncPipeline,
        *,
        owner: bool,
    ) -> None:
        self._config = config
        self._pool = pool
        self._auth = auth
        self._pipeline = pipeline
        self._owner = owner
        self.service_tests = AsyncServiceTests(pipeline)
        self.service_problems = AsyncServiceProblems(pipeline)

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> AsyncFibreCafe:
        """A copy with other settings sharing the pool and token cache (see FibreCafe's)."""
        config = self._config.with_options(
            timeout=timeout, max_retries=max_retries, retry=retry, default_headers=default_headers
        )
        clone = object.__new__(AsyncFibreCafe)
        cap = self._pipeline.settings.max_response_bytes
        pipeline = self._pipeline.with_settings(_settings(config, cap))
        clone._setup(config, self._pool, self._auth, pipeline, owner=False)
        return clone

    async def check_credentials(self) -> TokenInfo:
        """Fetch a fresh token now (it replaces the cached one) and describe it.

        Raises :class:`~fibrecafe_client.TokenError` when the credentials are refused.
        """
        return TokenInfo._of(await self._auth.refresh_async())  # pyright: ignore[reportPrivateUsage]

    @property
    def is_closed(self) -> bool:
        """True once the connection pool has been closed."""
        return self._pool.get().is_closed

    async def aclose(self) -> None:
        """Close the connection pool if this client owns it (see the module docs)."""
        if self._owner and self._pool.owned:
            await self._pool.settled().aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
