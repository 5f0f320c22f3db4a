"""Client lifecycle and plumbing: headers, with_options, user http clients, close, repr."""

from __future__ import annotations

import pickle
import re
import uuid
from typing import Any

import httpx
import pytest
import respx

from fibrecafe_client import (
    APIConnectionError,
    APIStatusError,
    AsyncFibreCafe,
    FibreCafe,
    RequestValidationError,
    ServiceUnavailableError,
)

from .conftest import MakeClient
from .helpers import (
    BASE_URL,
    CANARY_SECRET,
    CLIENT_ID,
    CREATE_ARGS,
    TOKEN_URL,
    FakeClock,
    resolve,
    service_test_json,
    token_json,
)

GET_PATH = "/service-tests/123"


async def test_headers_of_every_call(make_client: MakeClient, gateway: respx.MockRouter) -> None:
    route = gateway.post("/service-tests").respond(201, json=service_test_json())
    client = make_client(default_headers={"X-Scenario": "SERVICE_TEST_AMBER", "X-Tenant-Tag": "a"})
    await resolve(
        client.service_tests.create(**CREATE_ARGS, extra_headers={"X-Scenario": "SERVICE_TEST_RED"})
    )
    headers = route.calls.last.request.headers
    assert headers["X-Scenario"] == "SERVICE_TEST_RED"  # per call beats per client
    assert headers["X-Tenant-Tag"] == "a"
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert uuid.UUID(headers["X-Request-ID"]).version == 4
    assert uuid.UUID(headers["X-Conversation-ID"]).version == 4
    assert re.fullmatch(
        r"fibrecafe-client/\S+ python/3\.\d+\.\d+\S* httpx/0\.28\.\d+", headers["User-Agent"]
    )


async def test_each_call_gets_its_own_conversation(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    route = gateway.get(GET_PATH).respond(200, json=service_test_json())
    client = make_client()
    await resolve(client.service_tests.get(123))
    await resolve(client.service_tests.get(123))
    first, second = (c.request.headers["X-Conversation-ID"] for c in route.calls)
    assert first != second


@pytest.mark.parametrize(
    "options",
    [
        {"conversation_id": "has space"},
        {"conversation_id": ""},
        {"conversation_id": "x" * 201},
        {"extra_headers": {"Authorization": "Bearer mine"}},
        {"extra_headers": {"X-Request-ID": "mine"}},
        {"extra_headers": {"X-Bad": "line\nbreak"}},
        {"timeout": -1},
        {"timeout": None, "extra_headers": ["not", "a", "mapping"]},
    ],
)
async def test_bad_call_options_send_nothing(
    make_client: MakeClient, gateway: respx.MockRouter, options: dict[str, object]
) -> None:
    route = gateway.get(GET_PATH).respond(200, json=service_test_json())
    with pytest.raises(RequestValidationError):
        await resolve(make_client().service_tests.get(123, **options))  # type: ignore[arg-type]
    assert not route.called
    assert not gateway["token"].called


async def test_with_options_shares_the_pool_and_the_token(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    route = gateway.get(GET_PATH).mock(side_effect=[httpx.Response(503), httpx.Response(503)])
    client = make_client(default_headers={"X-A": "1"})
    copy = client.with_options(max_retries=0, timeout=5, default_headers={"X-B": "2"})
    assert copy._pool is client._pool
    assert copy._auth is client._auth
    assert (copy.max_retries, copy.timeout) == (0, httpx.Timeout(5.0))
    assert copy.default_headers == {"X-A": "1", "X-B": "2"}
    assert (client.max_retries, client.default_headers) == (2, {"X-A": "1"})  # untouched
    with pytest.raises(ServiceUnavailableError):
        await resolve(copy.service_tests.get(123))
    assert route.call_count == 1  # the copy's policy: no retry
    route.mock(side_effect=None, return_value=httpx.Response(200, json=service_test_json()))
    await resolve(client.service_tests.get(123))
    assert gateway["token"].call_count == 1  # one token cache for both


async def _close(client: FibreCafe | AsyncFibreCafe) -> None:
    if isinstance(client, AsyncFibreCafe):
        await client.aclose()
    else:
        client.close()


async def test_closing_a_copy_keeps_the_pool_closing_the_owner_closes_it(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    gateway.get(GET_PATH).respond(200, json=service_test_json())
    client = make_client()
    copy = client.with_options(max_retries=1)
    await _close(copy)
    assert not client.is_closed
    await resolve(client.service_tests.get(123))
    await _close(client)
    assert client.is_closed
    assert copy.is_closed
    with pytest.raises(APIConnectionError, match="client is closed"):
        await resolve(copy.service_tests.get(123, conversation_id="after-close"))


def test_context_manager_closes_the_sync_pool() -> None:
    with FibreCafe(CLIENT_ID, CANARY_SECRET, environment="cvt") as client:
        assert not client.is_closed
    assert client.is_closed


async def test_async_context_manager_closes_the_pool() -> None:
    async with AsyncFibreCafe(CLIENT_ID, CANARY_SECRET, environment="cvt") as client:
        assert not client.is_closed
    assert client.is_closed


def _mock_gateway() -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/access-token"):
            return httpx.Response(200, json=token_json())
        return httpx.Response(200, json=service_test_json())

    return httpx.MockTransport(handler), seen


def test_user_sync_http_client_is_used_and_left_open(clock: FakeClock) -> None:
    transport, seen = _mock_gateway()
    hooks: list[str] = []
    with httpx.Client(
        transport=transport,
        auth=("someone", "else"),  # never applied to our requests
        event_hooks={"request": [lambda r: hooks.append(r.url.path)]},
    ) as mine:
        with FibreCafe(CLIENT_ID, CANARY_SECRET, base_url=BASE_URL, http_client=mine) as client:
            client.service_tests.get(123)
        assert not mine.is_closed  # yours stays yours
        assert [r.url.path for r in seen] == [
            "/v1/auth/tenant/access-token",
            "/v1/service-tests/123",
        ]
        assert seen[0].headers["Authorization"].startswith("Basic ")
        assert hooks == [r.url.path for r in seen]


async def test_user_async_http_client_is_used_and_left_open() -> None:
    transport, seen = _mock_gateway()
    async with httpx.AsyncClient(transport=transport) as mine:
        async with AsyncFibreCafe(
            CLIENT_ID, CANARY_SECRET, base_url=BASE_URL, http_client=mine
        ) as client:
            await client.service_tests.get(123)
        assert not mine.is_closed
        assert len(seen) == 2


def test_repr_and_pickling_never_expose_the_secret() -> None:
    for cls in (FibreCafe, AsyncFibreCafe):
        client = cls(CLIENT_ID, CANARY_SECRET, environment="cvt")
        text = repr(client) + str(client) + repr(client._config) + repr(client._auth)
        assert CANARY_SECRET not in text
        assert "https://cvt.fibregateway.com/v1" in repr(client)
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(client)


async def test_redirects_are_not_followed(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    route = gateway.get(GET_PATH).respond(302, headers={"Location": "https://elsewhere.test/"})
    with pytest.raises(APIStatusError) as info:
        await resolve(make_client().service_tests.get(123))
    assert info.value.status_code == 302
    assert route.call_count == 1


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_the_sdks_own_pool_keeps_no_cookies(gateway: respx.MockRouter, kind: str) -> None:
    # The SDK never sends a client's cookies, so parsing Set-Cookie into a jar on every response
    # is pure cost (a fifth of the client CPU at many calls in flight): its own pools keep none.
    route = gateway.get(GET_PATH).respond(
        200, json=service_test_json(), headers={"Set-Cookie": "lb=node-7; Path=/"}
    )
    settings: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CANARY_SECRET,
        "base_url": BASE_URL,
    }
    if kind == "sync":
        with FibreCafe(**settings, token_url=TOKEN_URL) as sync_client:
            sync_client.service_tests.get(123)
            jar = sync_client._pool.get().cookies
    else:
        async with AsyncFibreCafe(**settings, token_url=TOKEN_URL) as client:
            await client.service_tests.get(123)
            jar = client._pool.get().cookies
    assert route.call_count == 1  # the cookie-setting response was served
    assert dict(jar) == {}


def test_a_users_http_client_keeps_its_cookies(gateway: respx.MockRouter) -> None:
    gateway.get(GET_PATH).respond(
        200, json=service_test_json(), headers={"Set-Cookie": "lb=node-7; Path=/"}
    )
    with (
        httpx.Client() as http,
        FibreCafe(
            CLIENT_ID,
            CANARY_SECRET,
            base_url=BASE_URL,
            token_url=TOKEN_URL,
            http_client=http,
        ) as client,
    ):
        client.service_tests.get(123)
        assert dict(http.cookies) == {"lb": "node-7"}
