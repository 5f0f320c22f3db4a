"""Retries through the clients: what is resent, ids per attempt, Retry-After, the deadline."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx

from fibrecafe_client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncFibreCafe,
    InternalServerError,
    RateLimitError,
    RetryPolicy,
    ServiceUnavailableError,
)

from .conftest import MakeClient
from .helpers import CREATE_ARGS, FakeClock, resolve, service_test_json

GET_PATH = "/service-tests/123"
OK = httpx.Response(200, json=service_test_json())
CREATED = httpx.Response(201, json=service_test_json(status="RECEIVED_BY_GATEWAY"))


async def test_get_retries_keep_the_conversation_and_renew_the_request_id(
    make_client: MakeClient, gateway: respx.MockRouter, clock: FakeClock
) -> None:
    route = gateway.get(GET_PATH).mock(side_effect=[httpx.Response(503), httpx.Response(503), OK])
    test = await resolve(make_client().service_tests.get(123, conversation_id="conv-42"))
    assert route.call_count == 3
    sent = [call.request.headers for call in route.calls]
    assert {h["X-Conversation-ID"] for h in sent} == {"conv-42"}
    request_ids = [h["X-Request-ID"] for h in sent]
    assert len(set(request_ids)) == 3
    assert all(uuid.UUID(r).version == 4 for r in request_ids)
    assert test.request_id == request_ids[-1]
    assert test.conversation_id == "conv-42"
    # full jitter within the growing ceiling of the test policy (0.01, then 0.02)
    assert len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] <= 0.01
    assert 0 <= clock.sleeps[1] <= 0.02


RETRYABLE_FOR_GET: list[httpx.Response | Exception] = [
    httpx.Response(429),
    httpx.Response(500),
    httpx.Response(502),
    httpx.Response(503),
    httpx.Response(504),
    httpx.ConnectError("refused"),
    httpx.ConnectTimeout("connect"),
    httpx.ReadTimeout("read"),
    httpx.WriteTimeout("write"),
    httpx.ReadError("reset"),
    httpx.RemoteProtocolError("server disconnected"),
]


def _name(outcome: httpx.Response | Exception) -> str:
    return (
        str(outcome.status_code) if isinstance(outcome, httpx.Response) else type(outcome).__name__
    )


@pytest.mark.parametrize("first", RETRYABLE_FOR_GET, ids=_name)
async def test_get_is_retried_after(
    make_client: MakeClient, gateway: respx.MockRouter, first: httpx.Response | Exception
) -> None:
    route = gateway.get(GET_PATH).mock(side_effect=[first, OK])
    test = await resolve(make_client().service_tests.get(123))
    assert route.call_count == 2
    assert test.id == 123


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422, 501])
async def test_get_is_not_retried_after(
    make_client: MakeClient, gateway: respx.MockRouter, status: int
) -> None:
    route = gateway.get(GET_PATH).respond(status)
    with pytest.raises(APIStatusError) as info:
        await resolve(make_client().service_tests.get(123))
    assert route.call_count == 1
    assert info.value.status_code == status


async def test_exhausted_get_retries_raise_the_last_error(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    route = gateway.get(GET_PATH).respond(503)
    with pytest.raises(ServiceUnavailableError) as info:
        await resolve(make_client().service_tests.get(123))
    assert route.call_count == 3
    assert info.value.attempts == 3
    assert info.value.request_id == route.calls.last.request.headers["X-Request-ID"]
    assert not info.value.outcome_unknown


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("read"),
        httpx.WriteTimeout("write"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("server disconnected without a response"),
    ],
    ids=_name,
)
async def test_post_is_never_resent_once_it_may_have_arrived(
    make_client: MakeClient, gateway: respx.MockRouter, failure: Exception
) -> None:
    route = gateway.post("/service-tests").mock(side_effect=failure)
    with pytest.raises(APIConnectionError) as info:
        await resolve(make_client().service_tests.create(**CREATE_ARGS, conversation_id="conv-7"))
    assert route.call_count == 1
    err = info.value
    assert err.outcome_unknown
    assert err.conversation_id == "conv-7"
    assert err.attempts == 1
    assert "may exist" in str(err)
    assert "conv-7" in str(err)
    assert isinstance(err, APITimeoutError) is isinstance(failure, httpx.TimeoutException)
    assert isinstance(err.__cause__, httpx.HTTPError)  # kept as the cause, never raised


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_post_5xx_is_not_resent_and_may_exist(
    make_client: MakeClient, gateway: respx.MockRouter, status: int
) -> None:
    route = gateway.post("/service-tests").respond(
        status, json={"uuid": "e-9", "code": "GATEWAY_FAULT", "messages": ["boom"]}
    )
    with pytest.raises(InternalServerError) as info:
        await resolve(make_client().service_tests.create(**CREATE_ARGS))
    assert route.call_count == 1
    assert info.value.outcome_unknown
    assert info.value.conversation_id is not None
    assert info.value.conversation_id in str(info.value)


@pytest.mark.parametrize(
    "first",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("connect"),
        httpx.PoolTimeout("pool"),
        httpx.Response(429),
    ],
    ids=_name,
)
async def test_post_is_resent_when_it_provably_was_not_processed(
    make_client: MakeClient, gateway: respx.MockRouter, first: httpx.Response | Exception
) -> None:
    route = gateway.post("/service-tests").mock(side_effect=[first, CREATED])
    test = await resolve(make_client().service_tests.create(**CREATE_ARGS))
    assert route.call_count == 2
    assert test.status == "RECEIVED_BY_GATEWAY"
    bodies = {call.request.content for call in route.calls}
    assert len(bodies) == 1  # the very same body was resent


async def test_post_is_not_resent_after_a_503_by_default(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    """Issue 11.6: a proxy's 503 may follow a processed POST; resending made a second test."""
    route = gateway.post("/service-tests").mock(side_effect=[httpx.Response(503), CREATED])
    with pytest.raises(ServiceUnavailableError) as info:
        await resolve(make_client().service_tests.create(**CREATE_ARGS))
    assert route.call_count == 1
    assert info.value.outcome_unknown
    assert info.value.attempts == 1


async def test_post_after_a_503_is_resent_only_when_opted_in(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    route = gateway.post("/service-tests").mock(side_effect=[httpx.Response(503), CREATED])
    policy = RetryPolicy(max_retries=2, initial_backoff=0.01, resend_post_after_503=True)
    test = await resolve(make_client(retry=policy).service_tests.create(**CREATE_ARGS))
    assert route.call_count == 2
    assert test.status == "RECEIVED_BY_GATEWAY"


async def test_post_exhausted_on_connect_errors_is_known_not_sent(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    route = gateway.post("/service-tests").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(APIConnectionError) as info:
        await resolve(make_client().service_tests.create(**CREATE_ARGS))
    assert route.call_count == 3
    assert not info.value.outcome_unknown
    assert "may exist" not in str(info.value)


async def test_retry_after_seconds_is_the_wait(
    make_client: MakeClient, gateway: respx.MockRouter, clock: FakeClock
) -> None:
    gateway.get(GET_PATH).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "3"}), OK])
    gateway.post("/service-tests").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "2"}), CREATED]
    )
    client = make_client()
    await resolve(client.service_tests.get(123))
    await resolve(client.service_tests.create(**CREATE_ARGS))
    assert clock.sleeps == [3.0, 2.0]


async def test_retry_after_http_date_is_the_wait(
    make_client: MakeClient, gateway: respx.MockRouter, clock: FakeClock
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    gateway.get(GET_PATH).mock(side_effect=[httpx.Response(503, headers={"Retry-After": when}), OK])
    await resolve(make_client().service_tests.get(123))
    assert len(clock.sleeps) == 1
    # whole seconds, minus however long a loaded machine took to get here: never the backoff
    assert 25.0 <= clock.sleeps[0] <= 30.0


async def test_retry_after_is_capped(
    make_client: MakeClient, gateway: respx.MockRouter, clock: FakeClock
) -> None:
    gateway.get(GET_PATH).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "86400"}), OK]
    )
    policy = RetryPolicy(max_retry_after=5.0, deadline=None)
    await resolve(make_client(retry=policy).service_tests.get(123))
    assert clock.sleeps == [5.0]


async def test_no_retry_that_would_pass_the_deadline(
    make_client: MakeClient, gateway: respx.MockRouter, clock: FakeClock
) -> None:
    route = gateway.get(GET_PATH).respond(503, headers={"Retry-After": "0.4"})
    policy = RetryPolicy(max_retries=10, deadline=1.0)
    with pytest.raises(ServiceUnavailableError) as info:
        await resolve(make_client(retry=policy).service_tests.get(123))
    assert clock.sleeps == [0.4, 0.4]  # a third wait would end after the deadline
    assert route.call_count == 3
    assert info.value.attempts == 3


async def test_a_retry_after_beyond_the_deadline_is_not_waited_for(
    make_client: MakeClient, gateway: respx.MockRouter, clock: FakeClock
) -> None:
    route = gateway.get(GET_PATH).respond(429, headers={"Retry-After": "50"})
    with pytest.raises(RateLimitError):
        await resolve(make_client(retry=RetryPolicy(deadline=10.0)).service_tests.get(123))
    assert route.call_count == 1
    assert clock.sleeps == []


async def test_each_attempt_timeout_fits_in_the_deadline(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    route = gateway.get(GET_PATH).mock(
        side_effect=[httpx.Response(503, headers={"Retry-After": "0.5"}), OK]
    )
    client = make_client(timeout=60, retry=RetryPolicy(deadline=2.0))
    await resolve(client.service_tests.get(123))
    timeouts = [call.request.extensions["timeout"] for call in route.calls]
    assert timeouts[0] == {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}
    assert timeouts[1]["read"] == pytest.approx(1.5)


async def test_per_call_timeout(make_client: MakeClient, gateway: respx.MockRouter) -> None:
    route = gateway.get(GET_PATH).mock(return_value=OK)
    client = make_client(retry=RetryPolicy(deadline=None))
    await resolve(client.service_tests.get(123, timeout=7))
    await resolve(client.service_tests.get(123, timeout=httpx.Timeout(3, connect=1)))
    first, second = (call.request.extensions["timeout"] for call in route.calls)
    assert first["read"] == 7.0
    assert (second["read"], second["connect"]) == (3.0, 1.0)


async def test_max_retries_zero_turns_retries_off(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    route = gateway.get(GET_PATH).respond(503)
    with pytest.raises(ServiceUnavailableError):
        await resolve(make_client(max_retries=0).service_tests.get(123))
    assert route.call_count == 1


@pytest.mark.parametrize("kind", ["async"])
async def test_concurrent_calls_each_get_their_own_retry_budget(
    make_client: MakeClient, gateway: respx.MockRouter
) -> None:
    seen: dict[str, int] = {}

    def flaky(request: httpx.Request) -> httpx.Response:
        conversation = request.headers["X-Conversation-ID"]
        seen[conversation] = seen.get(conversation, 0) + 1
        return httpx.Response(503) if seen[conversation] <= 2 else OK

    gateway.get(GET_PATH).mock(side_effect=flaky)
    client = make_client()
    assert isinstance(client, AsyncFibreCafe)
    results = await asyncio.gather(*(client.service_tests.get(123) for _ in range(10)))
    assert len(results) == 10
    assert sorted(seen.values()) == [3] * 10
