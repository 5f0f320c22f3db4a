"""Shared test helpers of the core client tests: constants, bodies, a fake clock, an ASGI app."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias, TypeVar

from fibrecafe_client import AsyncFibreCafe, FibreCafe

BASE_URL = "https://gateway.test/v1"
TOKEN_PATH = "/auth/tenant/access-token"
TOKEN_URL = BASE_URL + TOKEN_PATH
CLIENT_ID = "tenant-client-id"
#: Canaries: must never show up in logs, reprs, exception text or pickles.
CANARY_SECRET = "canary-SECRET-4f9b2e71"
CANARY_TOKEN = "canary-TOKEN-8d13c6a0"

AnyClient: TypeAlias = FibreCafe | AsyncFibreCafe
T = TypeVar("T")


def service_test_json(**overrides: Any) -> dict[str, Any]:
    """A ServiceTest body as the gateway sends it (camelCase)."""
    body: dict[str, Any] = {
        "id": 123,
        "status": "IN_PROGRESS",
        "created": "2024-04-23T10:25:54.000Z",
        "updated": "2024-04-23T10:26:01.000Z",
        "supplierReference": "A12345",
        "serviceId": "BBEU00537760",
        "problemType": "OUTAGE",
        "serviceSpecification": {"id": "FTTP", "name": "FTTP"},
        "supplier": "FIBRECO",
        "characteristics": [{"name": "SERVICE_HAS_WORKED", "value": "false"}],
    }
    body.update(overrides)
    return body


def token_json(token: str = CANARY_TOKEN, expires_in: Any = 3600) -> dict[str, Any]:
    """A token endpoint success body."""
    return {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}


CREATE_ARGS: dict[str, Any] = {
    "service_id": "BBEU00537760",
    "problem_type": "OUTAGE",
    "service_specification": "FTTP",
    "supplier": "FIBRECO",
    "characteristics": {"SERVICE_HAS_WORKED": "false"},
}


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def resolve(value: T | Awaitable[T]) -> T:
    """Await ``value`` if it is awaitable (async client), else return it (sync client)."""
    if inspect.isawaitable(value):
        return await value
    return value


# -- a tiny bare ASGI app for the real-socket tests ---------------------------------------------

Scope: TypeAlias = dict[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[dict[str, Any]]]
Send: TypeAlias = Callable[[dict[str, Any]], Awaitable[None]]


class TinyGateway:
    """A bare ASGI gateway: a token endpoint and service tests, with a slow-answer knob.

    ``delays`` (seconds by HTTP method) make API requests hold their answer, bounded and
    released early by ``release``, so the client hits a real read timeout. Counts every request.
    """

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.delays: dict[str, float] = {}
        self.release = threading.Event()
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        key = f"{scope['method']} {scope['path']}"
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + 1
        while (await receive()).get("more_body"):
            pass
        if scope["path"].endswith(TOKEN_PATH):
            await self._json(send, 200, token_json())
            return
        delay, waited = self.delays.get(scope["method"], 0.0), 0.0
        while waited < delay and not self.release.is_set():
            await asyncio.sleep(0.01)
            waited += 0.01
        if scope["method"] == "POST":
            await self._json(send, 201, service_test_json(status="RECEIVED_BY_GATEWAY"))
        else:
            await self._json(send, 200, service_test_json())

    @staticmethod
    async def _json(send: Send, status: int, body: dict[str, Any]) -> None:
        import json

        payload = json.dumps(body).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(payload)),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
