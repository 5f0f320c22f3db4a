"""Moves each service test through its scenario on a timer in the sandbox's event loop.

The timer runs whether or not any webhook is configured, so polling ``GET /service-tests/{id}``
alone sees every state; each transition's KCI is handed to delivery as it happens.
"""

from __future__ import annotations

import asyncio

from ._delivery import KciDelivery
from ._store import ServiceTestStore
from ._tasks import TaskSet

__all__ = ["Lifecycle"]


class Lifecycle:
    """Runs one timer task per service test until the test reaches its terminal state."""

    def __init__(self, store: ServiceTestStore, delivery: KciDelivery) -> None:
        self._store = store
        self._delivery = delivery
        self._tasks = TaskSet("lifecycle")

    def start(self, test_id: int) -> None:
        """Begin advancing ``test_id`` (call on the sandbox's event loop)."""
        self._tasks.spawn(self._run(test_id), name=f"test-{test_id}")

    async def _run(self, test_id: int) -> None:
        schedule = self._store.schedule(test_id)
        if schedule is None:
            return
        delay, steps = schedule
        for step in steps:
            await asyncio.sleep(delay)
            event = self._store.advance(test_id, step)
            if event is None:  # the test was cleared by a reset
                return
            self._delivery.submit(event)

    def running(self) -> int:
        """How many tests are still on their way to a terminal state."""
        return len(self._tasks)

    async def cancel_all(self, grace: float = 5.0) -> None:
        """Stop every timer (tests stay in whatever state they reached)."""
        await self._tasks.cancel_all(grace)
