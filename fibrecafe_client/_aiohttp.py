"""aiohttp as the connection pool of the async client (the ``aiohttp`` extra).

At many requests in flight, httpx's own pool costs more CPU than everything else the SDK does;
aiohttp's pool does not. :func:`aiohttp_http_client` returns a plain ``httpx.AsyncClient`` whose
transport sends through aiohttp, so the SDK's pipeline, auth, retries and typed errors are the
same on both. ``AsyncFibreCafe(http_backend="aiohttp")`` builds one and owns it.

This module is imported with the SDK and imports neither aiohttp nor httpx-aiohttp: the
transport lives in :mod:`._aiohttp_transport`, loaded on the first call here.
"""

from __future__ import annotations

import ssl
from typing import Final, Literal, TypeAlias

import httpx

from ._config import DEFAULT_TIMEOUT
from .errors import ConfigurationError

__all__ = ["AIOHTTP_INSTALL_HINT", "DEFAULT_LIMITS", "HttpBackend", "aiohttp_http_client"]

#: ``http_backend`` of :class:`~fibrecafe_client.AsyncFibreCafe`.
HttpBackend: TypeAlias = Literal["httpx", "aiohttp"]

AIOHTTP_INSTALL_HINT: Final = "pip install 'fibrecafe-client[aiohttp]'"

#: The pool limits of the SDK's own httpx clients (httpx's defaults), applied to aiohttp's too.
DEFAULT_LIMITS: Final = httpx.Limits(
    max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0
)


def aiohttp_http_client(
    *,
    timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    limits: httpx.Limits = DEFAULT_LIMITS,
    verify: ssl.SSLContext | str | bool = True,
    cert: str | tuple[str, str] | tuple[str, str, str] | None = None,
    trust_env: bool = True,
    proxy: str | httpx.URL | httpx.Proxy | None = None,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that sends through aiohttp, with the SDK's defaults.

    Pass it as ``AsyncFibreCafe(http_client=...)`` when the pool needs settings of your own
    (a proxy, a CA bundle, other limits); it stays yours to close. Otherwise
    ``AsyncFibreCafe(http_backend="aiohttp")`` is simpler: the client builds, owns and closes it.

    The defaults are those of the SDK's own httpx client: the SDK's timeouts, httpx's pool
    limits (100 connections, idle ones closed after 5 s), TLS verification on, redirects never
    followed, proxies and CA settings read from the environment (``trust_env``), no cookies
    kept. aiohttp's failures become the same httpx exceptions (and so the same typed SDK errors)
    as on httpx's pool: a failure to connect only when nothing was sent, a read timeout or a
    broken connection after the request may have arrived.

    Two differences, because aiohttp has no such setting: ``limits.max_keepalive_connections``
    is not enforced (idle connections are closed after ``keepalive_expiry`` instead), and the
    write timeout is not enforced (the connect and read timeouts are; the SDK's requests are a
    few kilobytes, written at once).

    Raises:
        ConfigurationError: the ``aiohttp`` extra is not installed.
    """
    try:
        from ._aiohttp_transport import AiohttpClient  # noqa: PLC0415 - the optional extra
    except ImportError:
        raise ConfigurationError(
            f"the aiohttp HTTP backend needs the aiohttp extra: {AIOHTTP_INSTALL_HINT}"
        ) from None
    return AiohttpClient(
        timeout=timeout,
        limits=limits,
        verify=verify,
        cert=cert,
        trust_env=trust_env,
        proxy=proxy,
        follow_redirects=False,
    )
