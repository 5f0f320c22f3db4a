"""OAuth2 client credentials: wire format, caching, single flight, shared failure, 401 replay."""

from __future__ import annotations

import asyncio
import base64
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx
import pytest
import respx

from fibrecafe_client import (
    AsyncFibreCafe,
    AuthenticationError,
    FibreCafe,
    RetryPolicy,
    ServiceTest,
    TokenError,
    TokenInfo,
)
from fibrecafe_client import _auth as auth_module

from .conftest import MakeClient
from .helpers import (
    BASE_URL,
    CANARY_SECRET,
    CANARY_TOKEN,
    CLIENT_ID,
    FakeClock,
    resolve,
    service_test_json,
    token_json,
)

GATE_TIMEOUT = 5.0


def _form(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.content.decode())


def _bearer(request: httpx.Request) -> str:
    return request.headers["Authorization"].removeprefix("Bearer ")


def _tokens(*values: str) -> Callable[[httpx.Request], httpx.Response]:
    """A token side effect issuing ``values`` in order (then repeating the last)."""
    issued = iter(values)
    last = [values[-1]]

    def issue(request: httpx.Request) -> httpx.Response:
        last[0] = next(issued, last[0])
        return httpx.Response(200, json=token_json(last[0]))

    return issue


async def test_token_request_uses_client_secret_basic_by_default(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    gateway.get("/service-tests/123").respond(200, json=service_test_json())
    client = make_client(scope="com.fibregateway.cvt/tenant.all.all")
    assert not gateway["token"].called  # lazy: nothing fetched at construction
    await resolve(client.service_tests.get(123))
    request = gateway["token"].calls.last.request
    expected = base64.b64encode(f"{CLIENT_ID}:{CANARY_SECRET}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert _form(request) == {
        "grant_type": ["client_credentials"],
        "scope": ["com.fibregateway.cvt/tenant.all.all"],
    }


async def test_token_request_client_secret_post(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    gateway.get("/service-tests/123").respond(200, json=service_test_json())
    client = make_client(token_auth_method="client_secret_post")
    await resolve(client.service_tests.get(123))
    request = gateway["token"].calls.last.request
    assert "Authorization" not in request.headers
    assert _form(request) == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "client_secret": [CANARY_SECRET],
    }


def test_basic_credentials_are_form_encoded_first() -> None:
    auth = auth_module.ClientCredentialsAuth(
        token_url="https://gw.test/token", client_id="id:with colon", client_secret="s&cr+t"
    )
    header = auth.build_token_request().headers["Authorization"]
    assert base64.b64decode(header.removeprefix("Basic ")) == b"id%3Awith%20colon:s%26cr%2Bt"


@pytest.mark.parametrize(
    "case",
    [
        (3600, 3539.0, 3541.0),  # refresh 60 s early
        ("3600", 3539.0, 3541.0),  # a string, as the docs' schema says
        (100, 89.0, 91.0),  # short token: leeway is 10% of its life
        (None, 53.0, 55.0),  # missing: a short 60 s life, not forever
        ("soon", 53.0, 55.0),
    ],
)
async def test_token_reused_until_the_early_refresh_window(
    make_client: MakeClient,
    gateway: respx.MockRouter,
    clock: FakeClock,
    case: tuple[Any, float, float],
) -> None:
    expires_in, reused_at, refreshed_at = case
    gateway["token"].respond(200, json=token_json(expires_in=expires_in))
    gateway.get("/service-tests/123").respond(200, json=service_test_json())
    client = make_client()
    start = clock.now
    await resolve(client.service_tests.get(123))
    clock.now = start + reused_at
    await resolve(client.service_tests.get(123))
    assert gateway["token"].call_count == 1
    clock.now = start + refreshed_at
    await resolve(client.service_tests.get(123))
    assert gateway["token"].call_count == 2


@pytest.mark.parametrize("kind", ["async"])
async def test_single_flight_50_coroutines_make_one_token_request(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    started = 0
    gate = anyio.Event()

    async def slow_token(request: httpx.Request) -> httpx.Response:
        with anyio.fail_after(GATE_TIMEOUT):
            await gate.wait()
        return httpx.Response(200, json=token_json())

    gateway["token"].mock(side_effect=slow_token)
    api = gateway.get("/service-tests/123").respond(200, json=service_test_json())
    client = make_client()
    assert isinstance(client, AsyncFibreCafe)

    async def one() -> ServiceTest:
        nonlocal started
        started += 1
        if started == 50:
            gate.set()  # everyone is queued behind the one fetch by now
        return await client.service_tests.get(123)

    results = await asyncio.gather(*(one() for _ in range(50)))
    assert gateway["token"].call_count == 1
    assert api.call_count == 50
    assert len(results) == 50


@pytest.mark.parametrize("kind", ["sync"])
async def test_single_flight_20_threads_make_one_token_request(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    entered = 0
    lock = threading.Lock()
    gate = threading.Event()

    def slow_token(request: httpx.Request) -> httpx.Response:
        assert gate.wait(GATE_TIMEOUT)
        return httpx.Response(200, json=token_json())

    gateway["token"].mock(side_effect=slow_token)
    api = gateway.get("/service-tests/123").respond(200, json=service_test_json())
    client = make_client()
    assert isinstance(client, FibreCafe)

    def one() -> ServiceTest:
        nonlocal entered
        with lock:
            entered += 1
            if entered == 20:
                gate.set()
        return client.service_tests.get(123)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: one(), range(20)))
    assert gateway["token"].call_count == 1
    assert api.call_count == 20
    assert len(results) == 20


def _outage(gateway: respx.MockRouter) -> respx.Route:
    gateway["token"].respond(503)
    return gateway.get("/service-tests/123").respond(200, json=service_test_json())


@pytest.mark.parametrize("kind", ["async"])
async def test_token_outage_failure_is_shared_by_50_coroutines(
    make_client: MakeClient, gateway: respx.MockRouter, clock: FakeClock
) -> None:
    api = _outage(gateway)
    release = anyio.Event()
    original = clock.asleep

    async def parked_sleep(seconds: float) -> None:
        await original(seconds)
        with anyio.fail_after(GATE_TIMEOUT):
            await release.wait()  # hold the failing fetch until every caller waits on it

    client = make_client(sleep=parked_sleep)
    assert isinstance(client, AsyncFibreCafe)
    started = 0

    async def one() -> BaseException | ServiceTest:
        nonlocal started
        started += 1
        if started == 50:
            release.set()
        try:
            return await client.service_tests.get(123)
        except TokenError as exc:
            return exc

    outcomes = await asyncio.gather(*(one() for _ in range(50)))
    assert gateway["token"].call_count == RetryPolicy().max_attempts  # bounded by the policy
    assert all(isinstance(o, TokenError) and o.status_code == 503 for o in outcomes)
    assert not api.called
    # A caller arriving just after the failure shares it too (a short cooldown)...
    gateway["token"].respond(200, json=token_json())
    with pytest.raises(TokenError):
        await client.service_tests.get(123)
    assert gateway["token"].call_count == RetryPolicy().max_attempts
    # ...but the failure is not forever: after the cooldown the next call fetches again.
    clock.advance(auth_module.FAILURE_COOLDOWN)
    await client.service_tests.get(123)
    assert gateway["token"].call_count == RetryPolicy().max_attempts + 1


@pytest.mark.parametrize("kind", ["sync"])
async def test_token_outage_failure_is_shared_by_20_threads(
    make_client: MakeClient, gateway: respx.MockRouter, clock: FakeClock
) -> None:
    api = _outage(gateway)
    release = threading.Event()

    def parked_sleep(seconds: float) -> None:
        clock.sleep(seconds)
        assert release.wait(GATE_TIMEOUT)

    client = make_client(sleep=parked_sleep)
    assert isinstance(client, FibreCafe)
    entered = 0
    lock = threading.Lock()

    def one() -> BaseException | ServiceTest:
        nonlocal entered
        with lock:
            entered += 1
            if entered == 20:
                release.set()
        try:
            return client.service_tests.get(123)
        except TokenError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(lambda _: one(), range(20)))
    assert gateway["token"].call_count == 3
    assert all(isinstance(o, TokenError) and o.attempts == 3 for o in outcomes)
    assert not api.called


async def test_401_clears_the_token_and_replays_once(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    gateway["token"].mock(side_effect=_tokens("tok-1", "tok-2"))
    api = gateway.get("/service-tests/123").mock(
        side_effect=[httpx.Response(401), httpx.Response(200, json=service_test_json())]
    )
    client = make_client()
    test = await resolve(client.service_tests.get(123, conversation_id="conv-1"))
    assert gateway["token"].call_count == 2
    assert api.call_count == 2
    first, second = (call.request for call in api.calls)
    # The sent headers are scrubbed after the call; the respx records keep what was sent
    # only until then, so compare the ids instead: a new HTTP request gets a new id.
    assert first.headers["X-Conversation-ID"] == second.headers["X-Conversation-ID"] == "conv-1"
    assert test.request_id == second.headers["X-Request-ID"]
    assert test.http_response is not None
    assert len(test.http_response.history) == 1


async def test_401_sends_the_fresh_token(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    gateway["token"].mock(side_effect=_tokens("tok-1", "tok-2"))
    seen: list[tuple[str, str]] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append((_bearer(request), request.headers["X-Request-ID"]))
        if _bearer(request) == "tok-1":
            return httpx.Response(401)
        return httpx.Response(200, json=service_test_json())

    gateway.get("/service-tests/123").mock(side_effect=api)
    await resolve(make_client().service_tests.get(123))
    assert [token for token, _ in seen] == ["tok-1", "tok-2"]
    assert seen[0][1] != seen[1][1]


async def test_a_second_401_is_an_authentication_error(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    gateway["token"].mock(side_effect=_tokens("tok-1", "tok-2", "tok-3"))
    body = {"uuid": "e-1", "code": "NOT_AUTHORISED", "messages": ["token expired"]}
    api = gateway.get("/service-tests/123").respond(401, json=body)
    with pytest.raises(AuthenticationError) as info:
        await resolve(make_client().service_tests.get(123))
    assert api.call_count == 2  # one replay, never a loop
    assert gateway["token"].call_count == 2
    assert info.value.code == "NOT_AUTHORISED"


@pytest.mark.parametrize("kind", ["async"])
async def test_401_storm_refetches_once_compare_and_clear(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    gateway["token"].mock(side_effect=_tokens("tok-1", "tok-2", "tok-3"))
    responses: dict[str, int] = {"tok-1": 401, "tok-2": 200}
    barrier = anyio.Event()
    waiting = 0

    async def api(request: httpx.Request) -> httpx.Response:
        nonlocal waiting
        token = _bearer(request)
        if token == "tok-1":
            waiting += 1
            if waiting == 50:
                barrier.set()
            with anyio.fail_after(GATE_TIMEOUT):
                await barrier.wait()  # all 50 hold the old token before any 401 lands
        status = responses.get(token, 500)
        return httpx.Response(status, json=service_test_json() if status == 200 else {})

    api_route = gateway.get("/service-tests/123").mock(side_effect=api)
    client = make_client()
    assert isinstance(client, AsyncFibreCafe)
    await asyncio.gather(*(client.service_tests.get(123) for _ in range(50)))
    assert gateway["token"].call_count == 2
    assert api_route.call_count == 100


@pytest.mark.parametrize("kind", ["sync"])
async def test_401_storm_in_threads_refetches_once(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    gateway["token"].mock(side_effect=_tokens("tok-1", "tok-2", "tok-3"))
    barrier = threading.Barrier(20, timeout=GATE_TIMEOUT)

    def api(request: httpx.Request) -> httpx.Response:
        if _bearer(request) == "tok-1":
            barrier.wait()
            return httpx.Response(401)
        return httpx.Response(200, json=service_test_json())

    gateway.get("/service-tests/123").mock(side_effect=api)
    client = make_client()
    assert isinstance(client, FibreCafe)
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(lambda _: client.service_tests.get(123), range(20)))
    assert gateway["token"].call_count == 2


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"error": "invalid_client"}, "invalid_client"),
        (400, {"error": "invalid_request", "error_description": "bad scope"}, "invalid_request"),
        (401, {"error": "unauthorized_client"}, "unauthorized_client"),
        (403, "<html>denied</html>", None),
    ],
)
async def test_token_refusal_is_a_token_error_with_the_oauth_code(
    make_client: MakeClient, gateway: respx.MockRouter, status: int, body: Any, error: str | None
) -> None:
    if isinstance(body, str):
        gateway["token"].respond(status, text=body, headers={"Content-Type": "text/html"})
    else:
        gateway["token"].respond(status, json=body)
    api = gateway.get("/service-tests/123").respond(200, json=service_test_json())
    with pytest.raises(TokenError) as info:
        await resolve(make_client().service_tests.get(123))
    assert info.value.error == error
    assert info.value.status_code == status
    assert gateway["token"].call_count == 1  # a refusal is not retried
    assert not api.called
    assert CANARY_SECRET not in str(info.value)
    if error == "invalid_request":
        assert info.value.description == "bad scope"
        assert "bad scope" in str(info.value)


@pytest.mark.parametrize(
    "body",
    [
        {"token_type": "Bearer", "expires_in": 3600},
        {"access_token": "", "token_type": "Bearer"},
        {"access_token": CANARY_TOKEN, "token_type": "mac"},
        "not json",
    ],
)
async def test_an_unusable_token_response_is_a_token_error(
    make_client: MakeClient, gateway: respx.MockRouter, body: Any
) -> None:
    if isinstance(body, str):
        gateway["token"].respond(200, text=body)
    else:
        gateway["token"].respond(200, json=body)
    with pytest.raises(TokenError) as info:
        await resolve(make_client().service_tests.get(123))
    assert info.value.status_code == 200
    assert CANARY_TOKEN not in str(info.value)


@pytest.mark.parametrize("bad", ["\n", "\r\n", "\x00", " ", "\x7f", "\u00e9"])
async def test_a_token_that_cannot_be_a_header_is_refused_redacted(
    make_client: MakeClient, gateway: respx.MockRouter, bad: str
) -> None:
    """Issue 11.9: a token with a control character leaked into errors and logs."""
    value = f"{CANARY_TOKEN}{bad}tail"
    gateway["token"].respond(200, json={"access_token": value, "token_type": "Bearer"})
    api = gateway.get("/service-tests/123").respond(200, json=service_test_json())
    with pytest.raises(TokenError) as info:
        await resolve(make_client().service_tests.get(123))
    assert "cannot be sent in a header" in str(info.value)
    assert CANARY_TOKEN not in str(info.value)
    assert CANARY_TOKEN not in repr(info.value)
    assert api.call_count == 0


async def test_token_connection_errors_are_retried_then_reported(
    make_client: MakeClient, gateway: respx.MockRouter, clock: FakeClock
) -> None:
    gateway["token"].mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TokenError) as info:
        await resolve(make_client().service_tests.get(123))
    assert gateway["token"].call_count == 3
    assert info.value.attempts == 3
    assert "ConnectError" in str(info.value)
    assert len(clock.sleeps) == 2


async def test_token_read_timeout_is_retried_then_succeeds(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    gateway["token"].mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200, json=token_json())]
    )
    gateway.get("/service-tests/123").respond(200, json=service_test_json())
    await resolve(make_client().service_tests.get(123))
    assert gateway["token"].call_count == 2


async def test_check_credentials_fetches_a_fresh_token(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    gateway["token"].respond(200, json={**token_json(), "scope": "s1"})
    client = make_client()
    first = await resolve(client.check_credentials())
    second = await resolve(client.check_credentials())
    assert gateway["token"].call_count == 2
    assert isinstance(first, TokenInfo)
    assert (second.token_type, second.scope, second.expires_in) == ("Bearer", "s1", 3600.0)
    assert second.expires_at.tzinfo is not None
    assert CANARY_TOKEN not in repr(second) + str(second)


async def test_after_fork_the_child_starts_with_no_token(
    make_client: MakeClient, gateway: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway.get("/service-tests/123").respond(200, json=service_test_json())
    client = make_client()
    await resolve(client.service_tests.get(123))
    parent_pool = client._pool.get()
    monkeypatch.setattr(os, "getpid", lambda: -1)  # "we are the child now"
    await resolve(client.service_tests.get(123))
    await resolve(client.service_tests.get(123))
    assert gateway["token"].call_count == 2
    assert client._pool.get() is not parent_pool  # the parent's sockets are left alone
    assert not parent_pool.is_closed
    await resolve(parent_pool.aclose() if isinstance(parent_pool, httpx.AsyncClient) else None)
    if isinstance(parent_pool, httpx.Client):
        parent_pool.close()


def test_async_client_works_from_a_second_event_loop(clock: FakeClock) -> None:
    client = AsyncFibreCafe(
        CLIENT_ID, CANARY_SECRET, base_url=BASE_URL, clock=clock.monotonic, sleep=clock.asleep
    )

    async def contended_token(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # let the other callers queue on the lock
        return httpx.Response(200, json=token_json())

    async def burst() -> list[ServiceTest]:
        return await asyncio.gather(*(client.service_tests.get(123) for _ in range(10)))

    with respx.mock(base_url=BASE_URL) as router:
        token = router.post("/auth/tenant/access-token").mock(side_effect=contended_token)
        router.get("/service-tests/123").respond(200, json=service_test_json())
        assert len(asyncio.run(burst())) == 10
        clock.advance(7200)  # expired: the second loop must take the lock again
        assert len(asyncio.run(burst())) == 10
        assert token.call_count == 2


@pytest.mark.parametrize("kind", ["async"])
async def test_cancelled_request_leaves_no_lock_held(
    make_client: MakeClient, gateway: respx.MockRouter, clock: FakeClock
) -> None:
    hang = anyio.Event()

    async def api(request: httpx.Request) -> httpx.Response:
        if not hang.is_set():
            hang.set()
            await anyio.sleep_forever()
        return httpx.Response(200, json=service_test_json())

    gateway.get("/service-tests/123").mock(side_effect=api)
    client = make_client()
    assert isinstance(client, AsyncFibreCafe)
    task = asyncio.ensure_future(client.service_tests.get(123))
    with anyio.fail_after(GATE_TIMEOUT):
        await hang.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    clock.advance(7200)  # force the next call through the token lock
    with anyio.fail_after(GATE_TIMEOUT):
        await client.service_tests.get(123)
    assert gateway["token"].call_count == 2


def test_auth_refuses_pickling_and_hides_the_secret() -> None:
    import pickle

    auth = auth_module.ClientCredentialsAuth(
        token_url="https://gw.test/token", client_id=CLIENT_ID, client_secret=CANARY_SECRET
    )
    assert CANARY_SECRET not in repr(auth)
    with pytest.raises(TypeError):
        pickle.dumps(auth)


def _with_locals(exc: BaseException) -> str:
    """What a capture_locals traceback prints of the SDK's own frames (not the test's)."""
    import traceback

    import fibrecafe_client

    package = os.path.dirname(fibrecafe_client.__file__)
    shown: list[str] = []
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename.startswith(package):
            shown += [f"{name} = {value!r}" for name, value in frame.f_locals.items()]
    assert shown, "no SDK frame on the traceback"
    return "\n".join(shown)


async def test_no_frame_of_a_refused_token_holds_the_token(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    """Issue 11.10: a TokenError raised while reading a token response left the token in a
    local (the parsed response model), which capture_locals tracebacks print."""
    gateway["token"].respond(
        200, json={"access_token": f"{CANARY_TOKEN} tail", "token_type": "Bearer"}
    )
    with pytest.raises(TokenError) as info:
        await resolve(make_client().service_tests.get(123))
    assert CANARY_TOKEN not in _with_locals(info.value)


def test_no_frame_of_a_construction_error_holds_the_client_secret() -> None:
    """Issue 11.10: a ConfigurationError at construction left the secret in SDK frame locals."""
    from fibrecafe_client import ConfigurationError, FibreCafe
    from fibrecafe_client._secret import Secret

    secret = "frame-local-canary-0xF00D"
    settings: list[dict[str, Any]] = [
        {"client_id": "id", "base_url": "ftp://nowhere"},
        {"client_id": "id", "timeout": -1},
        {"client_id": " padded "},
    ]
    for bad in settings:
        with pytest.raises(ConfigurationError) as info:
            FibreCafe(client_secret=secret, **bad)
        sdk_frames = _with_locals(info.value)
        assert secret not in sdk_frames, bad
        assert "Secret('***')" in sdk_frames
    assert repr(Secret(secret)) == "Secret('***')"
    assert secret not in f"{Secret(secret)}"
