"""The httpx clients the SDK builds for itself: httpx's, minus the cookie jar.

The SDK builds every request itself (never through ``client.build_request``), so a client's
cookies are never sent; yet httpx still parses every response into the client's jar, through
``http.cookiejar`` and a ``urllib`` request built per response: about a fifth of the client's
CPU per call at many calls in flight on the aiohttp backend. The clients here keep no cookies,
so none of that runs. A client passed as ``http_client=`` is the caller's and is left as it is.
"""

from __future__ import annotations

import httpx

__all__ = ["NoCookies", "OwnedAsyncClient", "OwnedClient"]


class NoCookies(httpx.Cookies):
    """A cookie store that keeps nothing: a response's ``Set-Cookie`` is ignored."""

    def extract_cookies(self, response: httpx.Response) -> None:
        """Keep nothing (the SDK never sends cookies)."""

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        """Keep nothing."""


class OwnedClient(httpx.Client):
    """``httpx.Client`` without a cookie jar (see the module)."""

    @property
    def cookies(self) -> httpx.Cookies:
        """Always empty: this client keeps no cookies."""
        return NoCookies()

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        """Ignored: this client keeps no cookies."""


class OwnedAsyncClient(httpx.AsyncClient):
    """``httpx.AsyncClient`` without a cookie jar (see the module)."""

    @property
    def cookies(self) -> httpx.Cookies:
        """Always empty: this client keeps no cookies."""
        return NoCookies()

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        """Ignored: this client keeps no cookies."""
