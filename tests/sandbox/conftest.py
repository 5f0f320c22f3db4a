"""Shared sandbox, KCI capture and raw-HTTP helpers for the sandbox's own tests.

One sandbox and one capture serve the whole session (starting a server costs ~0.2 s); every test
gets them reset. Tests that need other start-up settings start their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from fibrecafe_client.sandbox import KciCapture, Sandbox

HOOK_USER = "gateway"
HOOK_PASSWORD = "hook-password"

#: Fast settings for tests: tiny step delay and redelivery backoff, few attempts.
FAST: dict[str, Any] = {
    "kci_delay": 0.01,
    "kci_max_attempts": 3,
    "kci_retry_backoff": 0.01,
    "kci_retry_max_backoff": 0.05,
    "kci_timeout": 2.0,
}


def _valid_body(**changes: Any) -> dict[str, Any]:
    """A valid ``POST /service-tests`` body (the published example's values)."""
    body: dict[str, Any] = {
        "serviceId": "BBEU00537760",
        "problemType": "OUTAGE",
        "serviceSpecification": {"id": "FTTP"},
        "supplier": "FIBRECO",
        "characteristics": [
            {"name": "SERVICE_HAS_WORKED", "value": "true"},
            {"name": "SERVICE_LAST_WORKED", "value": "2024-04-20T09:45:00.000Z"},
        ],
    }
    body.update(changes)
    return body


class Api:
    """Raw httpx calls against a sandbox, with a fresh token."""

    def __init__(self, sandbox: Sandbox, http: httpx.Client) -> None:
        self.sandbox = sandbox
        self.http = http
        self.token = self.fetch_token()

    def fetch_token(self) -> str:
        response = self.http.post(
            self.sandbox.token_url,
            data={"grant_type": "client_credentials"},
            auth=(self.sandbox.client_id, self.sandbox.client_secret),
        )
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        assert isinstance(token, str)
        return token

    def headers(self, conversation_id: str | None = None, **extra: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token}",
            "X-Request-ID": str(uuid.uuid4()),
            "X-Conversation-ID": conversation_id or str(uuid.uuid4()),
            **extra,
        }

    def create(
        self,
        body: Any = None,
        *,
        scenario: str | None = None,
        conversation_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        extra = {} if scenario is None else {"X-Scenario": scenario}
        sent = self.headers(conversation_id, **extra) | (headers or {})
        return self.http.post(
            f"{self.sandbox.base_url}/service-tests",
            json=_valid_body() if body is None else body,
            headers=sent,
        )

    def get(self, test_id: int | str, headers: dict[str, str] | None = None) -> httpx.Response:
        sent = self.headers() | (headers or {})
        return self.http.get(f"{self.sandbox.base_url}/service-tests/{test_id}", headers=sent)


@pytest.fixture(scope="session")
def session_capture() -> Iterator[KciCapture]:
    with KciCapture(username=HOOK_USER, password=HOOK_PASSWORD) as capture:
        yield capture


@pytest.fixture(scope="session")
def session_sandbox(session_capture: KciCapture) -> Iterator[Sandbox]:
    with Sandbox.start(webhooks=[session_capture.webhook()], **FAST) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(session_sandbox: Sandbox, capture: KciCapture) -> Sandbox:
    """The session sandbox, reset (its webhook is the session capture)."""
    return session_sandbox


@pytest.fixture
def capture(session_sandbox: Sandbox, session_capture: KciCapture) -> Iterator[KciCapture]:
    """The session capture, emptied after the sandbox was reset."""
    session_sandbox.reset()
    session_capture.clear()
    yield session_capture
    session_sandbox.reset()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        yield client


@pytest.fixture
def api(sandbox: Sandbox, http: httpx.Client) -> Api:
    return Api(sandbox, http)


@pytest.fixture
def make_body() -> Callable[..., dict[str, Any]]:
    """``make_body(**changes)``: a valid create body with some fields replaced."""
    return _valid_body


@pytest.fixture
def fast() -> dict[str, Any]:
    """``Sandbox.start`` settings for quick tests."""
    return dict(FAST)


@pytest.fixture
def make_api(http: httpx.Client) -> Callable[[Sandbox], Api]:
    """``make_api(sandbox)``: raw API helpers for a sandbox other than the session one."""
    return lambda other: Api(other, http)


#: The HTTP backends of ``AsyncFibreCafe``; the ``async_client`` fixture runs on each.
ASYNC_BACKENDS = ("httpx", "aiohttp")


@pytest.fixture(params=ASYNC_BACKENDS)
async def async_client(request: pytest.FixtureRequest, fibrecafe_sandbox: Sandbox) -> Any:
    """An ``AsyncFibreCafe`` for the sandbox with instant retries, once per HTTP backend."""
    from fibrecafe_client import AsyncFibreCafe, RetryPolicy

    retry = RetryPolicy(max_retries=2, initial_backoff=0, max_backoff=0, max_retry_after=0)
    async with AsyncFibreCafe(
        **fibrecafe_sandbox.client_kwargs(), retry=retry, http_backend=request.param
    ) as client:
        yield client
