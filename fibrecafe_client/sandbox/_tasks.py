"""Background tasks on the sandbox's event loop, tracked so shutdown can end them all cleanly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

__all__ = ["TaskSet"]

logger = logging.getLogger("fibrecafe_client.sandbox")


class TaskSet:
    """A set of running tasks: spawn, then cancel and await every one with a bounded wait."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        """Run ``coro`` as a task of the running loop; its failure is logged, never lost."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{self._name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("sandbox task %s failed", task.get_name(), exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def cancel_all(self, grace: float = 5.0) -> None:
        """Cancel every task and wait (at most ``grace`` seconds) for them to finish."""
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace)
            if pending:
                logger.warning("%d sandbox task(s) did not stop in %.1fs", len(pending), grace)
