"""The loopback server runner: real sockets, Nagle off, loopback only, bounded stop."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpx
import pytest

from fibrecafe_client._loopback import bind_loopback, serve_asgi, serve_wsgi


async def asgi_echo(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body[::-1]})


def wsgi_echo(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    size = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(size)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [body[::-1]]


def test_asgi_server_serves_keep_alive_requests_and_stops() -> None:
    with serve_asgi(asgi_echo) as server, httpx.Client(base_url=server.url) as client:
        assert server.url.startswith("http://127.0.0.1:")
        for payload in (b"abc", b"hello"):
            assert client.post("/", content=payload).content == payload[::-1]
    assert not server.running


def test_wsgi_server_serves_and_stops() -> None:
    with serve_wsgi(wsgi_echo) as server, httpx.Client(base_url=server.url) as client:
        assert client.post("/", content=b"xyz").content == b"zyx"
    assert not server.running


def test_listener_is_tcp_with_nagle_off() -> None:
    sock = bind_loopback()
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert sock.getsockname()[0] == "127.0.0.1"
    finally:
        sock.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "192.168.1.1"])
def test_refuses_non_loopback_addresses(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        bind_loopback(host)
