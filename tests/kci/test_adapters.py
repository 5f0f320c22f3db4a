"""The ASGI and WSGI adapters at their own boundary: lifespan, other scopes, bounded reads."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, MutableMapping
from typing import Any

from fibrecafe_client import KciAsgiApp, KciReceiver, KciWsgiApp, NoAuth

from .conftest import KciFactory

Message = MutableMapping[str, Any]


class Channel:
    """Scripted ASGI receive/send: counts what the app pulled from the request stream."""

    def __init__(self, incoming: Iterable[Message]) -> None:
        self._incoming = iter(incoming)
        self.pulled = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        self.pulled += 1
        return next(self._incoming)

    async def send(self, message: Message) -> None:
        self.sent.append(message)


def endless_body(chunk: bytes) -> Iterable[Message]:
    while True:
        yield {"type": "http.request", "body": chunk, "more_body": True}


def http_scope(method: str = "POST", headers: list[tuple[bytes, bytes]] | None = None) -> Message:
    return {"type": "http", "method": method, "path": "/kcis", "headers": headers or []}


def status_and_body(sent: list[Message]) -> tuple[int, bytes]:
    start, body = sent
    assert start["type"] == "http.response.start"
    assert body["type"] == "http.response.body"
    return int(start["status"]), bytes(body["body"])


async def test_lifespan_is_acknowledged() -> None:
    app = KciReceiver(verifier=NoAuth()).asgi_app()
    channel = Channel([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    await app({"type": "lifespan"}, channel.receive, channel.send)
    assert [m["type"] for m in channel.sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]


async def test_websockets_are_closed_and_unknown_scopes_ignored() -> None:
    app = KciAsgiApp(KciReceiver(verifier=NoAuth()))
    channel = Channel([])
    await app({"type": "websocket"}, channel.receive, channel.send)
    assert channel.sent == [{"type": "websocket.close", "code": 1003}]
    other = Channel([])
    await app({"type": "something-new"}, other.receive, other.send)
    assert other.sent == []


async def test_asgi_stops_reading_as_soon_as_the_limit_is_passed() -> None:
    app = KciReceiver(verifier=NoAuth(), max_body_bytes=10_000).asgi_app()
    channel = Channel(endless_body(b"x" * 1000))

    await app(http_scope(), channel.receive, channel.send)

    status, body = status_and_body(channel.sent)
    assert status == 400
    assert json.loads(body)["code"] == "MALFORMED_REQUEST"
    assert channel.pulled == 11  # 11 000 bytes: one chunk over, then no more reads


async def test_asgi_refuses_before_reading_the_body() -> None:
    app = KciReceiver(verifier=NoAuth(), max_body_bytes=100).asgi_app()
    channel = Channel(endless_body(b"x"))
    await app(http_scope(headers=[(b"content-length", b"5000")]), channel.receive, channel.send)
    assert status_and_body(channel.sent)[0] == 400
    assert channel.pulled == 0

    unauthenticated = KciReceiver(verifier=_Deny()).asgi_app()
    channel = Channel(endless_body(b"x"))
    await unauthenticated(http_scope(), channel.receive, channel.send)
    assert status_and_body(channel.sent)[0] == 401
    assert channel.pulled == 0


async def test_asgi_client_disconnect_sends_nothing(make_kci: KciFactory) -> None:
    handled: list[str] = []
    receiver = KciReceiver(verifier=NoAuth())
    receiver.on_any(lambda kci: handled.append(kci.id))
    body = json.dumps(make_kci()).encode()
    channel = Channel(
        [
            {"type": "http.request", "body": body[:10], "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    await receiver.asgi_app()(http_scope(), channel.receive, channel.send)
    assert channel.sent == []
    assert handled == []


async def test_asgi_broken_stream_is_a_500_answer() -> None:
    async def broken_receive() -> Message:
        raise OSError("socket reset")

    channel = Channel([])
    await KciReceiver(verifier=NoAuth()).asgi_app()(http_scope(), broken_receive, channel.send)
    status, body = status_and_body(channel.sent)
    assert status == 500
    assert json.loads(body)["code"] == "TENANT_FAULT"


async def test_asgi_reassembles_chunks(make_kci: KciFactory) -> None:
    handled: list[int] = []
    receiver = KciReceiver(verifier=NoAuth())
    receiver.on_any(lambda kci: handled.append(kci.sequence_number))
    body = json.dumps(make_kci(sequence_number=12)).encode()
    chunks = [body[i : i + 7] for i in range(0, len(body), 7)]
    messages: list[Message] = [{"type": "http.response.other"}]  # ignored
    messages += [{"type": "http.request", "body": c, "more_body": True} for c in chunks]
    messages.append({"type": "http.request", "body": b"", "more_body": False})
    channel = Channel(messages)
    await receiver.asgi_app()(http_scope(), channel.receive, channel.send)
    assert channel.sent[0]["status"] == 204
    assert handled == [12]


class _Deny:
    def verify(self, headers: Any) -> str | None:
        return "denied"


class CountingInput:
    """A ``wsgi.input`` that would give far more than declared, and counts what was read."""

    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self.read_bytes += len(chunk)
        return chunk


def call_wsgi(app: KciWsgiApp, environ: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc: Any = None) -> Any:
        captured["status"], captured["headers"] = status, dict(headers)

    body = b"".join(app(environ, start_response))
    return captured["status"], captured["headers"], body


def test_wsgi_reads_only_the_declared_length(make_kci: KciFactory) -> None:
    handled: list[int] = []
    receiver = KciReceiver(verifier=NoAuth())
    receiver.on_any(lambda kci: handled.append(kci.sequence_number))
    body = json.dumps(make_kci(sequence_number=3)).encode()
    stream = CountingInput(body + b"GARBAGE" * 1000)
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": stream,
    }
    status, headers, answer = call_wsgi(receiver.wsgi_app(), environ)
    assert (status, answer) == ("204 No Content", b"")
    assert "content-length" not in headers
    assert stream.read_bytes == len(body)
    assert handled == [3]


def test_wsgi_without_length_reads_nothing_unless_the_input_is_terminated(
    make_kci: KciFactory,
) -> None:
    receiver = KciReceiver(verifier=NoAuth(), max_body_bytes=50)
    body = json.dumps(make_kci()).encode()
    stream = CountingInput(body)
    environ = {"REQUEST_METHOD": "POST", "wsgi.input": stream}
    status, headers, answer = call_wsgi(receiver.wsgi_app(), environ)
    assert status == "400 Bad Request"
    assert stream.read_bytes == 0
    assert headers["content-length"] == str(len(answer))

    terminated = CountingInput(body)
    environ = {"REQUEST_METHOD": "POST", "wsgi.input": terminated, "wsgi.input_terminated": True}
    status, _, answer = call_wsgi(receiver.wsgi_app(), environ)
    assert status == "400 Bad Request"
    assert "50-byte limit" in json.loads(answer)["messages"][0]
    assert terminated.read_bytes == 51  # the limit plus the one byte that proves it is over


def test_wsgi_broken_input_is_a_500_answer() -> None:
    class Broken:
        def read(self, size: int = -1) -> bytes:
            raise OSError("client went away")

    environ = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "10", "wsgi.input": Broken()}
    status, _, answer = call_wsgi(KciReceiver(verifier=NoAuth()).wsgi_app(), environ)
    assert status == "500 Internal Server Error"
    assert json.loads(answer)["code"] == "TENANT_FAULT"
