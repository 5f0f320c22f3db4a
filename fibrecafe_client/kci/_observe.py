"""Watching accepted KCIs: listeners, and waiting for a service test's next or terminal KCI.

KCIs are published from whatever thread or event loop handled them (a uvicorn thread, a WSGI
worker); waiters may sit in another thread or another event loop, so every hand-over is
thread-safe: a ``threading.Event`` for blocking waiters, ``call_soon_threadsafe`` for asyncio ones.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from ._models import Kci, ServiceTestKci

if TYPE_CHECKING:
    import asyncio

__all__ = ["LoopWaiter", "Observers", "ThreadWaiter", "Waiter"]

_log = logging.getLogger("fibrecafe_client.kci")
_HISTORY: Final = 1024

Listener = Callable[[Kci], object]


class Waiter:
    """Someone waiting for a KCI about service test ``test_id`` (a terminal one if asked)."""

    def __init__(self, test_id: int, *, terminal: bool) -> None:
        self.test_id = test_id
        self.terminal = terminal

    def matches(self, kci: ServiceTestKci) -> bool:
        """Whether ``kci`` is what this waiter waits for."""
        return kci.entity_id == self.test_id and (kci.is_terminal or not self.terminal)

    def resolve(self, kci: ServiceTestKci) -> None:
        """Hand ``kci`` over (called from the publishing thread)."""
        raise NotImplementedError


class ThreadWaiter(Waiter):
    """A waiter blocking a thread."""

    def __init__(self, test_id: int, *, terminal: bool) -> None:
        super().__init__(test_id, terminal=terminal)
        self.event = threading.Event()
        self.result: ServiceTestKci | None = None

    def resolve(self, kci: ServiceTestKci) -> None:
        """Store the KCI and wake the thread."""
        self.result = kci
        self.event.set()


class LoopWaiter(Waiter):
    """A waiter awaiting in an asyncio event loop (possibly not the publisher's)."""

    def __init__(self, test_id: int, *, terminal: bool, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(test_id, terminal=terminal)
        self.loop = loop
        self.future: asyncio.Future[ServiceTestKci] = loop.create_future()

    def resolve(self, kci: ServiceTestKci) -> None:
        """Complete the future in its own loop."""
        try:
            self.loop.call_soon_threadsafe(self._complete, kci)
        except RuntimeError:  # the waiter's loop is closed: nobody is waiting any more
            return

    def _complete(self, kci: ServiceTestKci) -> None:
        if not self.future.done():
            self.future.set_result(kci)


class Observers:
    """Listeners and waiters of one receiver, plus a bounded memory of recent test KCIs.

    The memory (the latest and the terminal KCI of the last 1024 tests seen) lets a waiter that
    starts after the terminal KCI arrived still get it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: tuple[Listener, ...] = ()
        self._waiters: list[Waiter] = []
        self._latest: OrderedDict[int, ServiceTestKci] = OrderedDict()
        self._terminal: OrderedDict[int, ServiceTestKci] = OrderedDict()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every accepted KCI; returns a function that unsubscribes."""
        if not callable(listener):
            raise TypeError("listener must be callable")
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return unsubscribe

    def publish(self, kci: Kci) -> None:
        """Tell every listener and matching waiter about an accepted KCI."""
        ready: list[Waiter] = []
        with self._lock:
            listeners = self._listeners
            if isinstance(kci, ServiceTestKci):
                self._remember(kci)
                ready = [w for w in self._waiters if w.matches(kci)]
                if ready:
                    self._waiters = [w for w in self._waiters if w not in ready]
        for listener in listeners:
            try:
                listener(kci)
            except Exception:
                _log.exception("KCI listener %r failed (KCI %s)", listener, kci.id)
        if isinstance(kci, ServiceTestKci):
            for waiter in ready:
                waiter.resolve(kci)

    def add_waiter(self, waiter: Waiter) -> ServiceTestKci | None:
        """Register ``waiter``, or return at once the terminal KCI it waits for if already seen."""
        with self._lock:
            if waiter.terminal:
                seen = self._terminal.get(waiter.test_id)
                if seen is not None:
                    return seen
            self._waiters.append(waiter)
            return None

    def remove_waiter(self, waiter: Waiter) -> None:
        """Forget ``waiter`` (after it was resolved or gave up)."""
        with self._lock:
            self._waiters = [w for w in self._waiters if w is not waiter]

    def latest(self, test_id: int) -> ServiceTestKci | None:
        """The last KCI accepted for ``test_id`` (within the bounded memory)."""
        with self._lock:
            return self._latest.get(test_id)

    def _remember(self, kci: ServiceTestKci) -> None:
        key = kci.entity_id
        if not kci.is_stale:
            _put_bounded(self._latest, key, kci)
        if kci.is_terminal:
            _put_bounded(self._terminal, key, kci)


def _put_bounded(memory: OrderedDict[int, ServiceTestKci], key: int, kci: ServiceTestKci) -> None:
    memory[key] = kci
    memory.move_to_end(key)
    while len(memory) > _HISTORY:
        memory.popitem(last=False)
