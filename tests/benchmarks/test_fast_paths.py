"""The hot-path optimisations keep every decision: retries, logging, and what is built when."""

from __future__ import annotations

import httpx
import pytest
import tenacity

from fibrecafe_client._retry import CallRetry, Outcome, RetryPolicy

POLICY = RetryPolicy(max_retries=2, initial_backoff=0.0, max_backoff=0.0)


class Recorder:
    """Outcomes to hand out, and every classify/retry callback seen."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.attempts = 0
        self.classified: list[tuple[object, int]] = []
        self.retried: list[int] = []

    def attempt(self) -> Outcome:
        self.attempts += 1
        return self.outcomes.pop(0)

    async def aattempt(self) -> Outcome:
        return self.attempt()

    def classify(self, outcome: Outcome, attempt: int) -> str | None:
        status = outcome.status_code if isinstance(outcome, httpx.Response) else outcome
        self.classified.append((status, attempt))
        return POLICY.should_retry("GET", status, attempt)

    def retry(self) -> CallRetry:
        return CallRetry(
            POLICY,
            classify=self.classify,
            clock=lambda: 0.0,
            on_retry=lambda attempt, wait, reason: self.retried.append(attempt),
        )


def _no_tenacity(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tenacity was built for a call that needs no retry")

    monkeypatch.setattr(tenacity, "Retrying", refuse)
    monkeypatch.setattr(tenacity, "AsyncRetrying", refuse)


def test_a_first_success_builds_no_tenacity(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_tenacity(monkeypatch)
    rec = Recorder(httpx.Response(200))
    outcome = rec.retry().run_sync(lambda s: None, rec.attempt)
    assert isinstance(outcome, httpx.Response)
    assert outcome.status_code == 200
    assert (rec.attempts, rec.classified, rec.retried) == (1, [(200, 1)], [])


async def test_a_first_success_builds_no_tenacity_async(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_tenacity(monkeypatch)
    rec = Recorder(httpx.Response(404))

    async def sleep(seconds: float) -> None:
        raise AssertionError("no sleep expected")

    outcome = await rec.retry().run_async(sleep, rec.aattempt)
    assert isinstance(outcome, httpx.Response)
    assert outcome.status_code == 404
    assert (rec.attempts, rec.classified, rec.retried) == (1, [(404, 1)], [])


def test_a_retried_first_attempt_is_replayed_not_resent() -> None:
    rec = Recorder(httpx.Response(503), httpx.Response(502), httpx.Response(200))
    sleeps: list[float] = []
    outcome = rec.retry().run_sync(sleeps.append, rec.attempt)
    assert isinstance(outcome, httpx.Response)
    assert outcome.status_code == 200
    # each attempt made once, classified (and so logged) once, two retries with two sleeps
    assert rec.attempts == 3
    assert rec.classified == [(503, 1), (502, 2), (200, 3)]
    assert rec.retried == [1, 2]
    assert len(sleeps) == 2


async def test_retries_end_with_the_last_outcome_async() -> None:
    rec = Recorder(*(httpx.Response(503) for _ in range(3)))
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    outcome = await rec.retry().run_async(sleep, rec.aattempt)
    assert isinstance(outcome, httpx.Response)
    assert outcome.status_code == 503
    assert rec.attempts == POLICY.max_attempts
    assert rec.classified == [(503, 1), (503, 2), (503, 3)]
    assert rec.retried == [1, 2]


def test_an_exception_raised_by_the_first_attempt_propagates() -> None:
    rec = Recorder()

    def boom() -> Outcome:
        raise KeyError("not retried")

    with pytest.raises(KeyError):
        rec.retry().run_sync(lambda s: None, boom)
    assert rec.classified == []
