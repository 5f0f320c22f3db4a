"""Every call within its deadline (issue 11, points 1-4), on real sockets, every client kind.

The one wall-clock assertion allowed is the deadline target itself: a call ends within its
deadline + 1 s (:data:`MARGIN`). Everything else asserts outcomes and counts. The largest
overrun seen is written to ``FIBRECAFE_OVERRUNS`` (a path) when it is set, for the docs.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fibrecafe_client import (
    APIConnectionError,
    APITimeoutError,
    AsyncFibreCafe,
    FibreCafe,
    RetryPolicy,
    ServiceTest,
    ServiceTestWaitTimeout,
    TokenConnectionError,
    TokenError,
    TokenTimeoutError,
)

from .badserver import BadGateway, Behaviour, json_answer
from .canaries import CANARY_SECRET, CLIENT_ID, assert_clean_exception
from .runner import KINDS, Kind, async_backend, run_in_thread
from .test_faults import CREATE_ARGS, GET_ID, HANG

pytestmark = pytest.mark.network

DEADLINE = 2.0
#: The issue's target: no call ends later than its deadline + 1 s.
MARGIN = 1.0
POLICY = RetryPolicy(max_retries=2, initial_backoff=0.01, max_backoff=0.02, deadline=DEADLINE)
#: A 1 s read timeout, as in the issue: a drip of one byte per 0.25 s never trips it.
CALL_TIMEOUT = httpx.Timeout(5.0, read=1.0)
#: One byte every 0.25 s for 40 minutes: a drip that, uncut, outlasts any test.
TRICKLE = Behaviour("trickle", drip=0.25, drip_bytes=10_000)
STALL = Behaviour("stall mid-body", drip=30.0, drip_bytes=1)
OVERRUNS: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_overruns() -> Iterator[None]:
    yield
    target = os.environ.get("FIBRECAFE_OVERRUNS")
    if target and OVERRUNS:
        rows = [f"{case}: {value:+.3f} s" for case, value in sorted(OVERRUNS.items())]
        Path(target).write_text("\n".join(rows) + "\n", encoding="utf-8")


def overrun(case: str, elapsed: float, deadline: float) -> None:
    """Record the overrun and assert the target (deadline + 1 s)."""
    OVERRUNS[case] = max(OVERRUNS.get(case, -1e9), elapsed - deadline)
    assert elapsed <= deadline + MARGIN, f"{case}: {elapsed:.2f}s for a {deadline}s deadline"


def kwargs(bad: BadGateway, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CANARY_SECRET,
        "base_url": bad.base_url,
        "token_url": bad.token_url,
        "retry": POLICY,
        "timeout": CALL_TIMEOUT,
    }
    base.update(changes)
    return base


def run(kind: Kind, client_kwargs: dict[str, Any], op: str, what: str) -> Any:
    """One call with a fresh client of ``kind`` (real sleeps), bounded by a hang check."""

    def sync_work() -> ServiceTest:
        with FibreCafe(**client_kwargs) as client:
            if op == "create":
                return client.service_tests.create(**CREATE_ARGS)
            return client.service_tests.get(GET_ID)

    async def async_work() -> ServiceTest:
        async with AsyncFibreCafe(**client_kwargs, http_backend=async_backend(kind)) as client:
            if op == "create":
                return await client.service_tests.create(**CREATE_ARGS)
            return await client.service_tests.get(GET_ID)

    work = sync_work if kind == "sync" else (lambda: asyncio.run(async_work()))
    return run_in_thread(work, DEADLINE + 20.0, what)


# -- 1. a trickling answer is cut off at the deadline --------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("op", ["create", "get"])
def test_trickling_api_answer_ends_at_the_deadline(kind: Kind, op: str, bad: BadGateway) -> None:
    bad.script("api", TRICKLE, times=3)
    outcome = run(kind, kwargs(bad), op, f"{op} on a trickle")
    error = outcome.error
    assert isinstance(error, APITimeoutError), repr(error)
    assert error.attempts == 1  # no time was left for another
    assert error.outcome_unknown is (op == "create")
    assert bad.seen("api") == 1
    assert bad.created == (1 if op == "create" else 0)
    assert_clean_exception(error)
    overrun(f"trickling API answer, {op}, {kind}", outcome.elapsed, DEADLINE)


@pytest.mark.parametrize("kind", KINDS)
def test_trickling_token_answer_ends_at_the_deadline(kind: Kind, bad: BadGateway) -> None:
    bad.script("token", TRICKLE, times=3)
    outcome = run(kind, kwargs(bad), "get", "get on a trickling token endpoint")
    error = outcome.error
    assert isinstance(error, TokenTimeoutError), repr(error)
    assert isinstance(error, APITimeoutError)
    assert error.outcome_unknown is False
    assert bad.seen("api") == 0
    assert bad.seen("token") == 1
    assert_clean_exception(error)
    overrun(f"trickling token answer, get, {kind}", outcome.elapsed, DEADLINE)


# -- 2. the token fetch within the caller's budget ------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_token_stall_is_bounded_by_a_with_options_deadline(kind: Kind, bad: BadGateway) -> None:
    """A default client (120 s deadline, 30 s reads) and a copy with a 2 s deadline."""
    bad.script("token", STALL, times=3)
    client_kwargs = kwargs(bad, retry=RetryPolicy(), timeout=httpx.Timeout(30.0))
    short = POLICY.replace(max_retries=2)

    def sync_work() -> ServiceTest:
        with FibreCafe(**client_kwargs) as client:
            return client.with_options(retry=short).service_tests.get(GET_ID)

    async def async_work() -> ServiceTest:
        async with AsyncFibreCafe(**client_kwargs, http_backend=async_backend(kind)) as client:
            return await client.with_options(retry=short).service_tests.get(GET_ID)

    work = sync_work if kind == "sync" else (lambda: asyncio.run(async_work()))
    outcome = run_in_thread(work, 30.0, "get through a stalling token endpoint")
    assert isinstance(outcome.error, TokenTimeoutError), repr(outcome.error)
    assert bad.seen("token") == 1
    assert bad.seen("api") == 0
    overrun(f"token endpoint stalls mid-body, get, {kind}", outcome.elapsed, DEADLINE)


def _started_fetch(bad: BadGateway) -> None:
    """Block until the token endpoint has seen a request (bounded)."""
    limit = time.monotonic() + 10.0
    while bad.seen("token") < 1:
        assert time.monotonic() < limit, "the first token request never arrived"
        time.sleep(0.01)


@pytest.mark.parametrize("kind", KINDS)
def test_short_budget_failure_is_not_shared_with_a_patient_waiter(
    kind: Kind, bad: BadGateway
) -> None:
    """A fetch that fails only because its caller's budget ran out is not handed to a waiter
    with more time: that one fetches for itself and succeeds (2 token requests)."""
    bad.script("token", Behaviour("slow token", delay=3.0))
    client_kwargs = kwargs(bad, retry=POLICY.replace(deadline=20.0), timeout=httpx.Timeout(10.0))
    hasty = POLICY.replace(deadline=1.0)
    results: dict[str, Any] = {}

    def sync_work() -> None:
        with FibreCafe(**client_kwargs) as client:

            def call(name: str, c: FibreCafe) -> None:
                try:
                    results[name] = c.service_tests.get(GET_ID)
                except Exception as exc:
                    results[name] = exc

            first = threading.Thread(target=call, args=("hasty", client.with_options(retry=hasty)))
            first.start()
            _started_fetch(bad)
            call("patient", client)
            first.join(10.0)

    async def async_work() -> None:
        async with AsyncFibreCafe(**client_kwargs, http_backend=async_backend(kind)) as client:

            async def call(name: str, c: AsyncFibreCafe) -> None:
                try:
                    results[name] = await c.service_tests.get(GET_ID)
                except Exception as exc:
                    results[name] = exc

            first = asyncio.create_task(call("hasty", client.with_options(retry=hasty)))
            await asyncio.to_thread(_started_fetch, bad)
            await call("patient", client)
            await first

    work = sync_work if kind == "sync" else (lambda: asyncio.run(async_work()))
    outcome = run_in_thread(work, 30.0, "two callers")
    assert outcome.error is None, repr(outcome.error)
    assert isinstance(results["hasty"], TokenTimeoutError), repr(results["hasty"])
    assert isinstance(results["patient"], ServiceTest), repr(results["patient"])
    assert bad.seen("token") == 2
    assert bad.seen("api") == 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_real_outage_is_still_shared(kind: Kind, bad: BadGateway, dead_url: str) -> None:
    """Refused by the token endpoint: 8 concurrent callers, one fetch's 3 attempts in all."""
    bad.script("token", json_answer("503", 503, {}), times=30)
    client_kwargs = kwargs(bad, retry=POLICY.replace(deadline=10.0))
    errors: list[BaseException] = []

    def sync_work() -> None:
        with FibreCafe(**client_kwargs) as client:

            def call() -> None:
                try:
                    client.service_tests.get(GET_ID)
                except Exception as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=call) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(15.0)

    async def async_work() -> None:
        async with AsyncFibreCafe(**client_kwargs, http_backend=async_backend(kind)) as client:
            got = await asyncio.gather(
                *(client.service_tests.get(GET_ID) for _ in range(8)), return_exceptions=True
            )
            errors.extend(e for e in got if isinstance(e, BaseException))

    work = sync_work if kind == "sync" else (lambda: asyncio.run(async_work()))
    outcome = run_in_thread(work, 30.0, "eight callers, token endpoint down")
    assert outcome.error is None
    assert len(errors) == 8
    assert all(type(e) is TokenError and e.status_code == 503 for e in errors), errors
    assert bad.seen("token") == 3


# -- 3. wait(timeout=T) ends by T with the last state -----------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_wait_ends_by_its_timeout_when_a_poll_hangs(kind: Kind, bad: BadGateway) -> None:
    """The first poll answers (IN_PROGRESS), the next ones hang; default client policy."""
    bad.script("api", Behaviour(), *(HANG,) * 10)
    client_kwargs = kwargs(bad, retry=RetryPolicy(), timeout=httpx.Timeout(30.0))
    timeout = 2.0

    def sync_work() -> ServiceTest:
        with FibreCafe(**client_kwargs) as client:
            return client.service_tests.wait(GET_ID, timeout=timeout, poll_interval=0.2)

    async def async_work() -> ServiceTest:
        async with AsyncFibreCafe(**client_kwargs, http_backend=async_backend(kind)) as client:
            return await client.service_tests.wait(GET_ID, timeout=timeout, poll_interval=0.2)

    work = sync_work if kind == "sync" else (lambda: asyncio.run(async_work()))
    outcome = run_in_thread(work, 40.0, "wait with a hanging poll")
    error = outcome.error
    assert isinstance(error, ServiceTestWaitTimeout), repr(error)
    assert error.last is not None
    assert error.last.id == GET_ID
    assert str(error.last.status) == "IN_PROGRESS"
    assert isinstance(error.__cause__, APITimeoutError)
    assert bad.seen("api") == 2  # the answered poll, and the one that hung
    overrun(f"wait(timeout=2) with a hanging poll, {kind}", outcome.elapsed, timeout)


# -- 4. a token endpoint that cannot be reached is a connection error -----------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("fault", "expected"),
    [("refused", TokenConnectionError), ("silent", TokenTimeoutError)],
)
def test_unreachable_token_endpoint_is_a_connection_error(
    kind: Kind,
    fault: str,
    expected: type[TokenConnectionError],
    bad: BadGateway,
    dead_url: str,
) -> None:
    if fault == "silent":
        bad.script("token", Behaviour("silent", on_accept="silent"), times=3)
        client_kwargs = kwargs(bad, timeout=httpx.Timeout(5.0, read=0.3))
    else:
        client_kwargs = kwargs(bad, token_url=dead_url + "/token")
    outcome = run(kind, client_kwargs, "create", f"create, token endpoint {fault}")
    error = outcome.error
    assert type(error) is expected, repr(error)
    assert isinstance(error, APIConnectionError)
    assert isinstance(error, TokenError)
    assert (fault == "silent") is isinstance(error, APITimeoutError)
    assert error.outcome_unknown is False  # the API never saw the POST
    assert error.request_id
    assert error.conversation_id
    assert error.method == "POST"
    assert bad.seen("api") == 0
    assert_clean_exception(error)


@pytest.mark.parametrize("kind", KINDS)
def test_a_refusal_stays_a_plain_token_error(kind: Kind, bad: BadGateway) -> None:
    bad.script("token", json_answer("400", 400, {"error": "invalid_client"}))
    outcome = run(kind, kwargs(bad), "get", "get, credentials refused")
    error = outcome.error
    assert type(error) is TokenError, repr(error)
    assert not isinstance(error, APIConnectionError)
    assert error.request_id
    assert error.error == "invalid_client"
