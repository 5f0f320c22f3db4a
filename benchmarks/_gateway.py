"""An in-memory gateway for ``httpx.MockTransport``: the documented bodies, and counters.

The bodies are the documented ones: the 201 sample of ``POST /service-tests`` and, for
``GET /service-tests/{id}``, the completed test of the published COMPLETED KCI (with its result).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Final

import anyio
import httpx

__all__ = [
    "BASE_URL",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "COMPLETED_KCI",
    "CREATE_ARGS",
    "TOKEN_URL",
    "MockGateway",
    "create_body",
]

BASE_URL: Final = "https://gateway.test/v1"
TOKEN_URL: Final = BASE_URL + "/auth/tenant/access-token"
CLIENT_ID: Final = "bench-client"
CLIENT_SECRET: Final = "bench-secret"  # noqa: S105 - a made-up credential of the mock

_FIXTURES: Final = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "kcis"
#: The published COMPLETED service-test KCI, as raw bytes.
COMPLETED_KCI: Final = (_FIXTURES / "service-test-completed.json").read_bytes()

#: ``POST /service-tests`` 201 sample of the gateway docs.
_CREATED: Final[dict[str, Any]] = {
    "id": 123,
    "status": "IN_PROGRESS",
    "created": "2024-04-23T10:25:54.000Z",
    "updated": "2024-04-23T10:26:01.000Z",
    "supplierReference": "A12345",
    "serviceId": "BBEU00537760",
    "problemType": "OUTAGE",
    "serviceSpecification": {"id": "FTTP", "name": "FTTP"},
    "supplier": "FIBRECO",
    "characteristics": [
        {"name": "SERVICE_HAS_WORKED", "value": "true"},
        {"name": "SERVICE_LAST_WORKED", "value": "2024-04-20T09:45:00.000Z"},
    ],
}
CREATED_BODY: Final = json.dumps(_CREATED).encode()
#: ``GET /service-tests/123``: the completed test of the published KCI.
FETCHED_BODY: Final = json.dumps(json.loads(COMPLETED_KCI)["entity"]).encode()

#: What a tenant passes to ``service_tests.create``.
CREATE_ARGS: Final[dict[str, Any]] = {
    "service_id": "BBEU00537760",
    "problem_type": "OUTAGE",
    "service_specification": "FTTP",
    "supplier": "FIBRECO",
    "characteristics": {
        "SERVICE_HAS_WORKED": "true",
        "SERVICE_LAST_WORKED": "2024-04-20T09:45:00.000Z",
    },
}


def create_body(
    service_id: str,
    problem_type: str,
    service_specification: str,
    supplier: str,
    characteristics: dict[str, str],
) -> dict[str, Any]:
    """The ``POST /service-tests`` body a hand-written client builds from the same arguments."""
    return {
        "serviceId": service_id,
        "problemType": problem_type,
        "serviceSpecification": {"id": service_specification},
        "supplier": supplier,
        "characteristics": [{"name": n, "value": v} for n, v in characteristics.items()],
    }


_JSON: Final = {"content-type": "application/json"}


class MockGateway:
    """The gateway behind an ``httpx.MockTransport``: counts token and API requests.

    Knobs: ``token_delay`` (seconds the token endpoint takes, so callers pile up on it),
    ``refuse_delay`` (seconds a 401 takes, so every caller sends with the revoked token),
    ``token_status`` (e.g. 503 for an outage) and ``revoked`` (tokens the API answers 401 to).
    Tokens are ``tok-1``, ``tok-2``... in issue order. ``last`` is the last API request.
    """

    def __init__(
        self, *, token_delay: float = 0.0, token_status: int = 200, refuse_delay: float = 0.0
    ) -> None:
        self.token_delay = token_delay
        self.refuse_delay = refuse_delay
        self.token_status = token_status
        self.token_requests = 0
        self.api_requests = 0
        self.unauthorised = 0
        self.revoked: set[str] = set()
        self.last: httpx.Request | None = None
        #: The Authorization header of ``last`` as it arrived (the SDK redacts it afterwards).
        self.last_authorization = ""
        self._lock = threading.Lock()

    def transport(self) -> httpx.MockTransport:
        """A transport for ``httpx.Client``."""
        return httpx.MockTransport(self.handle)

    def async_transport(self) -> httpx.MockTransport:
        """A transport for ``httpx.AsyncClient`` (the token endpoint waits without blocking)."""
        return httpx.MockTransport(self.ahandle)

    def _token(self) -> httpx.Response:
        with self._lock:
            self.token_requests += 1
            number = self.token_requests
        if self.token_status != 200:
            return httpx.Response(self.token_status, headers={"retry-after": "0"})
        body = {"access_token": f"tok-{number}", "token_type": "Bearer", "expires_in": 3600}
        return httpx.Response(200, content=json.dumps(body).encode(), headers=_JSON)

    def _api(self, request: httpx.Request) -> httpx.Response | None:
        """The answer, or None for a 401 (the handlers add ``refuse_delay`` and answer it)."""
        with self._lock:
            self.api_requests += 1
            self.last = request
            self.last_authorization = request.headers.get("authorization", "")
            refused = bool(self.revoked) and self.last_authorization[7:] in self.revoked
            self.unauthorised += refused
        if refused:
            return None
        if request.method == "POST":
            return httpx.Response(201, content=CREATED_BODY, headers=_JSON)
        return httpx.Response(200, content=FETCHED_BODY, headers=_JSON)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Sync handler."""
        if request.url.path.endswith("/access-token"):
            if self.token_delay:
                time.sleep(self.token_delay)
            return self._token()
        response = self._api(request)
        if response is None:
            time.sleep(self.refuse_delay)
            return _refusal()
        return response

    async def ahandle(self, request: httpx.Request) -> httpx.Response:
        """Async handler."""
        if request.url.path.endswith("/access-token"):
            if self.token_delay:
                await anyio.sleep(self.token_delay)
            return self._token()
        response = self._api(request)
        if response is None:
            await anyio.sleep(self.refuse_delay)
            return _refusal()
        return response


def _refusal() -> httpx.Response:
    return httpx.Response(401, content=b'{"code":"NOT_AUTHORISED","messages":[]}', headers=_JSON)
