"""The pure retry decisions: what may be resent, waits, Retry-After, policy validation."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from fibrecafe_client import ConfigurationError, RetryPolicy
from fibrecafe_client._retry import outcome_unknown, parse_retry_after, retry_reason

REQ = httpx.Request("GET", "https://gateway.test/v1/service-tests/1")

EVERY_ERROR: list[Exception] = [
    httpx.ConnectError("refused", request=REQ),
    httpx.ConnectTimeout("connect", request=REQ),
    httpx.PoolTimeout("pool", request=REQ),
    httpx.ReadTimeout("read", request=REQ),
    httpx.WriteTimeout("write", request=REQ),
    httpx.ReadError("reset", request=REQ),
    httpx.WriteError("broken pipe", request=REQ),
    httpx.RemoteProtocolError("server disconnected", request=REQ),
]
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@pytest.mark.parametrize("exc", EVERY_ERROR, ids=lambda e: type(e).__name__)
def test_get_retries_every_connection_error_and_timeout(exc: Exception) -> None:
    assert retry_reason("GET", exc) is not None
    assert not outcome_unknown("GET", exc)


@pytest.mark.parametrize("exc", EVERY_ERROR, ids=lambda e: type(e).__name__)
def test_post_retries_only_what_was_provably_never_sent(exc: Exception) -> None:
    never_sent = isinstance(exc, NEVER_SENT)
    assert (retry_reason("POST", exc) is not None) is never_sent
    assert outcome_unknown("POST", exc) is not never_sent


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 429, 500, 501, 502, 503, 504])
def test_status_rules(status: int) -> None:
    get_retry = status in (429, 500, 502, 503, 504)
    post_retry = status == 429
    assert (retry_reason("GET", status) is not None) is get_retry
    assert (retry_reason("POST", status) is not None) is post_retry
    assert outcome_unknown("POST", status) is (status >= 500)
    assert outcome_unknown("GET", status) is False


def test_local_errors_are_never_retried() -> None:
    assert retry_reason("GET", httpx.UnsupportedProtocol("ftp", request=REQ)) is None
    assert retry_reason("GET", httpx.LocalProtocolError("bad header", request=REQ)) is None
    assert not outcome_unknown("POST", httpx.UnsupportedProtocol("ftp", request=REQ))


def test_replay_safe_override_treats_a_post_like_a_get() -> None:
    timeout = httpx.ReadTimeout("read", request=REQ)
    assert retry_reason("POST", timeout, replay_safe=True) == "read timeout"
    assert retry_reason("POST", 500, replay_safe=True) == "status 500"


def test_should_retry_counts_attempts() -> None:
    policy = RetryPolicy(max_retries=2)
    assert policy.should_retry("GET", 503, 1) == "status 503"
    assert policy.should_retry("GET", 503, 2) == "status 503"
    assert policy.should_retry("GET", 503, 3) is None
    assert RetryPolicy(max_retries=0).should_retry("GET", 503, 1) is None
    assert policy.should_retry("POST", 500, 1) is None


def test_full_jitter_backoff_stays_within_the_growing_ceiling() -> None:
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=4.0)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0), (5000, 4.0)]:
        waits = [policy.backoff(attempt, rng=rng.random) for _ in range(200)]
        assert all(0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling * 0.8  # full jitter spreads over the whole range
        assert min(waits) < ceiling * 0.2
    assert policy.backoff(3, rng=lambda: 1.0) == 2.0
    assert policy.backoff(3, rng=lambda: 0.0) == 0.0


def test_retry_after_seconds_is_obeyed_and_capped() -> None:
    policy = RetryPolicy(max_retry_after=30.0)
    assert policy.compute_wait(1, retry_after=7.0, rng=lambda: 0.5) == 7.0
    assert policy.compute_wait(1, retry_after=3600.0, rng=lambda: 0.5) == 30.0
    # 0 or absent: the jittered backoff applies instead of hammering
    assert policy.compute_wait(2, retry_after=0.0, rng=lambda: 1.0) == 1.0
    assert policy.compute_wait(2, retry_after=None, rng=lambda: 1.0) == 1.0


def test_parse_retry_after_forms() -> None:
    now = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert (
        parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now)
        == 90.0
    )
    assert parse_retry_after("Mon, 23 Nov 2026 11:00:00 GMT", now=now) == 0.0  # past
    for garbage in (None, "", "soon", "-5", "1e9999", "NaN", "Mon, 99 Foo 2026"):
        assert parse_retry_after(garbage, now=now) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"max_retries": True},
        {"max_retries": 1.5},
        {"initial_backoff": -0.1},
        {"max_backoff": float("inf")},
        {"initial_backoff": 2.0, "max_backoff": 1.0},
        {"deadline": 0},
        {"max_retry_after": "10"},
    ],
)
def test_invalid_policies_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_is_frozen_and_replace_derives_copies() -> None:
    policy = RetryPolicy()
    with pytest.raises(AttributeError):
        policy.max_retries = 5  # type: ignore[misc]
    assert policy.replace(max_retries=5).max_retries == 5
    assert policy.replace(deadline=None).deadline is None
    assert policy.replace(initial_backoff=0.1).deadline == policy.deadline
    assert policy.max_attempts == 3
