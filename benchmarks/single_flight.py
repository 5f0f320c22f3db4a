"""Benchmark 3: token single flight, counted (never timed).

1000 coroutines on one ``AsyncFibreCafe`` and, separately, 32 threads on one ``FibreCafe`` call
``get()`` at once: starting cold, after the token expired, and after the gateway revoked it (every
caller gets a 401). Each time exactly one token request must be made. During a token endpoint
outage, the number of token requests must be bounded by the retry policy (its attempts), not by
the number of callers.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from fibrecafe_client import AsyncFibreCafe, FibreCafe, RetryPolicy, TokenError

from ._gateway import BASE_URL, CLIENT_ID, CLIENT_SECRET, MockGateway
from ._report import Figure

__all__ = ["COROUTINES", "THREADS", "run"]

NAME = "3. token single flight"
COROUTINES = 1000
THREADS = 32
#: Seconds the mock token endpoint takes, so that every caller arrives while it is in flight.
TOKEN_DELAY = 0.05
#: Retries of the outage phase: the bound is its attempts (1 + retries).
OUTAGE_POLICY = RetryPolicy(max_retries=2, initial_backoff=0.001, max_backoff=0.002)
_EXPIRY = 4000.0  # seconds to jump the clock: past the 3600 s token lifetime


class _Clock:
    """A monotonic clock that can jump forward (expiry without waiting an hour)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


@dataclass(frozen=True, slots=True)
class Phase:
    """What one phase produced: token and API requests made, callers that failed (and how)."""

    token_requests: int
    api_requests: int
    refused: int
    failures: int
    token_errors: int


Outcomes = list[BaseException | None]


async def _measure(gateway: MockGateway, burst: Callable[[], Awaitable[Outcomes]]) -> Phase:
    tokens, api, refused = gateway.token_requests, gateway.api_requests, gateway.unauthorised
    outcomes = await burst()
    return Phase(
        token_requests=gateway.token_requests - tokens,
        api_requests=gateway.api_requests - api,
        refused=gateway.unauthorised - refused,
        failures=sum(1 for outcome in outcomes if outcome is not None),
        token_errors=sum(1 for outcome in outcomes if isinstance(outcome, TokenError)),
    )


def _revoke_all(gateway: MockGateway) -> None:
    gateway.revoked.update(f"tok-{n}" for n in range(1, gateway.token_requests + 1))


async def _phases(
    gateway: MockGateway, clock: _Clock, burst: Callable[[], Awaitable[Outcomes]]
) -> dict[str, Phase]:
    """Cold, after expiry, after revocation, then an outage of the token endpoint."""
    phases = {"cold": await _measure(gateway, burst)}
    clock.offset += _EXPIRY
    phases["after expiry"] = await _measure(gateway, burst)
    _revoke_all(gateway)
    phases["after revocation (401)"] = await _measure(gateway, burst)
    clock.offset += _EXPIRY
    gateway.token_status = 503
    phases["token endpoint outage"] = await _measure(gateway, burst)
    return phases


def _http_kwargs() -> dict[str, Any]:
    return {"limits": httpx.Limits(max_connections=None), "timeout": httpx.Timeout(30.0)}


def _settings(clock: _Clock) -> dict[str, Any]:
    return {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "base_url": BASE_URL,
        "retry": OUTAGE_POLICY,
        "clock": clock,
    }


async def _coroutine_phases() -> dict[str, Phase]:
    gateway, clock = MockGateway(token_delay=TOKEN_DELAY, refuse_delay=TOKEN_DELAY), _Clock()
    http = httpx.AsyncClient(transport=gateway.async_transport(), **_http_kwargs())
    client = AsyncFibreCafe(**_settings(clock), http_client=http)

    async def one() -> BaseException | None:
        try:
            await client.service_tests.get(123)
        except Exception as exc:
            return exc
        return None

    async def burst() -> Outcomes:
        return list(await asyncio.gather(*(one() for _ in range(COROUTINES))))

    try:
        return await _phases(gateway, clock, burst)
    finally:
        await http.aclose()


def _thread_phases() -> dict[str, Phase]:
    gateway, clock = MockGateway(token_delay=TOKEN_DELAY, refuse_delay=TOKEN_DELAY), _Clock()
    http = httpx.Client(transport=gateway.transport(), **_http_kwargs())
    client = FibreCafe(**_settings(clock), http_client=http)

    def sync_burst() -> Outcomes:
        start = threading.Barrier(THREADS, timeout=30)
        outcomes: Outcomes = [None] * THREADS

        def one(index: int) -> None:
            start.wait()
            try:
                client.service_tests.get(123)
            except Exception as exc:
                outcomes[index] = exc

        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
            if thread.is_alive():
                raise AssertionError("a caller thread did not finish within 60 s")
        return outcomes

    async def burst() -> Outcomes:
        return sync_burst()  # the threads block this (otherwise idle) loop: fine here

    try:
        return asyncio.run(_phases(gateway, clock, burst))
    finally:
        http.close()


def _check(phases: dict[str, Phase], callers: int, who: str) -> None:
    """Every caller succeeded (in the outage: failed with a TokenError without reaching the API);
    after the revocation at least one caller was refused, and every refused request was replayed.
    """
    for label, phase in phases.items():
        outage = label == "token endpoint outage"
        failures = callers if outage else 0
        api = 0 if outage else callers + phase.refused
        revoked = label == "after revocation (401)"
        if (
            (phase.failures, phase.token_errors) != (failures, failures)
            or phase.api_requests != api
            or (revoked and phase.refused == 0)
            or (not revoked and phase.refused != 0)
        ):
            raise AssertionError(f"{who} {label}: {phase}")


def _figures(phases: dict[str, Phase], who: str) -> list[Figure]:
    figures = []
    for label, phase in phases.items():
        if label == "token endpoint outage":
            bound = OUTAGE_POLICY.max_attempts
            note = f"{phase.failures} callers got TokenError; bound = the policy's attempts"
            figures.append(
                Figure(
                    NAME,
                    f"{who}, {label}: token requests",
                    phase.token_requests,
                    "requests",
                    "<=",
                    bound,
                    note,
                )
            )
        else:
            note = f"{phase.api_requests} API requests"
            if phase.refused:
                note += f" ({phase.refused} refused with 401 and replayed once)"
            figures.append(
                Figure(
                    NAME,
                    f"{who}, {label}: token requests",
                    phase.token_requests,
                    "requests",
                    "==",
                    1,
                    note,
                )
            )
    return figures


def run(*, quick: bool) -> list[Figure]:
    """Count token requests in each phase (the same in quick and full mode: they are counts)."""
    del quick
    coroutine_phases = asyncio.run(_coroutine_phases())
    _check(coroutine_phases, COROUTINES, "coroutines")
    thread_phases = _thread_phases()
    _check(thread_phases, THREADS, "threads")
    return _figures(coroutine_phases, f"{COROUTINES} coroutines") + _figures(
        thread_phases, f"{THREADS} threads"
    )
