"""Fault knobs that tests turn, and the counters they read back.

Both are shared between the thread that runs the sandbox's event loop and the test's thread, so
every read-modify-write happens under a lock and readers get immutable snapshots.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

__all__ = [
    "DROPPED",
    "Counters",
    "FailureSpec",
    "FaultTarget",
    "Faults",
    "SandboxStats",
]

#: Which endpoints a queued fault applies to: the service-test API, the token endpoint, or both.
FaultTarget = Literal["api", "token", "any"]
_TARGETS: frozenset[str] = frozenset(get_args(FaultTarget))

#: The status recorded in the request counters for a connection dropped without a response.
DROPPED = 0


@dataclass(frozen=True, slots=True)
class FailureSpec:
    """One forced error response: its status and optional ``Retry-After`` header value."""

    status: int
    retry_after: str | None = None


@dataclass(slots=True)
class _Queued:
    remaining: int
    target: str
    spec: FailureSpec | None  # None: drop the connection


def _seconds(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds")
    if value < 0:
        raise ValueError(f"{name} must be >= 0")
    return float(value)


def _render_retry_after(value: float | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    seconds = _seconds("retry_after", value)
    return str(int(seconds)) if seconds.is_integer() else repr(seconds)


def _check_target(target: str) -> None:
    if target not in _TARGETS:
        raise ValueError(f"target must be one of {sorted(_TARGETS)}, got {target!r}")


def _check_count(count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError("count must be an int >= 0")


class Faults:
    """Runtime knobs that make the sandbox misbehave on purpose.

    Scalars (set them as attributes; ``reset()`` restores them):

    - ``api_latency`` / ``token_latency``: seconds to wait before answering the service-test
      API / the token endpoint.
    - ``token_down``: the token endpoint answers 503 with no body.
    - ``token_garbage``: the token endpoint answers 200 with an HTML body.
    - ``token_lifetime``: how long newly issued tokens are valid (seconds).
    - ``token_expires_in``: the ``expires_in`` advertised to clients, when it should differ from
      the real lifetime (None: tell the truth). Lets a test expire a token "mid-run" while the
      client still believes it valid.

    Queued faults, consumed one request at a time in the order they were added:

    - :meth:`fail_next`: the next ``count`` requests get ``status`` (e.g. 429 or 503 with
      ``Retry-After``, 500, 502).
    - :meth:`drop_next`: the next ``count`` requests have their connection closed without any
      response.
    """

    def __init__(self, *, token_lifetime: float) -> None:
        self._lock = threading.Lock()
        self._default_token_lifetime = _seconds("token_lifetime", token_lifetime)
        self._queue: deque[_Queued] = deque()
        self._api_latency = 0.0
        self._token_latency = 0.0
        self._token_lifetime = self._default_token_lifetime
        self._token_expires_in: float | None = None
        self.token_down: bool = False
        self.token_garbage: bool = False

    @property
    def api_latency(self) -> float:
        """Seconds added before every service-test API response."""
        return self._api_latency

    @api_latency.setter
    def api_latency(self, value: float) -> None:
        self._api_latency = _seconds("api_latency", value)

    @property
    def token_latency(self) -> float:
        """Seconds added before every token endpoint response."""
        return self._token_latency

    @token_latency.setter
    def token_latency(self, value: float) -> None:
        self._token_latency = _seconds("token_latency", value)

    @property
    def token_lifetime(self) -> float:
        """Seconds a newly issued token stays valid."""
        return self._token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, value: float) -> None:
        seconds = _seconds("token_lifetime", value)
        if seconds == 0:
            raise ValueError("token_lifetime must be > 0")
        self._token_lifetime = seconds

    @property
    def token_expires_in(self) -> float | None:
        """``expires_in`` advertised to clients (None: the real lifetime)."""
        return self._token_expires_in

    @token_expires_in.setter
    def token_expires_in(self, value: float | None) -> None:
        self._token_expires_in = None if value is None else _seconds("token_expires_in", value)

    def fail_next(
        self,
        count: int = 1,
        status: int = 503,
        *,
        retry_after: float | str | None = None,
        target: FaultTarget = "api",
    ) -> None:
        """Answer the next ``count`` requests to ``target`` with ``status``.

        503 and 429 have no body (like the gateway's 503); other statuses carry the gateway's
        error body. ``retry_after`` (seconds or an HTTP date) is sent as ``Retry-After``.
        """
        _check_count(count)
        _check_target(target)
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        spec = FailureSpec(status, _render_retry_after(retry_after))
        if count:
            with self._lock:
                self._queue.append(_Queued(count, target, spec))

    def drop_next(self, count: int = 1, *, target: FaultTarget = "api") -> None:
        """Close the connection of the next ``count`` requests to ``target`` without answering."""
        _check_count(count)
        _check_target(target)
        if count:
            with self._lock:
                self._queue.append(_Queued(count, target, None))

    def take(self, endpoint: Literal["api", "token"]) -> FailureSpec | Literal["drop"] | None:
        """Consume the first queued fault that applies to ``endpoint`` (used by the app)."""
        with self._lock:
            for item in self._queue:
                if item.target in (endpoint, "any"):
                    item.remaining -= 1
                    if item.remaining == 0:
                        self._queue.remove(item)
                    return "drop" if item.spec is None else item.spec
        return None

    def pending(self) -> int:
        """How many queued faults (requests) are still to be consumed."""
        with self._lock:
            return sum(item.remaining for item in self._queue)

    def reset(self) -> None:
        """Clear queued faults and restore every knob to its start value."""
        with self._lock:
            self._queue.clear()
            self._api_latency = 0.0
            self._token_latency = 0.0
            self._token_lifetime = self._default_token_lifetime
            self._token_expires_in = None
            self.token_down = False
            self.token_garbage = False

    def update(self, settings: Mapping[str, Any]) -> None:
        """Set several scalar knobs from a mapping (the admin API); unknown names raise."""
        unknown = set(settings) - set(_SCALARS)
        if unknown:
            raise ValueError(f"unknown fault knob(s): {sorted(unknown)}; known: {_SCALARS}")
        for name in ("token_down", "token_garbage"):
            if name in settings and not isinstance(settings[name], bool):
                raise ValueError(f"{name} must be true or false")
        for name in _SCALARS:  # validate all before setting any
            if name in settings and name not in ("token_down", "token_garbage"):
                value = settings[name]
                if not (name == "token_expires_in" and value is None):
                    _seconds(name, value)
        for name, value in settings.items():
            setattr(self, name, value)

    def describe(self) -> dict[str, Any]:
        """The current knob values and queued faults, as JSON-ready data."""
        with self._lock:
            queued = [
                {
                    "remaining": item.remaining,
                    "target": item.target,
                    "kind": "drop" if item.spec is None else "fail",
                    **(
                        {}
                        if item.spec is None
                        else {"status": item.spec.status, "retry_after": item.spec.retry_after}
                    ),
                }
                for item in self._queue
            ]
        return {name: getattr(self, name) for name in _SCALARS} | {"queued": queued}


_SCALARS: tuple[str, ...] = (
    "api_latency",
    "token_latency",
    "token_down",
    "token_garbage",
    "token_lifetime",
    "token_expires_in",
)


@dataclass(frozen=True, slots=True)
class SandboxStats:
    """A snapshot of what the sandbox has seen since it started (or was last reset).

    ``requests`` maps ``(method, route, status)`` to a count; ``route`` is the route template
    (``/v1/service-tests/{id}``), and status ``0`` (:data:`DROPPED`) means the connection was
    closed without a response. Admin requests (``/_sandbox/...``) are not counted.
    """

    requests: Mapping[tuple[str, str, int], int] = field(
        default_factory=dict[tuple[str, str, int], int]
    )
    tokens_issued: int = 0
    service_tests_created: int = 0
    kcis_emitted: int = 0
    kci_delivery_attempts: int = 0
    kcis_delivered: int = 0
    kci_delivery_failures: int = 0
    kcis_given_up: int = 0

    def count(
        self, method: str | None = None, route: str | None = None, status: int | None = None
    ) -> int:
        """Requests seen matching every filter given (None matches anything)."""
        return sum(
            n
            for (m, r, s), n in self.requests.items()
            if (method is None or m == method.upper())
            and (route is None or r == route)
            and (status is None or s == status)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the admin API's ``GET /_sandbox/stats``)."""
        return {
            "requests": [
                {"method": m, "route": r, "status": s, "count": n}
                for (m, r, s), n in sorted(self.requests.items())
            ],
            "tokens_issued": self.tokens_issued,
            "service_tests_created": self.service_tests_created,
            "kcis_emitted": self.kcis_emitted,
            "kci_delivery_attempts": self.kci_delivery_attempts,
            "kcis_delivered": self.kcis_delivered,
            "kci_delivery_failures": self.kci_delivery_failures,
            "kcis_given_up": self.kcis_given_up,
        }


_COUNTER_NAMES: tuple[str, ...] = (
    "tokens_issued",
    "service_tests_created",
    "kcis_emitted",
    "kci_delivery_attempts",
    "kcis_delivered",
    "kci_delivery_failures",
    "kcis_given_up",
)
CounterName = Literal[
    "tokens_issued",
    "service_tests_created",
    "kcis_emitted",
    "kci_delivery_attempts",
    "kcis_delivered",
    "kci_delivery_failures",
    "kcis_given_up",
]


class Counters:
    """Thread-safe counters behind :class:`SandboxStats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str, int]] = Counter()
        self._totals: Counter[str] = Counter()

    def record_request(self, method: str, route: str, status: int) -> None:
        """Count one request answered with ``status`` (or :data:`DROPPED`)."""
        with self._lock:
            self._requests[(method, route, status)] += 1

    def add(self, name: CounterName, amount: int = 1) -> None:
        """Increase one of the named totals."""
        with self._lock:
            self._totals[name] += amount

    def snapshot(self) -> SandboxStats:
        """An immutable copy of every counter."""
        with self._lock:
            totals = {name: self._totals[name] for name in _COUNTER_NAMES}
            return SandboxStats(requests=dict(self._requests), **totals)

    def reset(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            self._requests.clear()
            self._totals.clear()
