"""One client shared by 32 threads, one async client by 1000 coroutines, while tokens expire.

Two kinds of expiry, each with an exact expected count of token requests (counted by the
sandbox):

- the token runs out on the client's clock (the normal case: the client refreshes before use).
  The clock is the client's injectable monotonic clock, jumped forward mid-burst; the
  retry deadline is off so the jump changes nothing else. One token request per jump;
- the gateway revokes every token mid-burst (the 401 path): the requests in flight get 401,
  exactly one new token is fetched, and each refused request is replayed once with it.

Every call must succeed, the sandbox must have created exactly the tests asked for, and every
wait is bounded. The async cases run on both HTTP backends of the async client.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest

from fibrecafe_client import (
    AsyncFibreCafe,
    FibreCafe,
    RetryPolicy,
    ServiceTest,
    aiohttp_http_client,
)
from fibrecafe_client._aiohttp import HttpBackend
from fibrecafe_client.sandbox import Sandbox

from .runner import ASYNC_BACKENDS, run_in_thread

pytestmark = pytest.mark.network

THREADS = 32
CALLS_PER_THREAD = 8
COROUTINES = 1000
LIMIT = 120.0
TOKEN_ROUTE = "/v1/auth/tenant/access-token"
#: No deadline: a jump of the client's clock must not cut any call short.
RETRY = RetryPolicy(max_retries=2, initial_backoff=0.01, max_backoff=0.02, deadline=None)
CREATE_ARGS: dict[str, Any] = {
    "service_id": "BBEU00537760",
    "problem_type": "OUTAGE",
    "service_specification": "FTTP",
    "supplier": "FIBRECO",
    "characteristics": {"SERVICE_HAS_WORKED": "false"},
}
#: Further than any token lifetime (3600 s): after a jump the cached token is stale.
JUMP = 4000.0


class JumpClock:
    """A monotonic clock that a test can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def jump(self) -> None:
        self.offset += JUMP


class Milestones:
    """Counts finished calls and runs an action when the count reaches given values."""

    def __init__(self, at: Mapping[int, Callable[[], object]]) -> None:
        self._at = at
        self._done = 0
        self._lock = threading.Lock()
        self.fired: list[object] = []

    def finished(self) -> None:
        with self._lock:
            self._done += 1
            action = self._at.get(self._done)
            if action is not None:
                self.fired.append(action())


def token_requests(sandbox: Sandbox) -> int:
    return sandbox.stats.count("POST", TOKEN_ROUTE)


def run_threads(client: FibreCafe, seed: ServiceTest, milestones: Milestones) -> list[str]:
    """THREADS threads, each making CALLS_PER_THREAD alternating creates and gets."""
    problems: list[str] = []
    start = threading.Barrier(THREADS, timeout=LIMIT)

    def worker(index: int) -> None:
        try:
            start.wait()
            for call in range(CALLS_PER_THREAD):
                if (index + call) % 2:
                    assert client.service_tests.get(seed.id).id == seed.id
                else:
                    assert client.service_tests.create(**CREATE_ARGS).id > seed.id
                milestones.finished()
        except BaseException as exc:
            problems.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(LIMIT)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    return problems


async def run_coroutines(client: AsyncFibreCafe, milestones: Milestones) -> list[BaseException]:
    """COROUTINES coroutines started at once, each creating a test and then getting it.

    Sequential calls inside each coroutine matter: a request takes its token when it starts,
    so only calls started after an expiry can show whether the client refreshes once.
    """

    async def one() -> None:
        created = await client.service_tests.create(**CREATE_ARGS)
        milestones.finished()
        fetched = await client.service_tests.get(created.id)
        assert fetched.id == created.id  # every answer is the one for this request
        milestones.finished()

    outcomes = await asyncio.gather(*(one() for _ in range(COROUTINES)), return_exceptions=True)
    return [o for o in outcomes if isinstance(o, BaseException)]


TOTAL_SYNC = THREADS * CALLS_PER_THREAD


def test_32_threads_while_the_clock_expires_the_token(sandbox: Sandbox) -> None:
    sandbox.revoke_tokens()  # only this test's tokens are counted
    clock = JumpClock()
    client = FibreCafe(**sandbox.client_kwargs(), retry=RETRY, clock=clock)
    seed = client.service_tests.create(**CREATE_ARGS)
    jumps = {
        TOTAL_SYNC // 4: clock.jump,
        TOTAL_SYNC // 2: clock.jump,
        3 * TOTAL_SYNC // 4: clock.jump,
    }
    milestones = Milestones(jumps)
    outcome = run_in_thread(lambda: run_threads(client, seed, milestones), LIMIT + 10, "threads")
    client.close()
    assert outcome.error is None, repr(outcome.error)
    assert outcome.result == []
    assert len(milestones.fired) == 3
    assert token_requests(sandbox) == 1 + 3  # one per expiry, however many threads
    assert sandbox.stats.service_tests_created == 1 + TOTAL_SYNC // 2
    assert sandbox.stats.count(status=401) == 0


def test_32_threads_across_a_revocation(sandbox: Sandbox) -> None:
    sandbox.revoke_tokens()
    client = FibreCafe(**sandbox.client_kwargs(), retry=RETRY)
    seed = client.service_tests.create(**CREATE_ARGS)
    milestones = Milestones({TOTAL_SYNC // 2: sandbox.revoke_tokens})
    outcome = run_in_thread(lambda: run_threads(client, seed, milestones), LIMIT + 10, "threads")
    client.close()
    assert outcome.error is None, repr(outcome.error)
    assert outcome.result == []
    assert milestones.fired == [1]  # one live token was revoked
    assert token_requests(sandbox) == 2
    assert sandbox.stats.service_tests_created == 1 + TOTAL_SYNC // 2
    assert sandbox.stats.count(status=401) >= 1  # the revocation was seen mid-burst


TOTAL_ASYNC = 2 * COROUTINES


@pytest.mark.parametrize("backend", ASYNC_BACKENDS)
def test_1000_coroutines_while_the_clock_expires_the_token(
    sandbox: Sandbox, backend: HttpBackend
) -> None:
    sandbox.revoke_tokens()
    clock = JumpClock()
    jumps = Milestones({TOTAL_ASYNC // 4: clock.jump, TOTAL_ASYNC // 2: clock.jump})

    async def burst() -> list[BaseException]:
        async with AsyncFibreCafe(
            **sandbox.client_kwargs(), retry=RETRY, clock=clock, http_backend=backend
        ) as client:
            return await run_coroutines(client, jumps)

    outcome = run_in_thread(lambda: asyncio.run(burst()), LIMIT, "1000 coroutines")
    assert outcome.error is None, repr(outcome.error)
    assert outcome.result == []
    assert len(jumps.fired) == 2
    assert token_requests(sandbox) == 1 + 2  # the cold start, then one per expiry
    assert sandbox.stats.service_tests_created == COROUTINES
    assert sandbox.stats.count(status=401) == 0


@pytest.mark.parametrize("backend", ASYNC_BACKENDS)
def test_1000_coroutines_across_a_revocation(sandbox: Sandbox, backend: HttpBackend) -> None:
    sandbox.revoke_tokens()
    revocation = Milestones({TOTAL_ASYNC // 2: sandbox.revoke_tokens})

    async def burst() -> list[BaseException]:
        async with AsyncFibreCafe(
            **sandbox.client_kwargs(), retry=RETRY, http_backend=backend
        ) as client:
            return await run_coroutines(client, revocation)

    outcome = run_in_thread(lambda: asyncio.run(burst()), LIMIT, "1000 coroutines")
    assert outcome.error is None, repr(outcome.error)
    assert outcome.result == []
    assert revocation.fired == [1]
    assert token_requests(sandbox) == 2
    assert sandbox.stats.service_tests_created == COROUTINES
    assert sandbox.stats.count(status=401) >= 1


@pytest.mark.parametrize("kind", ["sync", "async", "aiohttp"])
def test_a_401_storm_wider_than_the_pool_does_not_starve_the_token_request(
    sandbox: Sandbox, kind: str
) -> None:
    """More requests refused at once than pooled connections: the refresh still gets one.

    Each refused request used to hold its connection while waiting for the new token, so the
    token request waited for a connection that none of them would give back.
    """
    sandbox.revoke_tokens()
    limits = httpx.Limits(max_connections=4)
    timeout = httpx.Timeout(5.0, pool=1.0)  # a starved pool fails fast instead of hanging
    workers = 16
    revocation = Milestones({workers: sandbox.revoke_tokens})

    def threads() -> list[str]:
        with httpx.Client(limits=limits) as http:
            client = FibreCafe(
                **sandbox.client_kwargs(), retry=RETRY, timeout=timeout, http_client=http
            )
            seed = client.service_tests.create(**CREATE_ARGS)
            problems: list[str] = []
            gate = threading.Barrier(workers, timeout=LIMIT)

            def worker() -> None:
                try:
                    gate.wait()
                    for _ in range(3):
                        client.service_tests.get(seed.id)
                        revocation.finished()
                except BaseException as exc:
                    problems.append(f"{type(exc).__name__}: {exc}")

            pool = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join(LIMIT)
            return problems

    async def coroutines() -> list[str]:
        pool = (
            aiohttp_http_client(limits=limits)
            if kind == "aiohttp"
            else httpx.AsyncClient(limits=limits)
        )
        async with pool as http:
            client = AsyncFibreCafe(
                **sandbox.client_kwargs(), retry=RETRY, timeout=timeout, http_client=http
            )
            seed = await client.service_tests.create(**CREATE_ARGS)

            async def one() -> None:
                for _ in range(3):
                    await client.service_tests.get(seed.id)
                    revocation.finished()

            outcomes = await asyncio.gather(
                *(one() for _ in range(workers)), return_exceptions=True
            )
            return [f"{type(o).__name__}: {o}" for o in outcomes if isinstance(o, BaseException)]

    work = threads if kind == "sync" else (lambda: asyncio.run(coroutines()))  # async, aiohttp
    outcome = run_in_thread(work, LIMIT, f"a 401 storm ({kind})")
    assert outcome.error is None, repr(outcome.error)
    assert outcome.result == []
    assert revocation.fired == [1]
    assert token_requests(sandbox) == 2
