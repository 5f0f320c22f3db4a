"""A recording KCI webhook for tests: it keeps every delivery and lets a test wait for them.

Serve it on loopback, point the sandbox at it, and wait for a test's KCIs with a bounded
timeout instead of sleeping. It can answer errors on purpose to exercise redelivery, and check
the credentials the sandbox sends.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self, cast

from fibrecafe_client._loopback import LoopbackServer, serve_asgi
from fibrecafe_client.kci import Kci, parse_kci

from ._asgi import ClientGone, Receive, Response, Scope, Send, read_request, send_response
from ._config import Webhook

__all__ = ["CapturedKci", "KciCapture"]

_TERMINAL: Final = frozenset({"COMPLETED", "REJECTED", "FAILED_TO_SEND", "FAILED"})


def _entity_field(body: dict[str, Any], name: str) -> object:
    """``body["entity"][name]`` when the entity is an object, else None."""
    entity = body.get("entity")
    return cast("dict[str, object]", entity).get(name) if isinstance(entity, dict) else None


@dataclass(frozen=True, slots=True)
class CapturedKci:
    """One delivery the capture received, and what it answered."""

    raw: bytes
    body: dict[str, Any]
    headers: dict[str, str]
    answered: int

    @property
    def accepted(self) -> bool:
        """True when the capture answered 2xx (the sandbox considers it delivered)."""
        return 200 <= self.answered < 300

    @property
    def kci_id(self) -> str | None:
        """The KCI's ``id``."""
        value = self.body.get("id")
        return value if isinstance(value, str) else None

    @property
    def test_id(self) -> int | None:
        """``entity.id``: the service test the KCI is about."""
        value = _entity_field(self.body, "id")
        return value if isinstance(value, int) else None

    @property
    def sequence_number(self) -> int | None:
        """The KCI's ``sequenceNumber``."""
        value = self.body.get("sequenceNumber")
        return value if isinstance(value, int) else None

    @property
    def status(self) -> str | None:
        """``entity.status``: the test's state this KCI announces."""
        value = _entity_field(self.body, "status")
        return value if isinstance(value, str) else None

    @property
    def request_id(self) -> str | None:
        """The delivery's ``X-Request-ID``."""
        return self.headers.get("x-request-id")

    @property
    def conversation_id(self) -> str | None:
        """The delivery's ``X-Conversation-ID``."""
        return self.headers.get("x-conversation-id")

    def parse(self) -> Kci:
        """The KCI parsed by the SDK's :func:`~fibrecafe_client.parse_kci` (raises
        :class:`~fibrecafe_client.KciParseError` when it is not a valid KCI)."""
        return parse_kci(self.raw)


class KciCapture:
    """A webhook receiver that records every KCI POSTed to it.

    ``status`` is the answer to accepted deliveries (the gateway's tenant API documents 2xx;
    204 is assumed). Give ``username``/``password`` or ``bearer_token`` to require that
    authentication (401 otherwise); :meth:`webhook` returns the matching :class:`Webhook`.
    """

    def __init__(
        self,
        *,
        path: str = "/kcis",
        status: int = 204,
        username: str | None = None,
        password: str | None = None,
        bearer_token: str | None = None,
    ) -> None:
        if not path.startswith("/"):
            raise ValueError("path must start with '/'")
        self.path = path
        self.status = status
        self._auth = Webhook("http://127.0.0.1/", username, password, bearer_token)
        self._cond = threading.Condition()
        self._deliveries: list[CapturedKci] = []
        self._failures: list[int] = []  # statuses to answer next, in order
        self._server: LoopbackServer | None = None

    # --- configuration ---

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        """Answer the next ``count`` deliveries with ``status`` (to exercise redelivery)."""
        with self._cond:
            self._failures.extend([status] * count)

    # --- serving ---

    def start(self, *, host: str = "127.0.0.1", port: int = 0) -> Self:
        """Serve the capture on loopback; returns self."""
        if self._server is not None:
            raise RuntimeError("the capture is already running")
        self._server = serve_asgi(self.app, host=host, port=port)
        return self

    @property
    def url(self) -> str:
        """The webhook URL to configure on the sandbox."""
        if self._server is None:
            raise RuntimeError("the capture is not running: call start()")
        return self._server.url + self.path

    def webhook(self) -> Webhook:
        """A :class:`Webhook` for this capture, with the credentials it expects."""
        auth = self._auth
        return Webhook(self.url, auth.username, auth.password, auth.bearer_token)

    def stop(self) -> None:
        """Stop serving (bounded)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> Self:
        return self.start() if self._server is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def app(self) -> KciCapture:
        """The ASGI application (the capture itself; mountable elsewhere too)."""
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point: record one delivery and answer it."""
        if scope["type"] != "http":
            return
        try:
            request = await read_request(scope, receive)
        except ClientGone:
            return
        if request.method != "POST" or request.path != self.path:
            await send_response(send, Response(404))
            return
        try:
            parsed = json.loads(request.body)
        except (UnicodeDecodeError, ValueError):
            parsed = None
        expected = self._auth.authorization()
        with self._cond:
            if expected is not None and request.header("authorization") != expected:
                answered = 401
            elif not isinstance(parsed, dict):
                answered = 400
            elif self._failures:
                answered = self._failures.pop(0)
            else:
                answered = self.status
            body = cast("dict[str, Any]", parsed) if isinstance(parsed, dict) else {}
            self._deliveries.append(CapturedKci(request.body, body, request.headers, answered))
            self._cond.notify_all()
        await send_response(send, Response(answered))

    # --- reading ---

    @property
    def deliveries(self) -> list[CapturedKci]:
        """Every delivery attempt received, accepted or not, in arrival order."""
        with self._cond:
            return list(self._deliveries)

    def kcis(self, test_id: int | None = None) -> list[CapturedKci]:
        """Accepted KCIs (each KCI id once), in arrival order; only ``test_id``'s if given."""
        seen: set[str | None] = set()
        result: list[CapturedKci] = []
        for item in self.deliveries:
            if not item.accepted or item.kci_id in seen:
                continue
            if test_id is not None and item.test_id != test_id:
                continue
            seen.add(item.kci_id)
            result.append(item)
        return result

    def wait_for(
        self, predicate: Callable[[list[CapturedKci]], bool], timeout: float = 10.0
    ) -> list[CapturedKci]:
        """Wait until ``predicate(accepted KCIs)`` holds; returns them or raises TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                current = self.kcis()
                if predicate(current):
                    return current
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"KCIs not received within {timeout}s ({len(current)} accepted so far)"
                    )
                self._cond.wait(remaining)

    def wait_for_terminal(self, test_id: int, timeout: float = 10.0) -> list[CapturedKci]:
        """Wait for the KCI announcing ``test_id``'s terminal state; returns the test's KCIs."""

        def done(kcis: list[CapturedKci]) -> bool:
            return any(k.test_id == test_id and k.status in _TERMINAL for k in kcis)

        self.wait_for(done, timeout)
        return self.kcis(test_id)

    def clear(self) -> None:
        """Forget everything received and any queued failures."""
        with self._cond:
            self._deliveries.clear()
            self._failures.clear()
