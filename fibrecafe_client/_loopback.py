"""Serve an ASGI or WSGI app on a real loopback socket from a background thread.

Used by the sandbox gateway, the demo, the pytest plugin and the SDK's own network tests. Two
traps are handled here once, so no caller meets them:

- the socket is bound before the server starts (port 0 means "any free port", with no race
  between choosing a port and binding it);
- the listening socket is created with ``IPPROTO_TCP`` and ``TCP_NODELAY``: asyncio only turns
  Nagle off on accepted sockets when the listener says it is TCP, and without it every
  keep-alive request waits ~44 ms for a delayed ACK.

Every wait is bounded: a server that cannot start raises instead of hanging.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, TypeAlias

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

__all__ = [
    "Lifespan",
    "LoopbackServer",
    "bind_loopback",
    "free_loopback_port",
    "serve_asgi",
    "serve_wsgi",
]

#: uvicorn's lifespan modes: ``"auto"`` runs an app's startup and shutdown when it speaks the
#: lifespan protocol and carries on silently when it does not; ``"on"`` requires it (a failing
#: startup stops the server from starting); ``"off"`` never sends the lifespan scope.
Lifespan: TypeAlias = Literal["auto", "on", "off"]

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


def bind_loopback(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket on a loopback address (refuses any other address)."""
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"refusing to bind {host}: only loopback addresses are allowed")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.set_inheritable(True)
    except OSError as exc:
        sock.close()
        # "[Errno 98] Address already in use" says neither which address nor which port.
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise OSError(exc.errno, f"cannot listen on {shown}: {exc.strerror}") from None
    except BaseException:
        sock.close()
        raise
    return sock


class LoopbackServer:
    """A server running in a daemon thread; a context manager that stops it on exit.

    ``url`` is ``http://127.0.0.1:<port>`` (no trailing slash).
    """

    def __init__(self, host: str, port: int, stop: Any, thread: threading.Thread) -> None:
        self.host = host
        self.port = port
        self._stop = stop
        self._thread = thread

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the server (IPv6 hosts in brackets), no trailing slash."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the server thread is alive."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """Ask the server to stop and wait for its thread (bounded)."""
        self._stop()
        self._thread.join(_STOP_TIMEOUT)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def free_loopback_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago, for a server in *another process*.

    The port is released before the child binds it, so another program could take it first;
    a server in this process should use :func:`bind_loopback` (port 0), which has no such race.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_started(is_started: Any, thread: threading.Thread, what: str) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while not is_started():
        if not thread.is_alive():
            raise RuntimeError(f"{what} exited before it started serving")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {_START_TIMEOUT:.0f}s")
        time.sleep(0.005)


def serve_asgi(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    sock: socket.socket | None = None,
    log_level: str = "warning",
    lifespan: Lifespan = "auto",
) -> LoopbackServer:
    """Start ``app`` under uvicorn in a background thread and return once it accepts requests.

    ``lifespan`` is uvicorn's (default ``"auto"``, as uvicorn's): the app's startup has run
    when this returns and its shutdown runs on ``stop()``. With ``"on"``, a startup that fails
    raises ``RuntimeError`` here. Needs uvicorn (the ``sandbox`` extra).
    """
    if lifespan not in ("auto", "on", "off"):
        raise ValueError(f"lifespan must be 'auto', 'on' or 'off', not {lifespan!r}")
    try:
        import uvicorn  # noqa: PLC0415 - optional dependency, loaded only when serving
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise RuntimeError(
            "serving an ASGI app needs uvicorn: pip install 'fibrecafe-client[sandbox]'"
        ) from exc
    listener = sock if sock is not None else bind_loopback(host, port)
    bound_host, bound_port = listener.getsockname()[:2]
    config = uvicorn.Config(app, log_level=log_level, lifespan=lifespan, access_log=False)
    server = uvicorn.Server(config)

    def run() -> None:
        try:
            server.run(sockets=[listener])
        except SystemExit:  # uvicorn exits like this when the app's lifespan startup fails
            pass
        finally:
            listener.close()

    thread = threading.Thread(target=run, name=f"asgi-{bound_port}", daemon=True)
    thread.start()
    what = "uvicorn" if lifespan == "off" else "uvicorn (or the app's lifespan startup)"
    _wait_started(lambda: server.started, thread, what)

    def stop() -> None:
        server.should_exit = True
        thread.join(_STOP_TIMEOUT / 2)
        if thread.is_alive():
            server.force_exit = True

    return LoopbackServer(bound_host, bound_port, stop, thread)


def serve_wsgi(app: WSGIApplication, *, host: str = "127.0.0.1", port: int = 0) -> LoopbackServer:
    """Start ``app`` on the stdlib's threading WSGI server in a background thread."""
    from socketserver import ThreadingMixIn  # noqa: PLC0415 - only needed here
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer  # noqa: PLC0415

    class _QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

    class _Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        allow_reuse_address = True

        def server_bind(self) -> None:
            # Our pre-bound, Nagle-free socket replaces the one socketserver made.
            self.socket.close()
            self.socket = bind_loopback(host, port)
            self.server_address = self.socket.getsockname()[:2]
            self.server_name = "localhost"
            self.server_port = self.server_address[1]
            self.setup_environ()

        def server_activate(self) -> None:
            return  # already listening

    server = _Server((host, port), _QuietHandler, bind_and_activate=True)
    server.set_app(app)
    started = threading.Event()

    def run() -> None:
        started.set()
        server.serve_forever(poll_interval=0.05)
        server.server_close()

    thread = threading.Thread(target=run, name=f"wsgi-{server.server_port}", daemon=True)
    thread.start()
    _wait_started(started.is_set, thread, "WSGI server")
    return LoopbackServer(
        str(server.server_address[0]), server.server_port, server.shutdown, thread
    )
