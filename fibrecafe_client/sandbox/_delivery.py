"""KCI delivery to the tenant's webhooks: in order per test, redelivered with backoff.

Each (webhook, service test) pair is a lane: a FIFO worked by one task, so KCI #2 of a test is
never sent before #1 was accepted (or given up on). Every attempt is a new HTTP request with a
new ``X-Request-ID``; the ``X-Conversation-ID`` is the one the test was created with.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import httpx

from fibrecafe_client._version import __version__

from ._config import SandboxConfig, Webhook
from ._faults import Counters
from ._store import KciEvent
from ._tasks import TaskSet

__all__ = ["KciDelivery", "retry_delay"]

logger = logging.getLogger("fibrecafe_client.sandbox")

_USER_AGENT: Final = f"fibrecafe-sandbox/{__version__}"


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
        for webhook in self.webhooks:
            key = (id(webhook), event.test_id)
            lane = self._lanes.setdefault(key, _Lane())
            lane.pending.append(event)
            if lane.task is None or lane.task.done():
                lane.task = self._tasks.spawn(
                    self._work(key, lane, webhook), name=f"test-{event.test_id}"
                )

    async def _work(self, key: tuple[int, int], lane: _Lane, webhook: Webhook) -> None:
        try:
            while lane.pending:
                await self._deliver(webhook, lane.pending[0])
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

    async def _deliver(self, webhook: Webhook, event: KciEvent) -> bool:
        config = self._config
        for attempt in range(1, config.kci_max_attempts + 1):
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
                response = await self._http().post(webhook.url, content=body, headers=headers)
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
            webhook.url,
            config.kci_max_attempts,
        )
        return False

    def in_flight(self) -> int:
        """KCIs queued or being delivered, over all lanes."""
        return sum(len(lane.pending) for lane in self._lanes.values())

    async def cancel_all(self, grace: float = 5.0) -> None:
        """Abandon every queued and in-flight delivery."""
        await self._tasks.cancel_all(grace)
        self._lanes.clear()

    async def aclose(self, grace: float = 5.0) -> None:
        """Abandon deliveries and close the HTTP client."""
        await self.cancel_all(grace)
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
