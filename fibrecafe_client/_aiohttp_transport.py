"""httpx-aiohttp's transport, with the SDK's error mapping and pool settings.

Imported only by :func:`fibrecafe_client.aiohttp_http_client` (it needs the ``aiohttp`` extra).

httpx-aiohttp (0.2) maps aiohttp's exceptions in a way that breaks the SDK's guarantees, so
every exception leaving this transport is mapped again here, from aiohttp's own exception:

- its table sends every ``aiohttp.ClientConnectionError`` to ``httpx.ConnectTimeout``, which
  means "nothing was sent". A server that disconnects or resets after reading the request,
  and a read timeout raised as a bare ``ServerTimeoutError``, would then be resent even for a
  POST. Only the failures that happen before a byte of the request is written (connecting,
  TLS, waiting for a pooled connection) become ``ConnectError`` / ``ConnectTimeout`` here;
- a refused connection became a timeout (``ConnectTimeout``), so an ``APITimeoutError``;
- exceptions outside its table (a malformed response, an oversized header, a bare
  ``asyncio.TimeoutError``) escaped as aiohttp's own;
- the chained aiohttp exception carries the request headers, bearer token included, in its
  repr: the mapped exception here does not chain it (its text is kept).

Two settings of aiohttp are changed to behave like the SDK's httpx pool: aiohttp resends an
idempotent request once, silently, on a broken connection (the SDK's retry policy decides,
counts and logs every attempt itself), and it keeps cookies (the SDK sends none).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Final

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from ._owned_clients import OwnedAsyncClient

__all__ = ["AiohttpClient", "SdkAiohttpTransport", "map_exception"]


def _mapped_class(exc: BaseException) -> type[httpx.TransportError]:
    """The httpx exception that says what httpx's own pool would have said."""
    if isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        return httpx.ProxyError
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ServerFingerprintMismatch):
        # Refused, unreachable, DNS, TLS handshake or certificate: before the request is sent.
        return httpx.ConnectError
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        # aiohttp's connect timeouts cover the wait for a pooled connection and the connect.
        return httpx.ConnectTimeout
    if isinstance(exc, asyncio.TimeoutError):  # SocketTimeoutError, ServerTimeoutError, bare
        return httpx.ReadTimeout
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError
    if isinstance(exc, aiohttp.ClientResponseError):  # the response did not parse as HTTP
        return httpx.RemoteProtocolError
    if isinstance(exc, aiohttp.NonHttpUrlClientError | aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol
    # Any other broken connection (reset, OSError) after the request may have been written.
    return httpx.ReadError


def map_exception(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception for a failure of aiohttp (or of httpx-aiohttp's own mapping).

    ``exc`` may be httpx-aiohttp's mapped exception (the aiohttp one is its ``__cause__``) or
    an aiohttp exception that it let through.
    """
    original = exc.__cause__ if isinstance(exc, httpx.HTTPError) and exc.__cause__ else exc
    text = str(original) or type(original).__name__
    return _mapped_class(original)(text, request=request)


# httpcore accepts a response head of up to 100 KiB; aiohttp's defaults are 8190 bytes per
# line or field and 128 fields. The same head must be accepted (or refused) on both backends.
_MAX_HEAD: Final = 100 * 1024

_ERRORS = (aiohttp.ClientError, httpx.TransportError, asyncio.TimeoutError, OSError)


class _MappedStream(httpx.AsyncByteStream):
    """The response body of httpx-aiohttp, with body-read failures mapped like the request's."""

    def __init__(self, inner: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._inner = inner
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        failure: httpx.TransportError | None = None
        try:
            async for chunk in self._inner:
                yield chunk
        except _ERRORS as exc:
            failure = map_exception(exc, self._request)
        if failure is not None:
            raise failure  # outside the except: aiohttp's exception is not even the context

    async def aclose(self) -> None:
        failure: httpx.TransportError | None = None
        try:
            await self._inner.aclose()
        except _ERRORS as exc:
            failure = map_exception(exc, self._request)
        if failure is not None:
            raise failure


class _OtherLoopError(httpx.ConnectError):
    """A request from an event loop other than the session's: refused before sending."""


class SdkAiohttpTransport(AiohttpTransport):
    """httpx-aiohttp's transport with the SDK's error mapping and aiohttp session settings."""

    def __init__(
        self,
        *,
        verify: Any = True,
        cert: Any = None,
        trust_env: bool = True,
        limits: httpx.Limits,
        proxy: httpx.Proxy | None = None,
    ) -> None:
        super().__init__(
            verify=verify,
            cert=cert,
            trust_env=trust_env,
            limits=limits,
            proxy=proxy,
            client=self._new_session,
        )
        self._loop: asyncio.AbstractEventLoop | None = None

    def _new_session(self) -> aiohttp.ClientSession:
        """The aiohttp session, made on first use (it belongs to the running event loop)."""
        self._loop = asyncio.get_running_loop()
        limits = self.limits
        connector = aiohttp.TCPConnector(
            # httpx's None is "no limit"; aiohttp's is 0 (its own default is 100).
            limit=limits.max_connections or 0,
            ssl=self.ssl_context,
            keepalive_timeout=limits.keepalive_expiry,  # None: idle connections kept
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            max_line_size=_MAX_HEAD,
            max_field_size=_MAX_HEAD,
            max_headers=_MAX_HEAD // 4,  # a header line is at least 4 bytes
        )
        # aiohttp resends an idempotent request once on a broken connection, unseen; the SDK's
        # retry policy must see (count, log, give a new X-Request-ID to) every attempt. aiohttp's
        # own test client switches it off the same way; the attribute is absent before 3.9.
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False  # pyright: ignore[reportPrivateUsage]
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through aiohttp; every failure is an httpx ``TransportError`` (see the module)."""
        if self._loop is not None and self._loop is not asyncio.get_running_loop():
            raise _OtherLoopError(
                "this http_client's aiohttp session belongs to another event loop (aiohttp "
                "sessions cannot move between loops): create the client in the event loop "
                "that uses it, or let the SDK own it with AsyncFibreCafe(http_backend='aiohttp')",
                request=request,
            )
        try:
            response = await super().handle_async_request(request)
        except _ERRORS as exc:
            failure = map_exception(exc, request)
        else:
            stream = response.stream
            assert isinstance(stream, httpx.AsyncByteStream)
            response.stream = _MappedStream(stream, request)
            return response
        raise failure  # outside the except: aiohttp's exception is not even the context


class AiohttpClient(OwnedAsyncClient):
    """An ``httpx.AsyncClient`` whose transports (for proxies from the environment too) are
    :class:`SdkAiohttpTransport`, keeping no cookies (see :mod:`._owned_clients`)."""

    def _init_transport(  # noqa: PLR0917 - httpx's signature
        self,
        verify: Any = True,
        cert: Any = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = httpx.Limits(),  # noqa: B008 - httpx passes it
        transport: httpx.AsyncBaseTransport | None = None,
        **kwargs: Any,
    ) -> httpx.AsyncBaseTransport:
        if transport is not None:
            return transport
        return SdkAiohttpTransport(verify=verify, cert=cert, trust_env=trust_env, limits=limits)

    def _init_proxy_transport(  # noqa: PLR0917 - httpx's signature
        self,
        proxy: httpx.Proxy,
        verify: Any = True,
        cert: Any = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = httpx.Limits(),  # noqa: B008 - httpx passes it
        **kwargs: Any,
    ) -> httpx.AsyncBaseTransport:
        return SdkAiohttpTransport(
            verify=verify, cert=cert, trust_env=trust_env, limits=limits, proxy=proxy
        )
