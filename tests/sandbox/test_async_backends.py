"""The async client against the sandbox on each of its HTTP backends (httpx's pool, aiohttp's).

The same journeys and the same typed errors as the sync client's agreement tests: a backend
changes how bytes move, never what a call returns or raises, nor what reaches the gateway.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fibrecafe_client import (
    APIConnectionError,
    APITimeoutError,
    AsyncFibreCafe,
    AuthenticationError,
    NotFoundError,
    ServiceTestKci,
    ServiceTestStatus,
    ServiceUnavailableError,
    UnprocessableEntityError,
    parse_kci,
)
from fibrecafe_client.sandbox import KciCapture, Sandbox

SERVICE: dict[str, Any] = {
    "service_id": "BBEU00537760",
    "problem_type": "OUTAGE",
    "service_specification": "FTTP",
    "supplier": "FIBRECO",
    "characteristics": {"SERVICE_HAS_WORKED": "false"},
}
CREATE = "/v1/service-tests"
GET = "/v1/service-tests/{id}"


async def test_a_test_runs_to_completion_with_its_kcis(
    async_client: AsyncFibreCafe, fibrecafe_kci_capture: KciCapture
) -> None:
    test = await async_client.service_tests.create(
        **SERVICE, extra_headers={"X-Scenario": "SERVICE_TEST_GREEN", "X-Kci-Delay": "0"}
    )
    assert test.request_id
    assert test.conversation_id
    final = await async_client.service_tests.wait(test.id, timeout=10, poll_interval=0.01)
    assert final.status is ServiceTestStatus.COMPLETED
    kcis = [parse_kci(d.raw) for d in fibrecafe_kci_capture.wait_for_terminal(test.id)]
    assert all(isinstance(k, ServiceTestKci) and k.entity.id == test.id for k in kcis)
    assert [k.sequence_number for k in kcis] == list(range(1, len(kcis) + 1))


async def test_gateway_errors_map_to_the_same_typed_errors(async_client: AsyncFibreCafe) -> None:
    with pytest.raises(NotFoundError) as not_found:
        await async_client.service_tests.get(987654321)
    assert not_found.value.code == "NOT_FOUND"
    assert not_found.value.uuid is not None
    assert not_found.value.request_id is not None
    with pytest.raises(UnprocessableEntityError) as invalid:
        await async_client.service_tests.create(
            **SERVICE, extra_headers={"X-Scenario": "NO_SUCH_SCENARIO"}
        )
    assert invalid.value.code == "INVALID_REQUEST"


async def test_a_revoked_token_is_refetched_once(
    fibrecafe_sandbox: Sandbox, async_client: AsyncFibreCafe
) -> None:
    test = await async_client.service_tests.create(**SERVICE)
    fibrecafe_sandbox.revoke_tokens()
    assert (await async_client.service_tests.get(test.id)).id == test.id
    assert fibrecafe_sandbox.stats.tokens_issued == 2
    fibrecafe_sandbox.faults.token_lifetime = 0.000001  # every new token is dead on arrival
    fibrecafe_sandbox.revoke_tokens()
    with pytest.raises(AuthenticationError):
        await async_client.service_tests.get(test.id)


async def test_a_throttled_create_is_resent_and_creates_one_test(
    fibrecafe_sandbox: Sandbox, async_client: AsyncFibreCafe
) -> None:
    fibrecafe_sandbox.faults.fail_next(2, 429, retry_after=0)
    await async_client.service_tests.create(**SERVICE)
    stats = fibrecafe_sandbox.stats
    assert stats.count("POST", CREATE) == 3
    assert stats.service_tests_created == 1


async def test_a_create_answered_503_is_not_resent(
    fibrecafe_sandbox: Sandbox, async_client: AsyncFibreCafe
) -> None:
    fibrecafe_sandbox.faults.fail_next(1, 503, retry_after=0)
    with pytest.raises(ServiceUnavailableError) as unavailable:
        await async_client.service_tests.create(**SERVICE)
    assert unavailable.value.outcome_unknown
    assert fibrecafe_sandbox.stats.count("POST", CREATE) == 1


async def test_an_unavailable_gateway_exhausts_the_get_retries(
    fibrecafe_sandbox: Sandbox, async_client: AsyncFibreCafe
) -> None:
    fibrecafe_sandbox.faults.fail_next(3, 503, retry_after=0)
    with pytest.raises(ServiceUnavailableError) as unavailable:
        await async_client.service_tests.get(1)
    assert unavailable.value.attempts == 3
    assert fibrecafe_sandbox.stats.count("GET", GET, 503) == 3


async def test_a_dropped_create_is_not_resent(
    fibrecafe_sandbox: Sandbox, async_client: AsyncFibreCafe
) -> None:
    fibrecafe_sandbox.faults.drop_next(1)
    with pytest.raises(APIConnectionError) as dropped:
        await async_client.service_tests.create(**SERVICE)
    assert type(dropped.value) is APIConnectionError
    assert dropped.value.outcome_unknown
    assert fibrecafe_sandbox.stats.count("POST", CREATE) == 1
    assert fibrecafe_sandbox.stats.service_tests_created == 0


async def test_a_slow_gateway_is_a_read_timeout_and_a_create_is_not_resent(
    fibrecafe_sandbox: Sandbox, async_client: AsyncFibreCafe
) -> None:
    await async_client.check_credentials()  # the token first: only the API is slow
    fibrecafe_sandbox.faults.api_latency = 1.0
    short = httpx.Timeout(5.0, read=0.2)
    with pytest.raises(APITimeoutError) as slow_create:
        await async_client.service_tests.create(**SERVICE, timeout=short)
    assert slow_create.value.outcome_unknown
    assert slow_create.value.attempts == 1
    with pytest.raises(APITimeoutError) as slow_get:
        await async_client.service_tests.get(1, timeout=short)
    assert not slow_get.value.outcome_unknown
    assert slow_get.value.attempts == 3
