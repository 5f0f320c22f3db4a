"""The in-memory de-duplication and sequence stores."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from fibrecafe_client import (
    InMemoryKciStore,
    InMemorySequenceStore,
    KciClaim,
    KciStore,
    SequenceStore,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_claim_commit_release_cycle() -> None:
    store = InMemoryKciStore()
    assert isinstance(store, KciStore)

    assert store.claim("a", 60) is KciClaim.CLAIMED
    assert store.claim("a", 60) is KciClaim.IN_FLIGHT
    store.release("a")
    assert store.claim("a", 60) is KciClaim.CLAIMED
    store.commit("a")
    assert store.claim("a", 60) is KciClaim.DONE
    store.release("a")  # releasing a committed id does not forget it
    assert store.claim("a", 60) is KciClaim.DONE


def test_committed_ids_expire_after_ttl() -> None:
    clock = FakeClock()
    store = InMemoryKciStore(ttl=100, clock=clock)
    store.claim("a", 10)
    store.commit("a")
    clock.now += 99
    assert store.claim("a", 10) is KciClaim.DONE
    clock.now += 2
    assert store.claim("a", 10) is KciClaim.CLAIMED


def test_an_abandoned_claim_lapses_after_its_lease() -> None:
    clock = FakeClock()
    store = InMemoryKciStore(clock=clock)
    assert store.claim("a", 30) is KciClaim.CLAIMED
    clock.now += 29
    assert store.claim("a", 30) is KciClaim.IN_FLIGHT
    clock.now += 2
    assert store.claim("a", 30) is KciClaim.CLAIMED


def test_bounded_oldest_forgotten_first() -> None:
    store = InMemoryKciStore(max_entries=3)
    for key in "abcd":
        store.claim(key, 60)
        store.commit(key)
    assert len(store) == 3
    assert store.claim("a", 60) is KciClaim.CLAIMED  # forgotten
    assert store.claim("d", 60) is KciClaim.DONE


def test_expired_entries_are_purged() -> None:
    clock = FakeClock()
    store = InMemoryKciStore(ttl=10, clock=clock)
    for key in "abc":
        store.claim(key, 5)
        store.commit(key)
    clock.now += 11
    store.claim("z", 5)
    assert len(store) == 1


def test_exactly_one_of_many_concurrent_claims_wins() -> None:
    store = InMemoryKciStore()
    barrier = threading.Barrier(16)

    def claim() -> KciClaim:
        barrier.wait(timeout=10)
        return store.claim("same", 60)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: claim(), range(16)))
    assert results.count(KciClaim.CLAIMED) == 1
    assert results.count(KciClaim.IN_FLIGHT) == 15


@pytest.mark.parametrize(("max_entries", "ttl"), [(0, 10.0), (10, 0.0)])
def test_store_settings_are_checked(max_entries: int, ttl: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        InMemoryKciStore(max_entries=max_entries, ttl=ttl)


def test_sequence_store_keeps_the_highest() -> None:
    store = InMemorySequenceStore(max_entries=2)
    assert isinstance(store, SequenceStore)
    assert store.highest("x") is None
    store.advance("x", 3)
    store.advance("x", 2)
    assert store.highest("x") == 3
    store.advance("x", 5)
    assert store.highest("x") == 5
    store.advance("y", 1)
    store.advance("z", 1)  # over the bound: "x" was touched least recently
    assert store.highest("x") is None
    assert store.highest("z") == 1
    with pytest.raises(ValueError, match="max_entries"):
        InMemorySequenceStore(max_entries=0)


def test_a_live_claim_is_never_evicted_to_make_room() -> None:
    """Issue 11.16: evicting an in-flight claim let a concurrent duplicate run its handler."""
    store = InMemoryKciStore(max_entries=2)
    assert store.claim("in-flight", 60) is KciClaim.CLAIMED
    for key in ("a", "b", "c"):
        assert store.claim(key, 60) is KciClaim.CLAIMED
        store.commit(key)
    assert store.claim("in-flight", 60) is KciClaim.IN_FLIGHT  # still held by the first delivery
    assert store.claim("c", 60) is KciClaim.DONE  # the newest handled key is kept
    assert store.claim("a", 60) is KciClaim.CLAIMED  # the oldest handled key made room
    assert len(store) == 2  # the live claim and the newest key: still max_entries


def test_an_expired_claim_may_be_evicted() -> None:
    clock = FakeClock()
    store = InMemoryKciStore(max_entries=1, clock=clock)
    assert store.claim("abandoned", 5) is KciClaim.CLAIMED
    clock.now += 10  # its lease ran out
    assert store.claim("next", 60) is KciClaim.CLAIMED
    assert len(store) == 1
    assert store.claim("abandoned", 60) is KciClaim.CLAIMED
