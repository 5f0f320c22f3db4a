"""The receiver as a WSGI app, mountable in Flask (``DispatcherMiddleware``) or Django.

Checks that need no body run before the body is read; the body is read only up to the declared
``Content-Length``, which must be within the receiver's limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final

from ._http import KciResponse, internal_fault

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

    from ._receiver import KciReceiver

__all__ = ["KciWsgiApp"]

_CHUNK: Final = 65_536


class KciWsgiApp:
    """WSGI app answering KCI deliveries on every path it is mounted at.

    In Flask: ``app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/kcis":
    receiver.wsgi_app()})``. ``async`` handlers run on a private event loop per delivery.
    """

    def __init__(self, receiver: KciReceiver) -> None:
        self.receiver = receiver

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one WSGI request."""
        try:
            response = self._respond(environ)
        except Exception:  # a broken input stream, an odd environ: still an answer
            response = internal_fault()
        status = f"{response.status} {_phrase(response.status)}"
        headers = list(response.headers)
        if response.body:
            headers.append(("content-length", str(len(response.body))))
        start_response(status, headers)
        return [response.body]

    def _respond(self, environ: WSGIEnvironment) -> KciResponse:
        receiver = self.receiver
        headers = _headers(environ)
        refusal = receiver.check_request(str(environ.get("REQUEST_METHOD", "GET")), headers)
        if refusal is not None:
            return refusal
        try:
            body = _read_body(environ, headers, receiver.max_body_bytes)
        except _BadChunking:
            return receiver.refuse(400, "invalid chunked body", headers)
        if body is None:
            return receiver.too_large(headers)
        return receiver.respond(headers, body)


def _headers(environ: WSGIEnvironment) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = str(value)
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        value = environ.get(key)
        if value:
            headers[key.replace("_", "-").lower()] = str(value)
    return headers


class _BadChunking(ValueError):
    """A ``Transfer-Encoding: chunked`` body that does not follow RFC 9112."""


def _read_body(environ: WSGIEnvironment, headers: dict[str, str], limit: int) -> bytes | None:
    """The body, or None when it is over ``limit``. Never reads more than ``limit + 1`` bytes.

    A chunked body the server did not decode (the stdlib ``wsgiref`` server hands the raw
    stream over, without ``wsgi.input_terminated``) is decoded here.
    """
    stream: Any = environ.get("wsgi.input")
    if stream is None:
        return b""
    declared = headers.get("content-length")
    if declared is not None:
        remaining = int(declared)  # check_request accepted only digits within the limit
    elif environ.get("wsgi.input_terminated"):
        remaining = limit + 1
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        return _read_chunked(stream, limit)
    else:
        return b""  # no length and no end marker: reading could block forever
    chunks: list[bytes] = []
    size = 0
    while remaining > 0:
        chunk = stream.read(min(remaining, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        remaining -= len(chunk)
    if size > limit:
        return None
    return b"".join(chunks)


_MAX_LINE = 1024


def _read_chunked(stream: Any, limit: int) -> bytes | None:
    """Decode a chunked body from a raw stream; None once it passes ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        line = stream.readline(_MAX_LINE)
        if not line.endswith(b"\n"):
            raise _BadChunking("chunk size line missing or too long")
        size_text = line.split(b";", 1)[0].strip()
        if not size_text or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
            raise _BadChunking("chunk size is not hexadecimal")
        length = int(size_text, 16)
        if length == 0:
            break
        size += length
        if size > limit:
            return None
        data = stream.read(length)
        if len(data) != length or stream.read(2) != b"\r\n":
            raise _BadChunking("chunk shorter than its size")
        chunks.append(data)
    for _ in range(64):  # trailer fields, then the empty line
        line = stream.readline(_MAX_LINE)
        if line in (b"\r\n", b"\n", b""):
            return b"".join(chunks)
    raise _BadChunking("too many trailer lines")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
