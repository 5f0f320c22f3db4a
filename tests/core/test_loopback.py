"""The network behaviours on real sockets (127.0.0.1): read timeouts and refused connections."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from fibrecafe_client import APIConnectionError, APITimeoutError, ServiceTestStatus
from fibrecafe_client._loopback import LoopbackServer, serve_asgi

from .conftest import MakeClient
from .helpers import CREATE_ARGS, TOKEN_PATH, TinyGateway, resolve

pytestmark = pytest.mark.network

#: Short enough to keep the suite fast, long enough for a loaded 2-core box to answer a token.
READ_TIMEOUT = 0.3
SLOW = httpx.Timeout(5.0, read=READ_TIMEOUT)


@pytest.fixture(scope="module")
def tiny() -> Iterator[tuple[TinyGateway, LoopbackServer]]:
    app = TinyGateway()
    with serve_asgi(app) as server:
        yield app, server
        app.release.set()


@pytest.fixture
def app(tiny: tuple[TinyGateway, LoopbackServer]) -> Iterator[TinyGateway]:
    gateway, _ = tiny
    gateway.counts.clear()
    gateway.release.clear()
    gateway.delays.clear()
    yield gateway
    gateway.release.set()  # free a handler still holding a timed-out request


@pytest.fixture
def base_url(tiny: tuple[TinyGateway, LoopbackServer]) -> str:
    return tiny[1].url + "/v1"


async def test_create_and_get_over_real_sockets(
    make_client: MakeClient, app: TinyGateway, base_url: str
) -> None:
    client = make_client(base_url=base_url)
    created = await resolve(client.service_tests.create(**CREATE_ARGS))
    fetched = await resolve(client.service_tests.get(created.id))
    assert created.status is ServiceTestStatus.RECEIVED_BY_GATEWAY
    assert fetched.id == created.id
    assert app.counts == {
        f"POST /v1{TOKEN_PATH}": 1,
        "POST /v1/service-tests": 1,
        "GET /v1/service-tests/123": 1,
    }


async def test_post_read_timeout_is_sent_once_and_reported_as_maybe_created(
    make_client: MakeClient, app: TinyGateway, base_url: str
) -> None:
    app.delays["POST"] = 5.0  # bounded: released at teardown
    client = make_client(base_url=base_url)
    with pytest.raises(APITimeoutError) as info:
        # a per-call timeout: the token request keeps the client's generous one
        await resolve(
            client.service_tests.create(**CREATE_ARGS, conversation_id="conv-real", timeout=SLOW)
        )
    assert app.counts["POST /v1/service-tests"] == 1
    err = info.value
    assert err.outcome_unknown
    assert err.conversation_id == "conv-real"
    assert "ReadTimeout" in str(err)
    assert "may exist" in str(err)


async def test_get_read_timeout_is_retried(
    make_client: MakeClient, app: TinyGateway, base_url: str
) -> None:
    app.delays["GET"] = 5.0
    client = make_client(base_url=base_url, max_retries=1)
    with pytest.raises(APITimeoutError) as info:
        await resolve(client.service_tests.get(123, timeout=SLOW))
    assert app.counts["GET /v1/service-tests/123"] == 2
    assert info.value.attempts == 2
    assert not info.value.outcome_unknown


async def test_refused_connection_is_retried_even_for_a_post(
    make_client: MakeClient, app: TinyGateway, base_url: str
) -> None:
    # A bound socket that does not listen refuses connections, and keeps the port ours.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as dead:
        dead.bind(("127.0.0.1", 0))
        client = make_client(
            base_url=f"http://127.0.0.1:{dead.getsockname()[1]}/v1",
            token_url=base_url + TOKEN_PATH,  # tokens still come from the live server
        )
        with pytest.raises(APIConnectionError) as info:
            await resolve(client.service_tests.create(**CREATE_ARGS))
    err = info.value
    assert not isinstance(err, APITimeoutError)
    assert err.attempts == 3  # resent: nothing can have reached the gateway
    assert not err.outcome_unknown
    assert "ConnectError" in str(err)
    assert app.counts == {f"POST /v1{TOKEN_PATH}": 1}
