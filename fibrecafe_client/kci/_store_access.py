"""How the receiver's one flow reaches a store from both worlds, and keeps its leases alive.

The flow (``_receiver.py``) yields a :class:`StoreCall` for every store operation; the sync
driver runs ``call.run()``, the async driver awaits ``call.run_async()``. A store that only has
the sync protocol is run in a worker thread on the async path (never on the loop); one that
only has the async protocol cannot serve the sync path, and says so.

While handlers run, the claims they hold are renewed every third of the lease, so a slow
handler is never handed to a second replica, and a worker that dies stops renewing, so its
claims lapse and the gateway's redelivery is handled.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from fibrecafe_client.errors import ConfigurationError, KciStoreError

from ._store import (
    AsyncKciStore,
    AsyncSequenceStore,
    InMemoryKciStore,
    InMemorySequenceStore,
    KciClaimResult,
    KciStore,
    SequenceStore,
)

__all__ = ["AnyKciStore", "AnySequenceStore", "Held", "LeaseKeeper", "StoreAccess", "StoreCall"]

_log = logging.getLogger("fibrecafe_client.kci")
_T = TypeVar("_T")

AnyKciStore = KciStore | AsyncKciStore
AnySequenceStore = SequenceStore | AsyncSequenceStore
_ASYNC_ONLY: Final = (
    "this KCI store has only the async protocol: serve it with handle_async() or asgi_app()"
)


@dataclass(frozen=True, slots=True)
class StoreCall(Generic[_T]):
    """One store operation, runnable from either world."""

    name: str
    run: Callable[[], _T]
    run_async: Callable[[], Awaitable[_T]]
    #: The store does no I/O (the in-memory one): the async driver may call ``run`` directly.
    inline: bool = False


@dataclass(frozen=True, slots=True)
class Held:
    """A claim this delivery holds (the KCI itself, or its entity's lock)."""

    key: str
    token: str


class StoreAccess:
    """The receiver's stores, as :class:`StoreCall` factories."""

    def __init__(self, store: AnyKciStore, sequences: AnySequenceStore) -> None:
        self._sync = store if isinstance(store, KciStore) else None
        self._async = store if isinstance(store, AsyncKciStore) else None
        if self._sync is None and self._async is None:
            raise TypeError("store must implement KciStore or AsyncKciStore")
        self._sync_seq = sequences if isinstance(sequences, SequenceStore) else None
        self._async_seq = sequences if isinstance(sequences, AsyncSequenceStore) else None
        if self._sync_seq is None and self._async_seq is None:
            raise TypeError("sequences must implement SequenceStore or AsyncSequenceStore")
        # The in-memory stores' async methods only wrap the sync ones: skip the coroutine.
        self._inline = type(store) is InMemoryKciStore and type(sequences) is InMemorySequenceStore

    @property
    def serves_sync(self) -> bool:
        """Whether both stores can be used without an event loop (the WSGI path)."""
        return self._sync is not None and self._sync_seq is not None

    def claim(self, key: str, lease: float) -> StoreCall[KciClaimResult]:
        """Claim ``key`` for ``lease`` seconds."""
        sync, a = self._sync, self._async
        return _call(
            "claim",
            None if sync is None else functools.partial(sync.claim, key, lease),
            None if a is None else functools.partial(a.claim_async, key, lease),
            self._inline,
        )

    def renew(self, held: Held, lease: float) -> StoreCall[bool]:
        """Extend a claim this delivery holds."""
        sync, a = self._sync, self._async
        return _call(
            "renew",
            None if sync is None else functools.partial(sync.renew, held.key, held.token, lease),
            None if a is None else functools.partial(a.renew_async, held.key, held.token, lease),
            self._inline,
        )

    def commit(self, held: Held) -> StoreCall[bool]:
        """Record a claimed key as handled."""
        sync, a = self._sync, self._async
        return _call(
            "commit",
            None if sync is None else functools.partial(sync.commit, held.key, held.token),
            None if a is None else functools.partial(a.commit_async, held.key, held.token),
            self._inline,
        )

    def release(self, held: Held) -> StoreCall[bool]:
        """Drop a claim this delivery holds."""
        sync, a = self._sync, self._async
        return _call(
            "release",
            None if sync is None else functools.partial(sync.release, held.key, held.token),
            None if a is None else functools.partial(a.release_async, held.key, held.token),
            self._inline,
        )

    def advance(self, key: str, sequence_number: int) -> StoreCall[int | None]:
        """Record a sequence number if higher; the previous highest."""
        sync, a = self._sync_seq, self._async_seq
        return _call(
            "advance",
            None if sync is None else functools.partial(sync.advance, key, sequence_number),
            None if a is None else functools.partial(a.advance_async, key, sequence_number),
            self._inline,
        )


def _call(
    name: str,
    run: Callable[[], _T] | None,
    run_async: Callable[[], Awaitable[_T]] | None,
    inline: bool = False,
) -> StoreCall[_T]:
    if run_async is None:
        assert run is not None
        sync_run = run

        async def in_thread() -> _T:
            import anyio.to_thread  # noqa: PLC0415 - async paths only

            return await anyio.to_thread.run_sync(sync_run)

        run_async = in_thread
    if run is None:

        def refuse() -> _T:
            raise ConfigurationError(_ASYNC_ONLY)

        run = refuse
    return StoreCall(name, run, run_async, inline)


class LeaseKeeper:
    """One daemon thread per receiver renewing the claims held by sync deliveries.

    (The async driver renews with a task of its own on the delivery's loop.) Started on first
    use and again in a forked child, where the parent's thread does not exist.
    """

    def __init__(self, access: StoreAccess, lease: float) -> None:
        self._access = access
        self._lease = lease
        self.interval = lease / 3
        self._lock = threading.Lock()
        self._held: dict[int, Sequence[Held]] = {}
        self._next_id = 0
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._wake = threading.Event()

    def hold(self, held: Sequence[Held]) -> int:
        """Renew ``held`` until :meth:`drop` is called with the returned handle."""
        with self._lock:
            self._next_id += 1
            self._held[self._next_id] = held
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="fibrecafe-kci-leases", daemon=True
                )
                self._thread.start()
            return self._next_id

    def drop(self, handle: int) -> None:
        """Stop renewing the claims of ``handle``."""
        with self._lock:
            self._held.pop(handle, None)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            with self._lock:
                batches = list(self._held.values())
            for held in batches:
                for claim in held:
                    renew_quietly(self._access.renew(claim, self._lease).run, claim)


def renew_quietly(run: Callable[[], bool], held: Held) -> None:
    """Renew one claim; a failure is logged (the handler goes on; the lease may lapse)."""
    try:
        if not run():
            _log.warning("KCI claim %s lapsed while its handlers ran", held.key)
    except Exception as exc:
        _log.warning("KCI claim %s: could not renew its lease (%s)", held.key, describe(exc))


async def renew_quietly_async(run: Callable[[], Awaitable[bool]], held: Held) -> None:
    """:func:`renew_quietly` on the async path."""
    try:
        if not await run():
            _log.warning("KCI claim %s lapsed while its handlers ran", held.key)
    except Exception as exc:
        _log.warning("KCI claim %s: could not renew its lease (%s)", held.key, describe(exc))


def describe(exc: BaseException) -> str:
    """What a log line may say of a store failure: our own (redacted) text, else the type."""
    if isinstance(exc, (KciStoreError, ConfigurationError)):
        return str(exc)
    return type(exc).__name__
