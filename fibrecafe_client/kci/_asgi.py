"""The receiver as a bare ASGI app, mountable in FastAPI, Starlette or any ASGI server.

Checks that need no body run before the body is read, and the body is read only up to the
receiver's limit: the stream is abandoned as soon as it goes over.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from ._http import KciResponse, internal_fault, normalise_headers

if TYPE_CHECKING:
    from ._receiver import KciReceiver

__all__ = ["KciAsgiApp"]

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]

_DISCONNECTED: Final = object()
_TOO_LARGE: Final = object()


class KciAsgiApp:
    """ASGI app answering KCI deliveries on every path it is mounted at.

    In FastAPI/Starlette add it as a route, not a mount (a mount answers ``POST /kcis`` with a
    redirect to ``/kcis/``): ``app.router.routes.append(Route("/kcis", receiver.asgi_app()))``.
    Handles the ``lifespan`` scope (nothing to start or stop) and closes websockets.
    """

    def __init__(self, receiver: KciReceiver) -> None:
        self.receiver = receiver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        kind = scope.get("type")
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1003})
            return
        if kind != "http":
            return
        try:
            response = await self._respond(scope, receive)
        except Exception:  # a broken stream, an odd scope: still an answer
            response = internal_fault()
        if response is not None:
            await _send_response(send, response)

    async def _respond(self, scope: Scope, receive: Receive) -> KciResponse | None:
        receiver = self.receiver
        headers = normalise_headers(scope.get("headers") or ())
        refusal = receiver.check_request(str(scope.get("method", "GET")), headers)
        if refusal is not None:
            return refusal
        import asyncio  # noqa: PLC0415 - asyncio costs ~13 ms to import; async paths only

        try:
            async with asyncio.timeout(receiver.body_timeout):
                body = await _read_body(receive, receiver.max_body_bytes)
        except TimeoutError:
            reason = f"the body did not arrive within {receiver.body_timeout:g}s"
            return receiver.refuse(408, reason, headers)
        if body is _DISCONNECTED:
            return None
        if body is _TOO_LARGE or not isinstance(body, bytes):
            return receiver.too_large(headers)
        return await receiver.respond_async(headers, body)


async def _read_body(receive: Receive, limit: int) -> object:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        kind = message.get("type")
        if kind == "http.disconnect":
            return _DISCONNECTED
        if kind != "http.request":
            continue
        chunk = bytes(message.get("body", b""))
        size += len(chunk)
        if size > limit:
            return _TOO_LARGE
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send_response(send: Send, response: KciResponse) -> None:
    headers = [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers
    ]
    if response.body:
        headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        kind = message.get("type")
        if kind == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif kind == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
