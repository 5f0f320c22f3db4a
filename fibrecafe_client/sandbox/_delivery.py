"""KCI delivery to the tenant's webhooks: in order per test, redelivered with backoff.

Each (webhook, service test) pair is a lane: a FIFO worked by one task, so KCI #2 of a test is
never sent before #1 was accepted (or given up on). Every attempt is a new HTTP request with a
new ``X-Request-ID``; the ``X-Conversation-ID`` is the one the test was created with.

The :class:`DeliveryKnobs` make the multi-replica world testable: round-robin fan-out over the
webhooks as through a load balancer (then one lane per test, each attempt to the next webhook),
N concurrent copies of each KCI, consecutive KCIs of a test swapped, and a per-attempt timeout
after which the KCI is redelivered.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import httpx

from fibrecafe_client._version import __version__

from ._config import (
    FanoutMode,
    SandboxConfig,
    Webhook,
    check_duplicates,
    check_fanout,
    check_seconds,
)
from ._faults import Counters
from ._store import KciEvent
from ._tasks import TaskSet

__all__ = ["DeliveryKnobs", "KciDelivery", "retry_delay"]

logger = logging.getLogger("fibrecafe_client.sandbox")

_USER_AGENT: Final = f"fibrecafe-sandbox/{__version__}"
#: Service-test statuses after which no further KCI of that test follows.
_TERMINAL: Final = frozenset({"COMPLETED", "REJECTED", "FAILED_TO_SEND", "FAILED"})
#: With reordering on, a KCI waits this long for the next one of its test to swap with; a test
#: whose next step is further away gets that KCI delivered in order.
REORDER_HOLD: Final = 5.0
#: The lane key of a test's KCIs under round-robin fan-out (no single webhook owns the lane).
_POOL: Final = 0


class DeliveryKnobs:
    """Runtime delivery settings (``sandbox.delivery``); ``reset()`` restores the start values.

    - ``fanout``: ``"all"`` (every webhook gets every KCI) or ``"round_robin"`` (the webhooks
      are replicas behind one load balancer: each attempt and each copy goes to the next one).
    - ``duplicates``: copies of each KCI sent at once (1 = none); each is redelivered on its own.
    - ``reorder``: swap consecutive KCIs of one service test (2 before 1, 4 before 3...); a KCI
      with no successor within :data:`REORDER_HOLD` seconds (or a terminal one with nothing to
      swap with) goes in order.
    - ``timeout``: seconds one attempt may take; a slower webhook has the attempt cut off and the
      KCI redelivered (after the usual backoff) while its handler may still be running.

    Changes apply to KCIs emitted from then on (a KCI already queued keeps its lane).
    """

    def __init__(self, config: SandboxConfig) -> None:
        self._config = config
        self._fanout: FanoutMode = config.kci_fanout
        self._duplicates = config.kci_duplicates
        self._reorder = config.kci_reorder
        self._timeout = float(config.kci_timeout)

    @property
    def fanout(self) -> FanoutMode:
        """``"all"`` or ``"round_robin"``."""
        return self._fanout

    @fanout.setter
    def fanout(self, value: FanoutMode) -> None:
        self._fanout = check_fanout(value)

    @property
    def duplicates(self) -> int:
        """Copies of each KCI delivered concurrently (1 to 100)."""
        return self._duplicates

    @duplicates.setter
    def duplicates(self, value: int) -> None:
        self._duplicates = check_duplicates(value)

    @property
    def reorder(self) -> bool:
        """Whether consecutive KCIs of one service test are swapped."""
        return self._reorder

    @reorder.setter
    def reorder(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise ValueError("reorder must be true or false")
        self._reorder = value

    @property
    def timeout(self) -> float:
        """Seconds one delivery attempt may take before it is cut off and redelivered."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        check_seconds("timeout", value, positive=True)
        self._timeout = float(value)

    def reset(self) -> None:
        """Back to the values the sandbox was started with."""
        config = self._config
        self._fanout = config.kci_fanout
        self._duplicates = config.kci_duplicates
        self._reorder = config.kci_reorder
        self._timeout = float(config.kci_timeout)

    def update(self, settings: Mapping[str, Any]) -> None:
        """Set several knobs from a mapping (the admin API); all are checked before any is set."""
        unknown = set(settings) - set(_KNOBS)
        if unknown:
            raise ValueError(f"unknown delivery knob(s): {sorted(unknown)}; known: {list(_KNOBS)}")
        probe = DeliveryKnobs(self._config)
        for name, value in settings.items():
            setattr(probe, name, value)
        for name in settings:
            setattr(self, name, getattr(probe, name))

    def describe(self) -> dict[str, Any]:
        """The knob values as JSON-ready data."""
        return {name: getattr(self, name) for name in _KNOBS}


_KNOBS: Final = ("fanout", "duplicates", "reorder", "timeout")


def retry_delay(
    attempt: int, *, backoff: float, max_backoff: float, retry_after: str | None
) -> float:
    """Seconds to wait after failed ``attempt`` (1-based): doubling backoff, capped.

    A numeric ``Retry-After`` from the webhook replaces the backoff, within the same cap.
    """
    if retry_after is not None:
        try:
            asked = float(retry_after)
        except ValueError:
            asked = -1.0
        if asked >= 0:
            return min(asked, max_backoff)
    return min(backoff * 2.0 ** (attempt - 1), max_backoff)


@dataclass(slots=True)
class _Lane:
    pending: deque[KciEvent] = field(default_factory=deque[KciEvent])
    task: asyncio.Task[None] | None = None


class KciDelivery:
    """Delivers every emitted KCI to every webhook configured at the time it was emitted."""

    def __init__(
        self,
        config: SandboxConfig,
        counters: Counters,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._config = config
        self._counters = counters
        self._clock = clock
        self._lock = threading.Lock()
        self._webhooks: list[Webhook] = list(config.webhooks)
        self._lanes: dict[tuple[int, int], _Lane] = {}  # (id(webhook), test id) -> lane
        self._tasks = TaskSet("kci")
        self._client: httpx.AsyncClient | None = None
        self.knobs: DeliveryKnobs = DeliveryKnobs(config)
        self._turn = itertools.count()  # round-robin position, shared by every lane
        self._held: dict[int, tuple[KciEvent, asyncio.TimerHandle]] = {}  # test id -> held KCI

    # --- webhooks (any thread) ---

    def add_webhook(self, webhook: Webhook) -> None:
        """Deliver KCIs emitted from now on to ``webhook`` too."""
        with self._lock:
            self._webhooks.append(webhook)

    def remove_webhook(self, webhook: Webhook) -> bool:
        """Stop delivering new KCIs to ``webhook``; False if it was not configured."""
        with self._lock:
            for index, existing in enumerate(self._webhooks):
                if existing is webhook:
                    del self._webhooks[index]
                    return True
        return False

    @property
    def webhooks(self) -> tuple[Webhook, ...]:
        """The webhooks new KCIs go to."""
        with self._lock:
            return tuple(self._webhooks)

    def reset_webhooks(self) -> None:
        """Back to the webhooks the sandbox was started with."""
        with self._lock:
            self._webhooks = list(self._config.webhooks)

    # --- delivery (event loop) ---

    def submit(self, event: KciEvent) -> None:
        """Queue ``event`` for every current webhook (call on the sandbox's event loop)."""
        self._counters.add("kcis_emitted")
        held = self._held.pop(event.test_id, None)
        if held is not None:  # swap: the newer KCI goes first
            held[1].cancel()
            self._enqueue(event)
            self._enqueue(held[0])
        elif self.knobs.reorder and event.entity.get("status") not in _TERMINAL:
            timer = asyncio.get_running_loop().call_later(
                REORDER_HOLD, self._release, event.test_id
            )
            self._held[event.test_id] = (event, timer)
        else:
            self._enqueue(event)

    def _release(self, test_id: int) -> None:
        held = self._held.pop(test_id, None)
        if held is not None:
            self._enqueue(held[0])

    def _enqueue(self, event: KciEvent) -> None:
        if self.knobs.fanout == "round_robin":
            targets: list[Webhook | None] = [None] if self.webhooks else []
        else:
            targets = list(self.webhooks)
        copies = self.knobs.duplicates
        for webhook in targets:
            key = (_POOL if webhook is None else id(webhook), event.test_id)
            lane = self._lanes.setdefault(key, _Lane())
            lane.pending.append(event)
            if lane.task is None or lane.task.done():
                lane.task = self._tasks.spawn(
                    self._work(key, lane, webhook, copies), name=f"test-{event.test_id}"
                )

    def _next_webhook(self) -> Webhook | None:
        hooks = self.webhooks
        return hooks[next(self._turn) % len(hooks)] if hooks else None

    async def _work(
        self, key: tuple[int, int], lane: _Lane, webhook: Webhook | None, copies: int
    ) -> None:
        try:
            while lane.pending:
                event = lane.pending[0]
                if copies == 1:
                    await self._deliver(webhook, event)
                else:
                    await asyncio.gather(*(self._deliver(webhook, event) for _ in range(copies)))
                lane.pending.popleft()
        finally:
            if not lane.pending and self._lanes.get(key) is lane:
                del self._lanes[key]

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # trust_env=False: a proxy from the environment must not see tenants' KCIs.
            self._client = httpx.AsyncClient(
                timeout=self._config.kci_timeout, follow_redirects=False, trust_env=False
            )
        return self._client

    async def _deliver(self, fixed: Webhook | None, event: KciEvent) -> bool:
        """Deliver one copy of ``event`` until accepted; ``fixed`` None: round-robin per attempt."""
        config = self._config
        webhook: Webhook | None = fixed
        for attempt in range(1, config.kci_max_attempts + 1):
            if fixed is None:
                webhook = self._next_webhook()
                if webhook is None:  # every webhook was removed meanwhile
                    return False
            assert webhook is not None
            request_id = str(uuid.uuid4())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": _USER_AGENT,
                "X-Request-ID": request_id,
                "X-Conversation-ID": event.conversation_id,
            }
            authorization = webhook.authorization()
            if authorization is not None:
                headers["Authorization"] = authorization
            body = json.dumps(event.envelope(self._clock())).encode()
            self._counters.add("kci_delivery_attempts")
            retry_after: str | None = None
            try:
                response = await self._http().post(
                    webhook.url, content=body, headers=headers, timeout=self.knobs.timeout
                )
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            else:
                if response.is_success:
                    self._counters.add("kcis_delivered")
                    return True
                outcome = f"HTTP {response.status_code}"
                retry_after = response.headers.get("Retry-After")
            self._counters.add("kci_delivery_failures")
            logger.info(
                "KCI %s (test %s, #%s) to %s: attempt %d/%d failed: %s (request id %s)",
                event.id,
                event.test_id,
                event.sequence_number,
                webhook.url,
                attempt,
                config.kci_max_attempts,
                outcome,
                request_id,
            )
            if attempt < config.kci_max_attempts:
                await asyncio.sleep(
                    retry_delay(
                        attempt,
                        backoff=config.kci_retry_backoff,
                        max_backoff=config.kci_retry_max_backoff,
                        retry_after=retry_after,
                    )
                )
        self._counters.add("kcis_given_up")
        logger.warning(
            "KCI %s (test %s, #%s) to %s given up after %d attempts",
            event.id,
            event.test_id,
            event.sequence_number,
            "the webhooks in turn" if fixed is None else fixed.url,
            config.kci_max_attempts,
        )
        return False

    def in_flight(self) -> int:
        """KCIs queued, held for reordering or being delivered, over all lanes."""
        return sum(len(lane.pending) for lane in self._lanes.values()) + len(self._held)

    async def cancel_all(self, grace: float = 5.0) -> None:
        """Abandon every queued, held and in-flight delivery."""
        for _event, timer in self._held.values():
            timer.cancel()
        self._held.clear()
        await self._tasks.cancel_all(grace)
        self._lanes.clear()

    async def aclose(self, grace: float = 5.0) -> None:
        """Abandon deliveries and close the HTTP client."""
        await self.cancel_all(grace)
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
