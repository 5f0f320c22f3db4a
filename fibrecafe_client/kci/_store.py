"""What the receiver remembers between deliveries: handled KCI ids, and the newest sequence
number seen per entity.

Both are small protocols so that a shared store (Redis, see :class:`RedisKciStore`) can replace
the in-memory defaults when several processes receive KCIs. Each comes twice: a sync protocol
for the WSGI path and an async one (methods ending in ``_async``) for the ASGI path, so that a
network store never blocks the event loop. One object may implement both, as the in-memory and
Redis stores do.

De-duplication is claim / renew / commit / release with an **owner token**: only one of any
number of concurrent claims of a key succeeds and gets a token; commit, release and renew take
effect only for that token, so a worker whose lease ran out can never commit or release the
claim another worker took since. Stale detection is one atomic step, "advance if higher, and
tell me the previous highest", so no two replicas both take an older KCI for the newest.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Protocol, runtime_checkable

__all__ = [
    "AsyncKciStore",
    "AsyncSequenceStore",
    "InMemoryKciStore",
    "InMemorySequenceStore",
    "KciClaim",
    "KciClaimResult",
    "KciStore",
    "SequenceStore",
    "new_claim_token",
]

_DAY: Final = 86_400.0


class KciClaim(StrEnum):
    """The state :meth:`KciStore.claim` found a key in: who handles a KCI delivered twice."""

    #: This caller now owns the key and must ``commit`` or ``release`` it.
    CLAIMED = "claimed"
    #: The KCI was already handled: acknowledge it and do nothing.
    DONE = "done"
    #: Another delivery of the same KCI is being handled right now.
    IN_FLIGHT = "in_flight"


@dataclass(frozen=True, slots=True)
class KciClaimResult:
    """The answer of a claim: its state and, when ``CLAIMED``, the owner token.

    The token is what commit, release and renew must present; it is empty otherwise.
    """

    state: KciClaim
    token: str = ""

    @property
    def claimed(self) -> bool:
        """Whether the caller now owns the key."""
        return self.state is KciClaim.CLAIMED


def new_claim_token() -> str:
    """A fresh owner token (random, unguessable by another worker)."""
    return secrets.token_hex(12)


@runtime_checkable
class KciStore(Protocol):
    """De-duplication of KCIs by key, sync (the WSGI path and :meth:`KciReceiver.handle`).

    :meth:`claim` must be atomic: of any number of concurrent claims of one key (in any
    process), exactly one gets ``CLAIMED``. A claim neither committed, released nor renewed
    within ``lease`` seconds (a worker that died) must become claimable again.
    """

    def claim(self, key: str, lease: float) -> KciClaimResult:
        """Try to take ``key`` for ``lease`` seconds."""
        ...

    def renew(self, key: str, token: str, lease: float) -> bool:
        """Extend the claim held with ``token`` to ``lease`` seconds from now; False if the
        claim is no longer this token's (it lapsed and was taken, or was committed)."""
        ...

    def commit(self, key: str, token: str) -> bool:
        """Record ``key`` as handled (a later claim answers ``DONE``). False, and nothing
        changed, if another owner holds the key now."""
        ...

    def release(self, key: str, token: str) -> bool:
        """Drop the claim held with ``token`` (its handling failed; a redelivery must handle
        it). False, and nothing changed, if the claim is not this token's."""
        ...


@runtime_checkable
class AsyncKciStore(Protocol):
    """:class:`KciStore` for the ASGI path: the same contract, awaited."""

    async def claim_async(self, key: str, lease: float) -> KciClaimResult:
        """Try to take ``key`` for ``lease`` seconds."""
        ...

    async def renew_async(self, key: str, token: str, lease: float) -> bool:
        """Extend the claim held with ``token``."""
        ...

    async def commit_async(self, key: str, token: str) -> bool:
        """Record ``key`` as handled."""
        ...

    async def release_async(self, key: str, token: str) -> bool:
        """Drop the claim held with ``token``."""
        ...


@runtime_checkable
class SequenceStore(Protocol):
    """The highest ``sequenceNumber`` seen per entity, to spot stale (out-of-order) KCIs."""

    def advance(self, key: str, sequence_number: int) -> int | None:
        """Atomically: record ``sequence_number`` for ``key`` if it is higher than the one
        recorded, and return the one recorded before (None if there was none)."""
        ...


@runtime_checkable
class AsyncSequenceStore(Protocol):
    """:class:`SequenceStore` for the ASGI path."""

    async def advance_async(self, key: str, sequence_number: int) -> int | None:
        """Atomically record ``sequence_number`` if higher; return the previous highest."""
        ...


class InMemoryKciStore:
    """The default store: a bounded, expiring, thread-safe map in this process.

    Implements :class:`KciStore` and :class:`AsyncKciStore` (the async methods do no I/O). A
    handled key is remembered for ``ttl`` seconds (default one day; the gateway does not
    document how long it may redeliver) and at most ``max_entries`` keys are kept, the oldest
    handled ones forgotten first; a live claim is never forgotten (so the map may exceed
    ``max_entries`` by the number of handlers running). Use a shared store
    (:class:`RedisKciStore`) when several processes receive KCIs.
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
        # key -> (owner token, or "" once handled; expires_at); ordered oldest first
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._tokens = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __repr__(self) -> str:
        return f"InMemoryKciStore(max_entries={self._max_entries}, ttl={self._ttl:g})"

    def claim(self, key: str, lease: float) -> KciClaimResult:
        """Take ``key`` unless it is handled or held by a live claim."""
        with self._lock:
            now = self._clock()
            self._purge(now)
            entry = self._entries.get(key)
            if entry is not None and entry[1] > now:
                return KciClaimResult(KciClaim.IN_FLIGHT if entry[0] else KciClaim.DONE)
            # Unique within this store is enough in one process (no other worker can guess).
            self._tokens += 1
            token = str(self._tokens)
            self._put(key, (token, now + lease))
            return KciClaimResult(KciClaim.CLAIMED, token)

    def renew(self, key: str, token: str, lease: float) -> bool:
        """Extend a live claim held with ``token``."""
        with self._lock:
            if not self._owned(key, token):
                return False
            self._put(key, (token, self._clock() + lease))
            return True

    def commit(self, key: str, token: str) -> bool:
        """Remember ``key`` as handled for ``ttl`` seconds, unless another owner holds it."""
        with self._lock:
            entry = self._live(key)
            if entry is not None and entry[0] != token:
                return entry[0] == ""  # already handled: nothing to change
            self._put(key, ("", self._clock() + self._ttl))
            return True

    def release(self, key: str, token: str) -> bool:
        """Forget the claim held with ``token`` (a handled key stays remembered)."""
        with self._lock:
            if not self._owned(key, token):
                return False
            del self._entries[key]
            return True

    async def claim_async(self, key: str, lease: float) -> KciClaimResult:
        """:meth:`claim` for the async protocol: no I/O, so it runs on the loop at once."""
        return self.claim(key, lease)

    async def renew_async(self, key: str, token: str, lease: float) -> bool:
        """:meth:`renew` for the async protocol: no I/O, so it runs on the loop at once."""
        return self.renew(key, token, lease)

    async def commit_async(self, key: str, token: str) -> bool:
        """:meth:`commit` for the async protocol: no I/O, so it runs on the loop at once."""
        return self.commit(key, token)

    async def release_async(self, key: str, token: str) -> bool:
        """:meth:`release` for the async protocol: no I/O, so it runs on the loop at once."""
        return self.release(key, token)

    def _live(self, key: str) -> tuple[str, float] | None:
        entry = self._entries.get(key)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry

    def _owned(self, key: str, token: str) -> bool:
        entry = self._live(key)
        return entry is not None and bool(token) and entry[0] == token

    def _put(self, key: str, entry: tuple[str, float]) -> None:
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
        for old_key, (owner, expires_at) in self._entries.items():
            if len(evict) == excess:
                break
            if not owner or expires_at <= now:
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
    """The default sequence store: a bounded, thread-safe map in this process.

    Implements :class:`SequenceStore` and :class:`AsyncSequenceStore`. Keeps the
    ``max_entries`` most recently updated entities; an entity forgotten this way simply has no
    stale detection for its next KCI.
    """

    def __init__(self, *, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._highest: OrderedDict[str, int] = OrderedDict()

    def __repr__(self) -> str:
        return f"InMemorySequenceStore(max_entries={self._max_entries})"

    def highest(self, key: str) -> int | None:
        """The highest sequence number recorded for ``key`` (for inspection and tests)."""
        with self._lock:
            return self._highest.get(key)

    def advance(self, key: str, sequence_number: int) -> int | None:
        """Raise the recorded number for ``key`` to ``sequence_number`` if it is higher;
        return the number recorded before."""
        with self._lock:
            previous = self._highest.get(key)
            if previous is None or sequence_number > previous:
                self._highest[key] = sequence_number
            self._highest.move_to_end(key)
            while len(self._highest) > self._max_entries:
                self._highest.popitem(last=False)
            return previous

    async def advance_async(self, key: str, sequence_number: int) -> int | None:
        """:meth:`advance` for the async protocol: no I/O, so it runs on the loop at once."""
        return self.advance(key, sequence_number)
