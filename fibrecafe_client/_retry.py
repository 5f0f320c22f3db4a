"""The retry policy: what may be resent, how long to wait, and when to give up.

Everything here is pure and shared by the sync and async clients (and by the token fetch):

- :func:`retry_reason` decides from the method and the outcome of one attempt (an exception or
  an HTTP status) whether resending is safe and useful, and says why;
- :func:`outcome_unknown` says whether a failed call may still have been processed by the gateway;
- :class:`RetryPolicy` adds the counting, the full-jitter backoff, ``Retry-After`` and a deadline;
- :class:`CallRetry` wires one logical call into a *new* tenacity ``Retrying``/``AsyncRetrying``
  (a shared tenacity object is not safe under concurrency), built only once a first attempt
  is to be retried: most calls succeed at once, and building it costs more than the rest of
  the SDK's work on a call.

The gateway has no idempotency key, so a POST is resent only when it provably never left this
process (connect error, connect or pool timeout) or when it was refused before processing
(429). A 503 is not proof: a proxy in front of the gateway answers 503 after forwarding a request
that the gateway went on to process, so by default a POST is not resent after a 503 (or any other
5xx); ``RetryPolicy(resend_post_after_503=True)`` opts in, accepting that risk. Anything else after
a POST was sent could create a second service test.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import random
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final, TypeAlias

import httpx
import tenacity

from .errors import ConfigurationError

__all__ = [
    "NEVER_SENT_ERRORS",
    "TRANSPORT_ERRORS",
    "CallRetry",
    "Outcome",
    "RetryPolicy",
    "is_replay_safe",
    "outcome_unknown",
    "parse_retry_after",
    "retry_reason",
]

#: What one HTTP attempt produced: a response, or the httpx exception it raised.
Outcome: TypeAlias = "httpx.Response | Exception"

#: Every exception an httpx ``send`` can raise for a request that is well formed.
TRANSPORT_ERRORS: Final = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError)

#: Failures that happen before any byte of the request reaches the gateway.
NEVER_SENT_ERRORS: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

# Failures that also prove nothing was sent, but are not worth retrying (they will recur).
_NOT_SENT_NOT_RETRIED: Final = (httpx.UnsupportedProtocol, httpx.InvalidURL)

_REPLAY_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_RETRY_ANY_METHOD: Final = frozenset({429})  # refused before processing (rate limited)
_RETRY_REPLAY_SAFE: Final = frozenset({500, 502, 503, 504})
_DELTA_SECONDS = re.compile(r"^\d{1,10}(\.\d{1,6})?$")
_MAX_EXPONENT: Final = 60


class _Unset(enum.Enum):
    UNSET = enum.auto()


_UNSET: Final = _Unset.UNSET


def is_replay_safe(method: str, replay_safe: bool | None = None) -> bool:
    """Whether sending this request twice is harmless (by default: GET, HEAD, OPTIONS)."""
    return method.upper() in _REPLAY_SAFE_METHODS if replay_safe is None else replay_safe


def _describe(exc: BaseException) -> str:
    names: dict[type[BaseException], str] = {
        httpx.ConnectError: "connect error",
        httpx.ConnectTimeout: "connect timeout",
        httpx.PoolTimeout: "pool timeout",
        httpx.ReadTimeout: "read timeout",
        httpx.WriteTimeout: "write timeout",
        httpx.RemoteProtocolError: "remote protocol error",
        httpx.ReadError: "read error",
        httpx.WriteError: "write error",
    }
    return names.get(type(exc), type(exc).__name__)


def retry_reason(
    method: str,
    outcome: BaseException | int,
    *,
    replay_safe: bool | None = None,
    resend_post_after_503: bool = False,
) -> str | None:
    """Why one attempt with this outcome may be resent, or None if it must not be.

    ``outcome`` is the exception the attempt raised or the HTTP status it got. ``replay_safe``
    says whether sending the request twice is harmless; by default only GET/HEAD/OPTIONS are.

    Any method: connect error, connect timeout, pool timeout (nothing was sent), 429; 503 too
    when ``resend_post_after_503`` opts in. Replay-safe methods also: any other connection error
    or timeout, 500, 502, 503, 504.
    """
    safe = is_replay_safe(method, replay_safe)
    if isinstance(outcome, int):
        if (
            outcome in _RETRY_ANY_METHOD
            or (safe and outcome in _RETRY_REPLAY_SAFE)
            or (resend_post_after_503 and outcome == 503)
        ):
            return f"status {outcome}"
        return None
    if isinstance(outcome, NEVER_SENT_ERRORS):
        return _describe(outcome)
    retryable_when_safe = (
        httpx.TimeoutException,
        httpx.NetworkError,
        httpx.RemoteProtocolError,
        httpx.ProxyError,
    )
    if safe and isinstance(outcome, retryable_when_safe):
        return _describe(outcome)
    return None


def outcome_unknown(
    method: str, outcome: BaseException | int, *, replay_safe: bool | None = None
) -> bool:
    """True when a call that ended with ``outcome`` may still have been processed.

    Only meaningful for non-replay-safe methods (a POST): a timeout or broken connection after
    the request was sent, or any 5xx (a proxy's 503 may follow a processed request). 4xx and 429
    are answers that the request was not processed; connect errors prove it never arrived.
    """
    if is_replay_safe(method, replay_safe):
        return False
    if isinstance(outcome, int):
        return outcome >= 500
    return not isinstance(outcome, NEVER_SENT_ERRORS + _NOT_SENT_NOT_RETRIED)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), else None.

    A date in the past gives 0. Garbage gives None (the policy's own backoff then applies).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS.match(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT
        when = when.replace(tzinfo=UTC)
    current = datetime.now(UTC) if now is None else now
    return max(0.0, (when - current).total_seconds())


def _check_number(name: str, value: object, *, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"RetryPolicy.{name} must be a finite number of seconds")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigurationError(f"RetryPolicy.{name} must be {bound} (got {value})")
    return float(value)


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How failed calls are retried. Frozen: derive variants with :meth:`replace`.

    Attributes:
        max_retries: resends after the first attempt (0 turns retries off).
        initial_backoff: ceiling of the first wait, in seconds; doubled at each retry.
        max_backoff: largest ceiling of a wait, in seconds.
        max_retry_after: a server's ``Retry-After`` is honoured up to this many seconds.
        deadline: overall budget of one call in seconds, waits included (None: unbounded).
            No retry starts that would end after it, and each attempt's timeout is cut to fit.

    Waits use full jitter: a uniform random time between 0 and the ceiling, so that many
    clients failing together do not come back together. A ``Retry-After`` from the gateway
    replaces the jittered wait (capped by ``max_retry_after``).

    Raises:
        ConfigurationError: a value is negative, not a number, or ``max_backoff`` is smaller
            than ``initial_backoff``.

    Examples:
        >>> from fibrecafe_client import RetryPolicy
        >>> patient = RetryPolicy(max_retries=4, deadline=300)
        >>> patient.max_attempts
        5
        >>> patient.replace(deadline=None).deadline is None
        True
    """

    max_retries: int = 2
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0
    deadline: float | None = 120.0
    #: Resend a POST after a 503. Off by default: a proxy (load balancer, WAF) in front of the
    #: gateway can answer 503 after forwarding a request that the gateway then processed, so a
    #: resend may create a second service test. Turn it on only when nothing between you and the
    #: gateway can answer 503 after forwarding.
    resend_post_after_503: bool = False

    def __post_init__(self) -> None:
        count = self.max_retries
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ConfigurationError("max_retries must be an int >= 0")
        _check_number("initial_backoff", self.initial_backoff, allow_zero=True)
        _check_number("max_backoff", self.max_backoff, allow_zero=True)
        _check_number("max_retry_after", self.max_retry_after, allow_zero=True)
        if self.deadline is not None:
            _check_number("deadline", self.deadline, allow_zero=False)
        if not isinstance(self.resend_post_after_503, bool):
            raise ConfigurationError("resend_post_after_503 must be a bool")
        if self.max_backoff < self.initial_backoff:
            raise ConfigurationError("RetryPolicy.max_backoff must be >= initial_backoff")

    def replace(
        self,
        *,
        max_retries: int | None = None,
        initial_backoff: float | None = None,
        max_backoff: float | None = None,
        max_retry_after: float | None = None,
        deadline: float | _Unset | None = _UNSET,
        resend_post_after_503: bool | None = None,
    ) -> RetryPolicy:
        """A copy with the given fields changed (``deadline=None`` removes the deadline)."""
        changes: dict[str, object] = {
            name: value
            for name, value in (
                ("max_retries", max_retries),
                ("initial_backoff", initial_backoff),
                ("max_backoff", max_backoff),
                ("max_retry_after", max_retry_after),
                ("resend_post_after_503", resend_post_after_503),
            )
            if value is not None
        }
        if not isinstance(deadline, _Unset):
            changes["deadline"] = deadline
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def max_attempts(self) -> int:
        """Attempts a call may make in all: ``max_retries + 1``."""
        return self.max_retries + 1

    def should_retry(
        self,
        method: str,
        outcome: BaseException | int,
        attempt: int,
        *,
        replay_safe: bool | None = None,
    ) -> str | None:
        """The reason to retry after ``attempt`` attempts ended with ``outcome``, or None.

        None when the outcome must not be resent (see :func:`retry_reason`) or when the
        attempts are used up.
        """
        if attempt > self.max_retries:
            return None
        return retry_reason(
            method,
            outcome,
            replay_safe=replay_safe,
            resend_post_after_503=self.resend_post_after_503,
        )

    def backoff(self, attempt: int, *, rng: Callable[[], float] = random.random) -> float:
        """The full-jitter wait after ``attempt`` failed attempts: uniform in [0, ceiling]."""
        exponent = min(max(attempt - 1, 0), _MAX_EXPONENT)
        ceiling = min(self.max_backoff, self.initial_backoff * 2.0**exponent)
        return rng() * ceiling

    def compute_wait(
        self,
        attempt: int,
        *,
        retry_after: float | None = None,
        rng: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait before the next attempt.

        A positive ``Retry-After`` is obeyed, capped at ``max_retry_after``; otherwise (absent,
        unparseable or 0) the jittered backoff applies.
        """
        if retry_after is not None and retry_after > 0:
            return min(retry_after, self.max_retry_after)
        return self.backoff(attempt, rng=rng)


class CallRetry:
    """The retry state of one logical call, and the fresh tenacity object that drives it.

    The attempt function given to :meth:`run_sync` / :meth:`run_async` returns its
    :data:`Outcome` (response or httpx exception) instead of raising, so tenacity retries on
    results. Anything the attempt *raises* (a :class:`~fibrecafe_client.TokenError`,
    cancellation) is never retried and propagates. When the retries end, the last outcome is
    returned.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        classify: Callable[[Outcome, int], str | None],
        clock: Callable[[], float],
        on_retry: Callable[[int, float, str], None] | None = None,
        on_give_up: Callable[[int, float, str], None] | None = None,
        rng: Callable[[], float] = random.random,
        budget: float | None = None,
    ) -> None:
        self.policy = policy
        # The call's own budget (a caller's deadline): the tighter of it and the policy's.
        limits = [v for v in (policy.deadline, budget) if v is not None]
        self.deadline: float | None = min(limits) if limits else None
        #: True when the budget, not the policy, sets the deadline.
        self.budget_limited = budget is not None and (
            policy.deadline is None or budget < policy.deadline
        )
        self._classify = classify
        self._clock = clock
        self._on_retry = on_retry
        self._on_give_up = on_give_up
        self._rng = rng
        self._start = clock()
        self.reason: str | None = None
        self._first_classified = False

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None when there is no deadline)."""
        if self.deadline is None:
            return None
        return self.deadline - (self._clock() - self._start)

    def deadline_at(self) -> float | None:
        """The deadline as a time of the clock (None when there is no deadline)."""
        return None if self.deadline is None else self._start + self.deadline

    def cap_timeout(self, timeout: httpx.Timeout) -> httpx.Timeout:
        """``timeout`` with every phase cut to the time left before the deadline."""
        remaining = self.remaining()
        if remaining is None:
            return timeout
        left = max(remaining, 0.001)

        def cut(value: float | None) -> float:
            return left if value is None else min(value, left)

        return httpx.Timeout(
            connect=cut(timeout.connect),
            read=cut(timeout.read),
            write=cut(timeout.write),
            pool=cut(timeout.pool),
        )

    def _retry(self, state: tenacity.RetryCallState) -> bool:
        outcome = state.outcome
        if outcome is None or outcome.failed:
            return False
        if state.attempt_number == 1 and self._first_classified:
            return self.reason is not None  # decided (and logged) once, before the replay
        self.reason = self._classify(outcome.result(), state.attempt_number)
        return self.reason is not None

    def _retries_first(self, outcome: Outcome) -> bool:
        """Classify the first attempt's outcome, as tenacity's retry check would."""
        self.reason = self._classify(outcome, 1)
        self._first_classified = True
        return self.reason is not None

    def run_sync(self, sleep: Callable[[float], None], attempt: Callable[[], Outcome]) -> Outcome:
        """Run ``attempt`` under the policy and return the last outcome.

        The first attempt runs on its own; only if it is to be retried is a new
        ``tenacity.Retrying`` built, which replays that first outcome instead of calling
        ``attempt`` again, so every decision is the one tenacity makes from the start.
        """
        first = attempt()
        if not self._retries_first(first):
            return first
        replay = [first]

        def replaying() -> Outcome:
            return replay.pop() if replay else attempt()

        result: Outcome = self.sync(sleep)(replaying)
        return result

    async def run_async(
        self,
        sleep: Callable[[float], Awaitable[None]],
        attempt: Callable[[], Awaitable[Outcome]],
    ) -> Outcome:
        """Async :meth:`run_sync` (a new ``tenacity.AsyncRetrying`` once a retry is due)."""
        first = await attempt()
        if not self._retries_first(first):
            return first
        replay = [first]

        async def replaying() -> Outcome:
            return replay.pop() if replay else await attempt()

        result: Outcome = await self.async_(sleep)(replaying)
        return result

    def _wait(self, state: tenacity.RetryCallState) -> float:
        assert state.outcome is not None
        result = state.outcome.result()
        retry_after = None
        if isinstance(result, httpx.Response):
            retry_after = parse_retry_after(result.headers.get("Retry-After"))
        return self.policy.compute_wait(
            state.attempt_number, retry_after=retry_after, rng=self._rng
        )

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        remaining = self.remaining()
        if remaining is not None and state.upcoming_sleep >= remaining:
            if self._on_give_up is not None:
                self._on_give_up(state.attempt_number, state.upcoming_sleep, self.reason or "")
            return True
        return False

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        if self._on_retry is not None:
            self._on_retry(state.attempt_number, state.upcoming_sleep, self.reason or "")

    @staticmethod
    def _last(state: tenacity.RetryCallState) -> Outcome:
        assert state.outcome is not None
        result: Outcome = state.outcome.result()
        return result

    def sync(self, sleep: Callable[[float], None]) -> tenacity.Retrying:
        """A new ``tenacity.Retrying`` for this call."""
        return tenacity.Retrying(
            sleep=sleep,
            stop=self._stop,
            wait=self._wait,
            retry=self._retry,
            before_sleep=self._before_sleep,
            retry_error_callback=self._last,
        )

    def async_(self, sleep: Callable[[float], Awaitable[None]]) -> tenacity.AsyncRetrying:
        """A new ``tenacity.AsyncRetrying`` for this call."""
        return tenacity.AsyncRetrying(
            sleep=sleep,
            stop=self._stop,
            wait=self._wait,
            retry=self._retry,
            before_sleep=self._before_sleep,
            retry_error_callback=self._last,
        )
