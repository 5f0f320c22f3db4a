"""Every HTTP exchange within the call's deadline, and no response larger than the cap.

httpx's timeouts are per phase and per socket read: a server that sends its headers, then one
byte every 0.25 s, never trips a 1 s read timeout, so a call could last as long as the server
drips. Here the whole exchange (token fetch, request, response head and body) is bounded by the
call's deadline, carried on the request as the ``fibrecafe.deadline`` extension (a time on the
client's monotonic clock):

- sync: the body is read chunk by chunk, and before every socket read the request's read
  timeout (which httpcore looks up afresh on each read) is cut to the time left; once the
  deadline has passed, :class:`DeadlineExceeded` ends the attempt;
- async: the same, and the whole exchange also runs under an anyio deadline (a backstop for
  transports, such as aiohttp's, that read their timeouts once per request).

The body is decoded (gzip, deflate...) as it is read and counted: past ``max_bytes`` decoded
bytes the read stops with :class:`BodyTooLarge`, so a decompression bomb costs at most the cap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final, cast

import anyio
import httpx

__all__ = [
    "DEADLINE_KEY",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "BodyTooLarge",
    "DeadlineExceeded",
    "cut_timeouts",
    "remaining",
    "send_async",
    "send_sync",
]

#: The request extension holding the call's deadline (monotonic time of the client's clock).
DEADLINE_KEY: Final = "fibrecafe.deadline"
#: The default cap on a response body after decompression (the gateway's answers are small).
DEFAULT_MAX_RESPONSE_BYTES: Final = 64 * 1024 * 1024
#: The async backstop fires this long after the deadline (the read timeouts fire first).
_BACKSTOP_GRACE: Final = 0.1
_PHASES: Final = ("connect", "read", "write", "pool")


class DeadlineExceeded(httpx.ReadTimeout):
    """The call's deadline passed before the response had fully arrived."""


class BodyTooLarge(httpx.DecodingError):
    """The response body decodes to more than the cap (not retried: it would recur)."""

    def __init__(self, limit: int, *, request: httpx.Request) -> None:
        self.limit = limit
        super().__init__(
            f"the response body is larger than max_response_bytes={limit} (after "
            "decompression); stopped reading",
            request=request,
        )


def remaining(request: httpx.Request, clock: Callable[[], float]) -> float | None:
    """Seconds left before the request's deadline (None: it has none)."""
    deadline = request.extensions.get(DEADLINE_KEY)
    if not isinstance(deadline, int | float):
        return None
    return float(deadline) - clock()


def cut_timeouts(request: httpx.Request, left: float) -> None:
    """Cut every timeout phase of ``request`` to ``left`` seconds (httpcore reads them per use)."""
    found: object = request.extensions.get("timeout")
    if not isinstance(found, dict):
        return
    timeouts = cast("dict[str, float | None]", found)
    left = max(left, 0.001)
    for phase in _PHASES:
        value = timeouts.get(phase)
        timeouts[phase] = left if value is None else min(float(value), left)


def _tick(request: httpx.Request, clock: Callable[[], float]) -> None:
    left = remaining(request, clock)
    if left is None:
        return
    if left <= 0:
        raise DeadlineExceeded(
            "the call's deadline passed while the response was arriving", request=request
        )
    cut_timeouts(request, left)


def _check_declared(response: httpx.Response, max_bytes: int) -> None:
    declared = response.headers.get("content-length", "")
    encoded = response.headers.get("content-encoding", "identity").strip().lower()
    if declared.isdigit() and encoded in ("", "identity") and int(declared) > max_bytes:
        raise BodyTooLarge(max_bytes, request=response.request)


def _store(response: httpx.Response, chunks: list[bytes]) -> None:
    response._content = b"".join(chunks)  # pyright: ignore[reportPrivateUsage] - httpx's body


def send_sync(
    client: httpx.Client,
    request: httpx.Request,
    *,
    auth: httpx.Auth | None,
    clock: Callable[[], float],
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> httpx.Response:
    """``client.send`` whose body is read in full within the deadline and the size cap."""
    response = client.send(request, auth=auth, follow_redirects=False, stream=True)
    try:
        _check_declared(response, max_bytes)
        chunks: list[bytes] = []
        size = 0
        _tick(request, clock)
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise BodyTooLarge(max_bytes, request=request)
            chunks.append(chunk)
            _tick(request, clock)
    except BaseException:
        response.close()
        raise
    _store(response, chunks)
    return response


async def _exchange_async(
    client: httpx.AsyncClient,
    request: httpx.Request,
    auth: httpx.Auth | None,
    clock: Callable[[], float],
    max_bytes: int,
) -> httpx.Response:
    response = await client.send(request, auth=auth, follow_redirects=False, stream=True)
    try:
        _check_declared(response, max_bytes)
        chunks: list[bytes] = []
        size = 0
        _tick(request, clock)
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise BodyTooLarge(max_bytes, request=request)
            chunks.append(chunk)
            _tick(request, clock)
    except BaseException:
        with anyio.CancelScope(shield=True), anyio.move_on_after(1.0):
            await response.aclose()
        raise
    _store(response, chunks)
    return response


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # trio
        return False
    return True


async def send_async(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    auth: httpx.Auth | None,
    clock: Callable[[], float],
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> httpx.Response:
    """Async :func:`send_sync`, the whole exchange also under an anyio deadline."""
    left = remaining(request, clock)
    if left is None:
        return await _exchange_async(client, request, auth, clock, max_bytes)
    seconds = max(left, 0.0) + _BACKSTOP_GRACE
    try:
        if _on_asyncio():  # asyncio's own timeout costs a quarter of anyio's cancel scope
            async with asyncio.timeout(seconds):
                return await _exchange_async(client, request, auth, clock, max_bytes)
        with anyio.fail_after(seconds):
            return await _exchange_async(client, request, auth, clock, max_bytes)
    except TimeoutError:
        raise DeadlineExceeded(
            "the call's deadline passed before the response had arrived", request=request
        ) from None
