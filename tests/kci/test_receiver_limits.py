"""Issue 11.15: a non-ASCII Content-Length is a 400, a chunked KCI works on the stdlib WSGI
server, and a body that drips is cut off (real servers on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

from fibrecafe_client import Kci, KciEvent, KciReceiver, NoAuth
from fibrecafe_client._loopback import LoopbackServer

from .conftest import KciFactory, ReceiverSwitch


def test_a_superscript_content_length_is_a_400_not_a_500(make_kci: KciFactory) -> None:
    receiver = KciReceiver(verifier=NoAuth())
    body = json.dumps(make_kci()).encode()
    for declared in ("\xb2", "\u0663", "1\xb2", " 12x"):  # digits to str.isdigit, not to HTTP
        headers = {"content-type": "application/json", "content-length": declared}
        assert receiver.handle("POST", headers, body).status == 400


def _raw_post(url: str, head: str, body: bytes) -> tuple[int, bytes]:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data


def _chunked(payload: bytes, size: int = 100) -> bytes:
    out = b""
    for start in range(0, len(payload), size):
        piece = payload[start : start + size]
        out += f"{len(piece):x};ext=1\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\nX-Trailer: yes\r\n\r\n"


@pytest.fixture
def wsgi_server(switches: dict[str, tuple[ReceiverSwitch, LoopbackServer]]) -> Any:
    switch, server = switches["wsgi"]
    yield switch, server
    switch.receiver = None


def test_a_chunked_kci_is_handled_on_the_stdlib_wsgi_server(
    wsgi_server: Any, make_kci: KciFactory
) -> None:
    switch, server = wsgi_server
    receiver = KciReceiver(verifier=NoAuth(), max_body_bytes=4096)
    seen: list[Kci] = []
    receiver.on_any(seen.append)
    switch.receiver = receiver
    doc = make_kci()
    head = (
        "POST /kcis HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n"
    )
    status, _ = _raw_post(f"{server.url}/kcis", head, _chunked(json.dumps(doc).encode()))
    assert status == 204
    assert [k.id for k in seen] == [doc["id"]]
    # broken chunking: 400; too large: 400; nothing handled
    assert _raw_post(f"{server.url}/kcis", head, b"zz\r\n{}\r\n0\r\n\r\n")[0] == 400
    huge = _chunked(json.dumps({**doc, "pad": "x" * 5000}).encode())
    assert _raw_post(f"{server.url}/kcis", head, huge)[0] == 400
    assert len(seen) == 1


def test_a_dripping_body_is_cut_off_for_a_hundred_senders_at_once(
    switches: dict[str, tuple[ReceiverSwitch, LoopbackServer]], make_kci: KciFactory
) -> None:
    switch, server = switches["asgi"]
    receiver = KciReceiver(verifier=NoAuth(), body_timeout=0.5)
    events: list[KciEvent] = []
    receiver.on_event(events.append)
    switch.receiver = receiver
    body = json.dumps(make_kci()).encode()
    parts = urlsplit(server.url)

    async def drip() -> int:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.write(
            b"POST /kcis HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        try:
            for byte in body:  # one byte every 0.2 s: the whole body would take minutes
                writer.write(bytes([byte]))
                await writer.drain()
                try:
                    line = await asyncio.wait_for(reader.readline(), 0.2)
                except TimeoutError:
                    continue
                return int(line.split(b" ", 2)[1])
            return 0
        finally:
            writer.close()

    async def run() -> list[int]:
        return await asyncio.gather(*(drip() for _ in range(100)))

    try:
        statuses = asyncio.run(run())
    finally:
        switch.receiver = None
    assert statuses == [408] * 100
    assert len(events) == 100
    assert {e.outcome for e in events} == {"refused"}
