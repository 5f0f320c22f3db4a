"""A purpose-built misbehaving gateway: raw HTTP/1.1 over asyncio on 127.0.0.1.

The sandbox misbehaves politely (it always speaks valid HTTP). This server is for the faults it
cannot make: a connection reset before the request is read, a server that accepts and never
answers, a body cut short, a body that is not what its headers say. It listens on two sockets,
one for the token endpoint and one for the API, so a connection-level fault on one never hits
the other (httpx pools connections per origin).

Each listener plays a queue of :class:`Behaviour` (one per connection for the connection-level
ones, one per request otherwise) and falls back to a healthy answer when the queue is empty.
Everything it receives is recorded, and :attr:`BadGateway.created` counts the service tests it
"created": ``POST /v1/service-tests`` requests read in full whose answer does not say they were
not processed. Every wait inside is bounded, and :meth:`BadGateway.reset` frees every held
connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import socket
import struct
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from fibrecafe_client._loopback import bind_loopback

__all__ = [
    "CANARY_TOKEN",
    "TOKEN_PATH",
    "BadGateway",
    "Behaviour",
    "Listener",
    "Record",
    "service_test_body",
]

TOKEN_PATH: Final = "/v1/auth/tenant/access-token"
API_PREFIX: Final = "/v1"
CREATE_PATH: Final = "/v1/service-tests"
#: Every token this server issues starts with this canary (never to be seen in any output).
CANARY_TOKEN: Final = "canary-TOKEN-5e0d7f3a"
#: Longest any held connection or delayed answer waits before giving up on its own.
MAX_HOLD: Final = 30.0
_MAX_HEAD: Final = 65_536
_MAX_BODY: Final = 8 * 1024 * 1024

Listener = Literal["api", "token"]
OnAccept = Literal["serve", "reset", "reset_now", "silent"]
AfterRead = Literal["answer", "reset", "hang"]


def service_test_body(test_id: int, **changes: Any) -> dict[str, Any]:
    """A valid service-test body as the gateway sends it."""
    body: dict[str, Any] = {
        "id": test_id,
        "status": "RECEIVED_BY_GATEWAY",
        "created": "2024-04-23T10:25:54.000Z",
        "serviceId": "BBEU00537760",
        "problemType": "OUTAGE",
        "serviceSpecification": {"id": "FTTP"},
        "supplier": "FIBRECO",
        "characteristics": [{"name": "SERVICE_HAS_WORKED", "value": "false"}],
    }
    body.update(changes)
    return body


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What the server does with one connection (``on_accept`` faults) or one request.

    - ``on_accept``: ``reset`` sends a TCP RST once the request starts arriving, before it is
      read (the client has sent it: deterministic); ``reset_now`` sends it as soon as the
      connection is accepted (racing the client's connect: it may see a connect error or a
      broken connection); ``silent`` accepts and never reads nor answers (until reset or
      MAX_HOLD).
    - ``after_read``: once the request is read, ``answer`` it, ``reset`` the connection, or
      ``hang`` without answering.
    - ``delay``: seconds to wait before answering (a slow server).
    - ``status``, ``headers``, ``body``: the answer; ``body=None`` is the healthy body of the
      route. ``declared_length`` claims another ``Content-Length`` (and then the connection is
      closed after the bytes that were sent: a truncated body). ``echo`` reflects the
      request's ``Authorization`` header into the body, like a debugging proxy would.
    - ``processes``: whether a create answered this way counts as created on the server.
    """

    name: str = "healthy"
    on_accept: OnAccept = "serve"
    after_read: AfterRead = "answer"
    delay: float = 0.0
    status: int = 200
    headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),)
    body: bytes | None = None
    declared_length: int | None = None
    processes: bool = True
    echo: bool = False  # replace "{authorization}" in the body with the request's header
    #: The reason phrase (default: the status's); ``echo`` fills ``{authorization}`` in it and
    #: in header values too, like a proxy that reflects the credentials it was sent.
    reason: str | None = None
    #: A trickle: after the head, ``drip_bytes`` spaces (JSON whitespace) one every ``drip``
    #: seconds, then the body. ``drip=30`` with one byte is a stall mid-body.
    drip: float = 0.0
    drip_bytes: int = 0

    @property
    def connection_level(self) -> bool:
        return self.on_accept != "serve"


def json_answer(name: str, status: int, payload: Any, **kwargs: Any) -> Behaviour:
    """A JSON answer."""
    return Behaviour(name=name, status=status, body=json.dumps(payload).encode(), **kwargs)


@dataclass(frozen=True, slots=True)
class Record:
    """One connection or request the server saw."""

    listener: Listener
    behaviour: str
    method: str | None = None
    path: str | None = None
    complete: bool = False  # the whole request (head and body) was read
    created: bool = False
    headers: dict[str, str] = field(default_factory=dict)


class _Side:
    """The state of one listener: its queue and default answer."""

    def __init__(self, name: Listener) -> None:
        self.name = name
        self.queue: deque[Behaviour] = deque()


class BadGateway:
    """The misbehaving server; a context manager. See the module docs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sides: dict[Listener, _Side] = {"api": _Side("api"), "token": _Side("token")}
        self._records: list[Record] = []
        self._ids = itertools.count(1001)
        self._tokens = itertools.count(1)
        self._sockets = {name: bind_loopback() for name in self._sides}
        self._loop = asyncio.new_event_loop()
        self._release: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._servers: list[asyncio.Server] = []
        self._thread = threading.Thread(target=self._run, name="bad-gateway", daemon=True)
        self._thread.start()
        if not self._ready.wait(10.0):
            raise RuntimeError("the bad gateway did not start within 10 s")

    # -- where it is ------------------------------------------------------------------------

    def url(self, listener: Listener) -> str:
        port = self._sockets[listener].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    @property
    def base_url(self) -> str:
        """The API base URL (``/v1`` on the API listener)."""
        return self.url("api") + API_PREFIX

    @property
    def token_url(self) -> str:
        """The token endpoint on the token listener."""
        return self.url("token") + TOKEN_PATH

    # -- controls ---------------------------------------------------------------------------

    def script(self, listener: Listener, *behaviours: Behaviour, times: int = 1) -> None:
        """Queue ``behaviours`` (repeated ``times``) on a listener."""
        with self._lock:
            self._sides[listener].queue.extend(list(behaviours) * times)

    def pending(self, listener: Listener) -> int:
        """Queued behaviours not used yet."""
        with self._lock:
            return len(self._sides[listener].queue)

    @property
    def records(self) -> list[Record]:
        """Everything seen since the last reset."""
        with self._lock:
            return list(self._records)

    def seen(self, listener: Listener, method: str | None = None) -> int:
        """Connections (connection-level faults) and requests seen on a listener."""
        return sum(
            1
            for r in self.records
            if r.listener == listener and (method is None or r.method in (None, method))
        )

    @property
    def created(self) -> int:
        """Service tests the server would have created (see the module docs)."""
        return sum(1 for r in self.records if r.created)

    @property
    def tokens_issued(self) -> int:
        """Successful token answers given."""
        return sum(1 for r in self.records if r.listener == "token" and r.behaviour == "healthy")

    def reset(self) -> None:
        """Forget queues and records, and free every held connection (bounded)."""
        with self._lock:
            for side in self._sides.values():
                side.queue.clear()
            self._records.clear()
        done = asyncio.run_coroutine_threadsafe(self._release_all(), self._loop)
        done.result(10.0)

    def close(self) -> None:
        """Stop the server (bounded)."""
        if self._loop.is_closed() or not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10.0)

    def __enter__(self) -> BadGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the event loop thread --------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _start(self) -> None:
        self._release = asyncio.Event()
        for name, sock in self._sockets.items():

            async def serve(
                reader: asyncio.StreamReader, writer: asyncio.StreamWriter, side: Listener = name
            ) -> None:
                await self._connection(side, reader, writer)

            self._servers.append(await asyncio.start_server(serve, sock=sock))

    async def _release_all(self) -> None:
        assert self._release is not None
        self._release.set()
        for writer in list(self._writers):
            _abort(writer)
        self._writers.clear()
        await asyncio.sleep(0)
        self._release = asyncio.Event()

    async def _shutdown(self) -> None:
        await self._release_all()
        for server in self._servers:
            server.close()
        for server in self._servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 5.0)

    async def _hold(self, seconds: float = MAX_HOLD) -> None:
        release = self._release
        assert release is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), seconds)

    def _next(self, side: Listener, *, connection: bool) -> Behaviour | None:
        with self._lock:
            queue = self._sides[side].queue
            if queue and queue[0].connection_level == connection:
                return queue.popleft()
        return None

    def _record(self, record: Record) -> None:
        with self._lock:
            self._records.append(record)

    async def _connection(
        self, side: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._writers.add(writer)
        try:
            first = self._next(side, connection=True)
            if first is not None:
                self._record(Record(side, first.name))
                if first.on_accept == "silent":
                    await self._hold()
                elif first.on_accept == "reset":
                    await asyncio.wait_for(reader.read(1), MAX_HOLD)
                _abort(writer)
                return
            while await self._request(side, reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            if not writer.is_closing():
                writer.close()

    async def _request(
        self, side: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request; False when the connection is done."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return False
        if len(head) > _MAX_HEAD:
            return False
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = [*lines[0].split(" ", 2), "", ""][:3]
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        body = await reader.readexactly(min(length, _MAX_BODY)) if length else b""
        behaviour = self._next(side, connection=False) or Behaviour()
        is_create = method == "POST" and path == CREATE_PATH
        # A request read in full counts as created unless the answer says it was not processed
        # (reset or hang after reading: the client cannot tell, so the server counts it).
        created = is_create and behaviour.processes
        self._record(Record(side, behaviour.name, method, path, True, created, headers))
        if behaviour.after_read == "reset":
            _abort(writer)
            return False
        if behaviour.after_read == "hang":
            await self._hold()
            _abort(writer)
            return False
        if behaviour.delay:
            await self._hold(behaviour.delay)
        payload = self._payload(side, behaviour, method, path, body)
        if behaviour.echo:
            payload = payload.replace(b"{authorization}", _header_bytes(headers))
            seen = _header_bytes(headers).decode("latin-1")
            behaviour = dataclasses.replace(
                behaviour,
                reason=behaviour.reason and behaviour.reason.replace("{authorization}", seen),
                headers=tuple(
                    (name, value.replace("{authorization}", seen))
                    for name, value in behaviour.headers
                ),
            )
        return await self._answer(writer, behaviour, payload)

    def _payload(
        self, side: Listener, behaviour: Behaviour, method: str, path: str, body: bytes
    ) -> bytes:
        if behaviour.body is not None:
            return behaviour.body
        if side == "token":
            token = f"{CANARY_TOKEN}-{next(self._tokens)}"
            return json.dumps(
                {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}
            ).encode()
        if method == "POST":
            return json.dumps(service_test_body(next(self._ids))).encode()
        tail = path.rsplit("/", 1)[-1]
        test_id = int(tail) if tail.isdigit() else 1
        return json.dumps(service_test_body(test_id, status="IN_PROGRESS")).encode()

    async def _answer(
        self, writer: asyncio.StreamWriter, behaviour: Behaviour, payload: bytes
    ) -> bool:
        if behaviour.drip:
            return await self._trickle(writer, behaviour, payload)
        declared = len(payload) if behaviour.declared_length is None else behaviour.declared_length
        reason = behaviour.reason or _reason(behaviour.status)
        lines = [f"HTTP/1.1 {behaviour.status} {reason}"]
        lines += [f"{name}: {value}" for name, value in behaviour.headers]
        lines.append(f"content-length: {declared}")
        truncated = declared != len(payload)
        if truncated:
            lines.append("connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        writer.write(head + payload)
        await writer.drain()
        if truncated:
            writer.close()
            return False
        return True

    async def _trickle(
        self, writer: asyncio.StreamWriter, behaviour: Behaviour, payload: bytes
    ) -> bool:
        release = self._release
        lines = [f"HTTP/1.1 {behaviour.status} {_reason(behaviour.status)}"]
        lines += [f"{name}: {value}" for name, value in behaviour.headers]
        lines.append(f"content-length: {behaviour.drip_bytes + len(payload)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        for _ in range(behaviour.drip_bytes):
            if release is None or release.is_set():
                return False
            writer.write(b" ")
            await writer.drain()
            await self._hold(behaviour.drip)
        writer.write(payload)
        await writer.drain()
        return True


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0) rather than a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport = writer.transport
    transport.abort()


def _header_bytes(headers: dict[str, str]) -> bytes:
    return headers.get("authorization", "").encode("latin-1")


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
