"""Run the sandbox on a real loopback socket: in-process (``Sandbox.start``) or blocking.

The server itself is :func:`fibrecafe_client._loopback.serve_asgi` (uvicorn in a daemon thread on
a pre-bound, Nagle-free socket); this module adds the sandbox's URLs, credentials and controls.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Generator, Iterable
from dataclasses import replace
from types import FrameType, TracebackType
from typing import Any, Self, TypedDict

from fibrecafe_client._loopback import LoopbackServer, serve_asgi

from ._app import ADMIN_PREFIX, API_PREFIX, TOKEN_PATH, SandboxApp
from ._config import FanoutMode, SandboxConfig, Webhook, WebhookInput, normalise_webhooks
from ._delivery import DeliveryKnobs
from ._faults import Faults, SandboxStats

__all__ = ["DEFAULT_PORT", "ClientKwargs", "Sandbox", "run_forever"]

#: Port ``run_forever`` listens on unless told otherwise.
DEFAULT_PORT = 8123
_STOP_TIMEOUT = 5.0


class ClientKwargs(TypedDict):
    """What :meth:`Sandbox.client_kwargs` returns: ``FibreCafe(**sandbox.client_kwargs())``."""

    client_id: str
    client_secret: str
    base_url: str
    token_url: str
    scope: str


class Sandbox:
    """A running sandbox gateway on ``127.0.0.1``: its URLs, credentials and control handles.

    Start one with :meth:`start` (a context manager; ``stop()`` also works)::

        with Sandbox.start(webhooks=["http://127.0.0.1:9000/kcis"], kci_delay=0.05) as sb:
            client = FibreCafe(**sb.client_kwargs())
            sb.faults.fail_next(1, 503, retry_after=0)
            ...
            assert sb.stats.count("POST", "/v1/service-tests", 201) == 1
    """

    def __init__(self, app: SandboxApp, server: LoopbackServer) -> None:
        self._app = app
        self._server = server
        self._stopped = False

    @classmethod
    def start(
        cls,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        webhooks: Iterable[WebhookInput] = (),
        kci_delay: float | None = None,
        config: SandboxConfig | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        scopes: Iterable[str] | None = None,
        token_lifetime: float | None = None,
        kci_max_attempts: int | None = None,
        kci_retry_backoff: float | None = None,
        kci_retry_max_backoff: float | None = None,
        kci_timeout: float | None = None,
        kci_fanout: FanoutMode | None = None,
        kci_duplicates: int | None = None,
        kci_reorder: bool | None = None,
        log_level: str = "warning",
    ) -> Sandbox:
        """Serve a new sandbox on ``host:port`` (port 0: any free port) and return once it is up.

        Keyword settings override the matching fields of ``config`` (see
        :class:`SandboxConfig`); ``webhooks`` are added to the configured ones. Needs uvicorn
        (``pip install 'fibrecafe-client[sandbox]'``); only loopback addresses are accepted.

        Examples:
            >>> from fibrecafe_client import FibreCafe
            >>> from fibrecafe_client.sandbox import Sandbox
            >>> with Sandbox.start(kci_delay=0.01) as sandbox:
            ...     with FibreCafe(**sandbox.client_kwargs()) as client:
            ...         client.check_credentials().token_type
            'Bearer'
        """
        base = config if config is not None else SandboxConfig()
        overrides: dict[str, Any] = {
            name: value
            for name, value in {
                "kci_delay": kci_delay,
                "client_id": client_id,
                "client_secret": client_secret,
                "scopes": None if scopes is None else tuple(scopes),
                "token_lifetime": token_lifetime,
                "kci_max_attempts": kci_max_attempts,
                "kci_retry_backoff": kci_retry_backoff,
                "kci_retry_max_backoff": kci_retry_max_backoff,
                "kci_timeout": kci_timeout,
                "kci_fanout": kci_fanout,
                "kci_duplicates": kci_duplicates,
                "kci_reorder": kci_reorder,
            }.items()
            if value is not None
        }
        overrides["webhooks"] = (*base.webhooks, *normalise_webhooks(webhooks))
        app = SandboxApp(replace(base, **overrides))
        server = serve_asgi(app, host=host, port=port, log_level=log_level)
        return cls(app, server)

    # --- where it is ---

    @property
    def host(self) -> str:
        """The address the sandbox listens on."""
        return self._server.host

    @property
    def port(self) -> int:
        """The port the sandbox listens on."""
        return self._server.port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return self._server.url

    @property
    def base_url(self) -> str:
        """The Tenant API base, ``http://127.0.0.1:PORT/v1``: the SDK's ``base_url``."""
        return self.url + API_PREFIX

    @property
    def token_url(self) -> str:
        """The token endpoint, ``http://127.0.0.1:PORT/v1/auth/tenant/access-token``."""
        return self.url + TOKEN_PATH

    @property
    def admin_url(self) -> str:
        """The control API root, ``http://127.0.0.1:PORT/_sandbox``."""
        return self.url + ADMIN_PREFIX

    @property
    def client_id(self) -> str:
        """The client id the token endpoint accepts."""
        return self._app.config.client_id

    @property
    def client_secret(self) -> str:
        """The client secret the token endpoint accepts (a sandbox credential, not a secret)."""
        return self._app.config.client_secret

    @property
    def scope(self) -> str:
        """The scope(s) granted by default, space-separated."""
        return " ".join(self._app.config.scopes)

    def client_kwargs(self) -> ClientKwargs:
        """Keyword arguments that point ``FibreCafe`` / ``AsyncFibreCafe`` at this sandbox.

        Every setting is explicit, so ``FIBRECAFE_*`` variables in the environment cannot send
        the client elsewhere.
        """
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "base_url": self.base_url,
            "token_url": self.token_url,
            "scope": self.scope,
        }

    def environ(self) -> dict[str, str]:
        """The ``FIBRECAFE_*`` environment variables pointing the SDK and CLI at this sandbox."""
        return {
            "FIBRECAFE_CLIENT_ID": self.client_id,
            "FIBRECAFE_CLIENT_SECRET": self.client_secret,
            "FIBRECAFE_BASE_URL": self.base_url,
            "FIBRECAFE_TOKEN_URL": self.token_url,
            "FIBRECAFE_SCOPE": self.scope,
        }

    # --- controls ---

    @property
    def app(self) -> SandboxApp:
        """The ASGI application being served."""
        return self._app

    @property
    def config(self) -> SandboxConfig:
        """The settings the sandbox was started with."""
        return self._app.config

    @property
    def faults(self) -> Faults:
        """The fault knobs (latency, forced errors, dropped connections, token behaviour)."""
        return self._app.faults

    @property
    def delivery(self) -> DeliveryKnobs:
        """The KCI delivery knobs (fan-out, duplicates, reordering, per-attempt timeout)."""
        return self._app.delivery.knobs

    @property
    def stats(self) -> SandboxStats:
        """A snapshot of the counters."""
        return self._app.stats

    @property
    def webhooks(self) -> tuple[Webhook, ...]:
        """The webhooks new KCIs are delivered to."""
        return self._app.delivery.webhooks

    def add_webhook(
        self,
        url: WebhookInput,
        *,
        username: str | None = None,
        password: str | None = None,
        bearer_token: str | None = None,
    ) -> Webhook:
        """Deliver KCIs emitted from now on to another webhook (``reset()`` removes it)."""
        if isinstance(url, Webhook):
            if username or password or bearer_token:
                raise TypeError("pass credentials inside the Webhook, not beside it")
            return self._app.add_webhook(url)
        return self._app.add_webhook(Webhook(url, username, password, bearer_token))

    def remove_webhook(self, webhook: Webhook) -> bool:
        """Stop delivering new KCIs to ``webhook``."""
        return self._app.remove_webhook(webhook)

    def revoke_tokens(self) -> int:
        """Revoke every issued token: the next API call with one gets 401."""
        return self._app.tokens.revoke_all()

    def expire_tokens(self) -> int:
        """Expire every issued token now: the next API call with one gets 401."""
        return self._app.tokens.expire_all()

    def service_test(self, test_id: int) -> dict[str, Any] | None:
        """The current wire state of a service test, or None."""
        return self._app.store.get(test_id)

    def reset(self) -> None:
        """Fresh state for the next test: see :meth:`SandboxApp.reset`."""
        self._app.reset(_STOP_TIMEOUT)

    def stop(self) -> None:
        """Cancel pending timers and deliveries, then stop the server (bounded; idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self._app.close(_STOP_TIMEOUT)
        finally:
            self._server.stop()

    @property
    def running(self) -> bool:
        """True while the server thread is alive."""
        return self._server.running

    def banner(self) -> str:
        """Human-readable lines on how to use this sandbox (for the CLI)."""
        lines = [
            f"Fibre Cafe sandbox listening on {self.url}",
            f"  base URL   {self.base_url}",
            f"  token URL  {self.token_url}",
            f"  admin API  {self.admin_url}",
            "Point the SDK or the fibrecafe CLI at it with:",
            *(f"  export {name}={value}" for name, value in self.environ().items()),
        ]
        return "\n".join(lines)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Sandbox(url={self.url!r}, client_id={self.client_id!r}, running={self.running})"


@contextlib.contextmanager
def _sigterm_stops(stop: threading.Event) -> Generator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_forever(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    on_ready: Callable[[Sandbox], None] | None = None,
    stop_event: threading.Event | None = None,
    **settings: Any,
) -> None:
    """Serve a sandbox until Ctrl-C, SIGTERM or ``stop_event`` (blocking; for the CLI).

    ``settings`` are :meth:`Sandbox.start` keywords (``webhooks``, ``kci_delay``...).
    ``on_ready`` is called with the running sandbox, e.g. to print :meth:`Sandbox.banner`.
    """
    stop = stop_event if stop_event is not None else threading.Event()
    with Sandbox.start(host=host, port=port, **settings) as sandbox, _sigterm_stops(stop):
        if on_ready is not None:
            on_ready(sandbox)
        try:
            while sandbox.running and not stop.wait(0.25):
                pass
        except KeyboardInterrupt:
            pass
