"""Fixtures of the core client tests: a mocked gateway, a fake clock, clients of both kinds."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeAlias

import pytest
import respx

from fibrecafe_client import AsyncFibreCafe, FibreCafe, RetryPolicy
from fibrecafe_client._logging import remove_env_handler

from .helpers import (
    BASE_URL,
    CANARY_SECRET,
    CLIENT_ID,
    TOKEN_PATH,
    AnyClient,
    FakeClock,
    token_json,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gateway() -> Iterator[respx.MockRouter]:
    """A mocked gateway: the token endpoint answers; tests add API routes."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        router.post(TOKEN_PATH, name="token").respond(200, json=token_json())
        yield router


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No FIBRECAFE_* variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("FIBRECAFE_"):
            monkeypatch.delenv(name)
    yield
    remove_env_handler()


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


MakeClient: TypeAlias = Callable[..., AnyClient]


@pytest.fixture
async def make_client(kind: str, clock: FakeClock) -> AsyncIterator[MakeClient]:
    """Build a client of the parametrized kind with the fake clock; closed at teardown."""
    made: list[AnyClient] = []

    def make(**kwargs: Any) -> AnyClient:
        options: dict[str, Any] = {
            "client_id": CLIENT_ID,
            "client_secret": CANARY_SECRET,
            "base_url": BASE_URL,
            "retry": RetryPolicy(max_retries=2, initial_backoff=0.01, max_backoff=0.05),
            "clock": clock.monotonic,
            **kwargs,
        }
        client: AnyClient
        if kind == "sync":
            options.setdefault("sleep", clock.sleep)
            client = FibreCafe(**options)
        else:
            options.setdefault("sleep", clock.asleep)
            client = AsyncFibreCafe(**options)
        made.append(client)
        return client

    yield make
    for client in made:
        if isinstance(client, AsyncFibreCafe):
            await client.aclose()
        else:
            client.close()
