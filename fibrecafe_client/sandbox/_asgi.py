"""The little bare-ASGI plumbing the sandbox needs: read a request, send a response, hang up.

Bare ASGI keeps the sandbox free of any web framework: only uvicorn is needed to serve it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "Receive",
    "Request",
    "Response",
    "Scope",
    "Send",
    "drop_connection",
    "read_request",
    "send_response",
    "server_transport",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Larger request bodies are refused with 413 (the sandbox's requests are a few hundred bytes).
MAX_BODY: Final = 1024 * 1024


class BodyTooLarge(Exception):
    """The request body is over :data:`MAX_BODY`."""


class ClientGone(Exception):
    """The client disconnected before the request body was read."""


@dataclass(frozen=True, slots=True)
class Request:
    """An HTTP request, read whole: header names lower-cased, repeated headers comma-joined."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    query: str = ""

    def header(self, name: str) -> str | None:
        """A header's value, or None when absent."""
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class Response:
    """An HTTP response to send."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def json(cls, status: int, data: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
        """A JSON response."""
        return cls(
            status,
            json.dumps(data).encode(),
            (("content-type", "application/json"), *headers),
        )

    def with_headers(self, headers: Iterable[tuple[str, str]]) -> Response:
        """A copy with more headers."""
        return Response(self.status, self.body, (*self.headers, *headers))


async def read_request(scope: Scope, receive: Receive) -> Request:
    """Read the whole request (raises :class:`BodyTooLarge` or :class:`ClientGone`)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    path: str = scope.get("path", "/")
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :] or "/"
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return Request(
        method=str(scope.get("method", "GET")).upper(),
        path=path,
        headers=headers,
        body=b"".join(chunks),
        query=scope.get("query_string", b"").decode("latin-1"),
    )


async def send_response(send: Send, response: Response) -> None:
    """Send ``response`` (with a correct ``content-length``)."""
    headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


def server_transport(send: Send) -> asyncio.Transport | None:
    """The server's transport behind ``send``, or None when it cannot be reached.

    ASGI has no message for "hang up without answering", so the transport is reached through
    the bound ``send`` of uvicorn's request cycle. Other servers give None.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    return transport if isinstance(transport, asyncio.Transport) else None


async def drop_connection(transport: asyncio.Transport) -> None:
    """Close the client's connection without sending any response."""
    transport.close()
    # Let the server notice the lost connection, so it does not try to answer for us.
    for _ in range(3):
        await asyncio.sleep(0)
