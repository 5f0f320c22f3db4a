"""What the receiver remembers between deliveries: handled KCI ids, and the newest sequence
number handled per entity.

Both are small protocols so a shared store (Redis, a database) can replace the in-memory
defaults when several processes receive KCIs. The de-duplication protocol is claim / commit /
release, which stays correct when two deliveries of the same KCI arrive at the same time: only
one claim succeeds, the other sees the KCI as in flight and waits for the outcome.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from enum import StrEnum
from typing import Final, Protocol, runtime_checkable

__all__ = [
    "InMemoryKciStore",
    "InMemorySequenceStore",
    "KciClaim",
    "KciStore",
    "SequenceStore",
]

_DAY: Final = 86_400.0


class KciClaim(StrEnum):
    """The answer of :meth:`KciStore.claim`: who handles a KCI delivered more than once."""

    #: This caller now owns the KCI and must ``commit`` or ``release`` it.
    CLAIMED = "claimed"
    #: The KCI was already handled: acknowledge it and do nothing.
    DONE = "done"
    #: Another delivery of the same KCI is being handled right now.
    IN_FLIGHT = "in_flight"


@runtime_checkable
class KciStore(Protocol):
    """De-duplication of KCIs by id (the gateway delivers at least once).

    Implementations must make :meth:`claim` atomic: of any number of concurrent claims of one
    key, exactly one gets ``CLAIMED``. A claim that is neither committed nor released within
    ``lease`` seconds (a crashed worker) must become claimable again.
    """

    def claim(self, key: str, lease: float) -> KciClaim:
        """Try to take ``key`` for handling."""
        ...

    def commit(self, key: str) -> None:
        """Record ``key`` as handled (a later claim answers ``DONE``)."""
        ...

    def release(self, key: str) -> None:
        """Drop the claim on ``key`` (its handling failed; a redelivery must handle it)."""
        ...


@runtime_checkable
class SequenceStore(Protocol):
    """The highest ``sequenceNumber`` handled per entity, to spot stale (out-of-order) KCIs."""

    def highest(self, key: str) -> int | None:
        """The highest sequence number recorded for ``key``, or None."""
        ...

    def advance(self, key: str, sequence_number: int) -> None:
        """Record ``sequence_number`` for ``key`` if it is higher than the one recorded."""
        ...


class InMemoryKciStore:
    """The default :class:`KciStore`: a bounded, expiring, thread-safe map in this process.

    A handled id is remembered for ``ttl`` seconds (default one day; the gateway does not
    document how long it may redeliver) and at most ``max_entries`` ids are kept, the oldest
    handled ones forgotten first; a claim still in flight is never forgotten (so the map may
    exceed ``max_entries`` by the number of handlers running). Use a shared store when several
    processes receive KCIs.
    """

    def __init__(
        self,
        *,
        max_entries: int = 100_000,
        ttl: float = _DAY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self._max_entries = max_entries
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (done, expires_at); ordered oldest first
        self._entries: OrderedDict[str, tuple[bool, float]] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def claim(self, key: str, lease: float) -> KciClaim:
        """Take ``key`` unless it is handled or claimed by a live claim."""
        with self._lock:
            now = self._clock()
            self._purge(now)
            entry = self._entries.get(key)
            if entry is not None and entry[1] > now:
                return KciClaim.DONE if entry[0] else KciClaim.IN_FLIGHT
            self._put(key, (False, now + lease))
            return KciClaim.CLAIMED

    def commit(self, key: str) -> None:
        """Remember ``key`` as handled for ``ttl`` seconds."""
        with self._lock:
            self._put(key, (True, self._clock() + self._ttl))

    def release(self, key: str) -> None:
        """Forget a claim that was not committed (a committed key stays remembered)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and not entry[0]:
                del self._entries[key]

    def _put(self, key: str, entry: tuple[bool, float]) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        excess = len(self._entries) - self._max_entries
        if excess <= 0:
            return
        # Forget the oldest handled (or expired) keys, never a live claim: forgetting one would
        # let a concurrent duplicate run its handler beside the first delivery. Live claims are
        # as many as the handlers running now, so the map may exceed max_entries by that many.
        now = self._clock()
        evict: list[str] = []
        for old_key, (done, expires_at) in self._entries.items():
            if len(evict) == excess:
                break
            if done or expires_at <= now:
                evict.append(old_key)
        for old_key in evict:
            del self._entries[old_key]

    def _purge(self, now: float) -> None:
        # Entries are ordered by when they were written; expired ones collect at the front.
        while self._entries:
            key, (_, expires_at) = next(iter(self._entries.items()))
            if expires_at > now:
                return
            del self._entries[key]


class InMemorySequenceStore:
    """The default :class:`SequenceStore`: a bounded, thread-safe map in this process.

    Keeps the ``max_entries`` most recently updated entities; an entity forgotten this way
    simply has no stale detection for its next KCI.
    """

    def __init__(self, *, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._highest: OrderedDict[str, int] = OrderedDict()

    def highest(self, key: str) -> int | None:
        """The highest sequence number recorded for ``key``."""
        with self._lock:
            return self._highest.get(key)

    def advance(self, key: str, sequence_number: int) -> None:
        """Raise the recorded number for ``key`` to ``sequence_number`` if it is higher."""
        with self._lock:
            current = self._highest.get(key)
            if current is None or sequence_number > current:
                self._highest[key] = sequence_number
            self._highest.move_to_end(key)
            while len(self._highest) > self._max_entries:
                self._highest.popitem(last=False)
