"""The de-duplication and sequence stores: one contract, checked on the in-memory store and on
``RedisKciStore`` against a real redis-server on 127.0.0.1; then what is particular to each."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from fibrecafe_client import (
    AsyncKciStore,
    AsyncSequenceStore,
    ConfigurationError,
    InMemoryKciStore,
    InMemorySequenceStore,
    KciClaim,
    KciStore,
    KciStoreError,
    RedisKciStore,
    SequenceStore,
)

CLAIMED, DONE, IN_FLIGHT = KciClaim.CLAIMED, KciClaim.DONE, KciClaim.IN_FLIGHT


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[InMemoryKciStore | RedisKciStore]:
    if request.param == "memory":
        yield InMemoryKciStore()
        return
    url: str = request.getfixturevalue("fibrecafe_redis_url")
    shared = RedisKciStore(url, prefix="test:")
    yield shared
    shared.close()


# -- the contract, on both stores ---------------------------------------------------------------


def test_both_protocols_are_implemented(store: InMemoryKciStore | RedisKciStore) -> None:
    assert isinstance(store, KciStore)
    assert isinstance(store, AsyncKciStore)


def test_claim_commit_release_cycle(store: InMemoryKciStore | RedisKciStore) -> None:
    first = store.claim("a", 60)
    assert first.state is CLAIMED
    assert first.token
    assert store.claim("a", 60).state is IN_FLIGHT
    assert store.release("a", first.token)
    second = store.claim("a", 60)
    assert second.state is CLAIMED
    assert second.token != first.token
    assert store.commit("a", second.token)
    done = store.claim("a", 60)
    assert (done.state, done.token) == (DONE, "")
    assert not store.release("a", second.token)  # a handled key stays handled
    assert store.claim("a", 60).state is DONE


def test_only_the_owner_commits_releases_or_renews(
    store: InMemoryKciStore | RedisKciStore,
) -> None:
    owner = store.claim("k", 60)
    assert not store.release("k", "someone-else")
    assert not store.renew("k", "someone-else", 60)
    assert not store.commit("k", "someone-else")
    assert store.claim("k", 60).state is IN_FLIGHT  # untouched by the impostor
    assert store.renew("k", owner.token, 60)
    assert store.commit("k", owner.token)


def test_a_lapsed_owner_cannot_touch_the_next_owners_claim(
    store: InMemoryKciStore | RedisKciStore,
) -> None:
    stale_owner = store.claim("k", 0.05)
    deadline = time.monotonic() + 5
    while (new_owner := store.claim("k", 60)).state is not CLAIMED:  # lease runs out
        assert time.monotonic() < deadline, "the lease never lapsed"
        time.sleep(0.01)
    assert not store.commit("k", stale_owner.token)
    assert not store.release("k", stale_owner.token)
    assert not store.renew("k", stale_owner.token, 60)
    assert store.claim("k", 60).state is IN_FLIGHT  # still the new owner's
    assert store.commit("k", new_owner.token)


def test_commit_after_the_claim_lapsed_unclaimed_still_records_it(
    store: InMemoryKciStore | RedisKciStore,
) -> None:
    owner = store.claim("k", 0.05)
    time.sleep(0.15)  # the behaviour under test: the lease ran out and nobody took the key
    assert store.commit("k", owner.token)
    assert store.claim("k", 60).state is DONE


def test_renewing_keeps_a_claim_alive_past_its_first_lease(
    store: InMemoryKciStore | RedisKciStore,
) -> None:
    owner = store.claim("k", 0.3)
    for _ in range(4):
        time.sleep(0.15)
        assert store.renew("k", owner.token, 0.3)
    assert store.claim("k", 60).state is IN_FLIGHT  # 0.6 s after a 0.3 s lease


def test_exactly_one_of_many_concurrent_claims_wins(
    store: InMemoryKciStore | RedisKciStore,
) -> None:
    barrier = threading.Barrier(16)

    def claim(_: int) -> KciClaim:
        barrier.wait(timeout=10)
        return store.claim("same", 60).state

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(claim, range(16)))
    assert results.count(CLAIMED) == 1
    assert results.count(IN_FLIGHT) == 15


def test_the_async_protocol_keeps_the_same_contract(
    store: InMemoryKciStore | RedisKciStore,
) -> None:
    async def run() -> None:
        results = await asyncio.gather(*(store.claim_async("x", 60) for _ in range(10)))
        winners = [r for r in results if r.claimed]
        assert len(winners) == 1
        token = winners[0].token
        assert not await store.commit_async("x", "impostor")
        assert await store.renew_async("x", token, 60)
        assert await store.commit_async("x", token)
        assert (await store.claim_async("x", 60)).state is DONE
        other = await store.claim_async("y", 60)
        assert await store.release_async("y", other.token)
        assert (await store.claim_async("y", 60)).claimed
        if isinstance(store, RedisKciStore):
            await store.aclose()

    asyncio.run(run())


@pytest.fixture(params=["memory", "redis"])
def sequences(
    request: pytest.FixtureRequest,
) -> Iterator[InMemorySequenceStore | RedisKciStore]:
    if request.param == "memory":
        yield InMemorySequenceStore()
        return
    url: str = request.getfixturevalue("fibrecafe_redis_url")
    shared = RedisKciStore(url, prefix="test:")
    yield shared
    shared.close()


def test_advance_returns_the_previous_highest_and_keeps_the_highest(
    sequences: InMemorySequenceStore | RedisKciStore,
) -> None:
    assert isinstance(sequences, SequenceStore)
    assert isinstance(sequences, AsyncSequenceStore)
    assert sequences.advance("x", 3) is None
    assert sequences.advance("x", 2) == 3  # stale: 2 < 3, nothing recorded
    assert sequences.advance("x", 3) == 3  # a redelivery of 3 is not stale
    assert sequences.advance("x", 5) == 3
    assert asyncio.run(sequences.advance_async("x", 4)) == 5
    assert sequences.advance("other", 1) is None


def test_concurrent_advances_never_both_look_current(
    sequences: InMemorySequenceStore | RedisKciStore,
) -> None:
    """Of sequence numbers 1..20 advanced at once, each sees a previous below it only if no
    higher one was recorded before it: exactly the KCIs that were current when they landed."""
    barrier = threading.Barrier(20)

    def advance(n: int) -> tuple[int, int | None]:
        barrier.wait(timeout=10)
        return n, sequences.advance("race", n)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(advance, range(1, 21)))
    current = sorted(n for n, prev in results if prev is None or n >= prev)
    # the "current" ones form an increasing chain ending at 20, so at most one saw None
    assert current[-1] == 20
    assert sum(1 for _, prev in results if prev is None) == 1
    assert sequences.advance("race", 0) == 20


# -- in memory ------------------------------------------------------------------------------------


def test_committed_ids_expire_after_ttl() -> None:
    clock = FakeClock()
    store = InMemoryKciStore(ttl=100, clock=clock)
    store.commit("a", store.claim("a", 10).token)
    clock.now += 99
    assert store.claim("a", 10).state is DONE
    clock.now += 2
    assert store.claim("a", 10).state is CLAIMED


def test_an_abandoned_claim_lapses_after_its_lease() -> None:
    clock = FakeClock()
    store = InMemoryKciStore(clock=clock)
    assert store.claim("a", 30).state is CLAIMED
    clock.now += 29
    assert store.claim("a", 30).state is IN_FLIGHT
    clock.now += 2
    assert store.claim("a", 30).state is CLAIMED


def test_bounded_oldest_forgotten_first() -> None:
    store = InMemoryKciStore(max_entries=3)
    for key in "abcd":
        store.commit(key, store.claim(key, 60).token)
    assert len(store) == 3
    assert store.claim("a", 60).state is CLAIMED  # forgotten
    assert store.claim("d", 60).state is DONE


def test_expired_entries_are_purged() -> None:
    clock = FakeClock()
    store = InMemoryKciStore(ttl=10, clock=clock)
    for key in "abc":
        store.commit(key, store.claim(key, 5).token)
    clock.now += 11
    store.claim("z", 5)
    assert len(store) == 1


@pytest.mark.parametrize(("max_entries", "ttl"), [(0, 10.0), (10, 0.0)])
def test_store_settings_are_checked(max_entries: int, ttl: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        InMemoryKciStore(max_entries=max_entries, ttl=ttl)


def test_sequence_store_is_bounded() -> None:
    store = InMemorySequenceStore(max_entries=2)
    assert store.highest("x") is None
    store.advance("x", 3)
    store.advance("x", 2)
    assert store.highest("x") == 3
    store.advance("y", 1)
    store.advance("z", 1)  # over the bound: "x" was touched least recently
    assert store.highest("x") is None
    assert store.highest("z") == 1
    with pytest.raises(ValueError, match="max_entries"):
        InMemorySequenceStore(max_entries=0)


def test_a_live_claim_is_never_evicted_to_make_room() -> None:
    """Issue 11.16: evicting an in-flight claim let a concurrent duplicate run its handler."""
    store = InMemoryKciStore(max_entries=2)
    assert store.claim("in-flight", 60).state is CLAIMED
    for key in ("a", "b", "c"):
        claim = store.claim(key, 60)
        assert claim.state is CLAIMED
        store.commit(key, claim.token)
    assert store.claim("in-flight", 60).state is IN_FLIGHT  # still held by the first delivery
    assert store.claim("c", 60).state is DONE  # the newest handled key is kept
    assert store.claim("a", 60).state is CLAIMED  # the oldest handled key made room
    assert len(store) == 2  # the live claim and the newest key: still max_entries


def test_an_expired_claim_may_be_evicted() -> None:
    clock = FakeClock()
    store = InMemoryKciStore(max_entries=1, clock=clock)
    assert store.claim("abandoned", 5).state is CLAIMED
    clock.now += 10  # its lease ran out
    assert store.claim("next", 60).state is CLAIMED
    assert len(store) == 1
    assert store.claim("abandoned", 60).state is CLAIMED


# -- Redis ----------------------------------------------------------------------------------------


def test_every_redis_key_is_under_the_prefix_and_has_a_ttl(fibrecafe_redis_url: str) -> None:
    store = RedisKciStore(fibrecafe_redis_url, prefix="tenant-a:cvt:", ttl=3600)
    store.commit("k1", store.claim("k1", 60).token)
    store.claim("k2", 30)
    store.advance("SERVICE_TEST:1", 4)
    raw = redis.Redis.from_url(fibrecafe_redis_url)
    keys = sorted(k.decode() for k in raw.keys("*"))  # type: ignore[union-attr]
    assert keys == ["tenant-a:cvt:c:k1", "tenant-a:cvt:c:k2", "tenant-a:cvt:s:SERVICE_TEST:1"]
    ttls = {key: raw.pttl(key) for key in keys}
    assert 3_500_000 < ttls["tenant-a:cvt:c:k1"] <= 3_600_000  # handled: ttl
    assert 25_000 < ttls["tenant-a:cvt:c:k2"] <= 30_000  # claimed: the lease
    assert 3_500_000 < ttls["tenant-a:cvt:s:SERVICE_TEST:1"] <= 3_600_000
    other = RedisKciStore(fibrecafe_redis_url, prefix="tenant-b:cvt:")
    assert other.claim("k1", 60).state is CLAIMED  # another prefix: another receiver
    raw.close()
    store.close()
    other.close()


def test_two_store_objects_on_one_redis_act_as_one(fibrecafe_redis_url: str) -> None:
    worker_a = RedisKciStore(fibrecafe_redis_url)
    worker_b = RedisKciStore(fibrecafe_redis_url)
    claim = worker_a.claim("kci", 60)
    assert worker_b.claim("kci", 60).state is IN_FLIGHT
    assert not worker_b.commit("kci", "guess")
    assert worker_a.commit("kci", claim.token)
    assert worker_b.claim("kci", 60).state is DONE
    assert worker_a.advance("e", 3) is None
    assert worker_b.advance("e", 2) == 3
    worker_a.close()
    worker_b.close()


def test_a_redis_that_is_down_raises_a_typed_error_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = RedisKciStore(f"redis://user:hunter2-canary@127.0.0.1:{port}/0", timeout=0.5)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(KciStoreError) as failure:
        store.claim("k", 60)
    with pytest.raises(KciStoreError):
        asyncio.run(store.advance_async("e", 1))
    shown = f"{failure.value} {store!r} {store.url} {caplog.text}"
    assert "hunter2-canary" not in shown
    assert f"redis://***@127.0.0.1:{port}/0" in str(failure.value)
    assert failure.value.__cause__ is None
    assert failure.value.__suppress_context__


def test_a_redis_that_does_not_answer_in_time_is_a_typed_error() -> None:
    import socket

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        store = RedisKciStore(f"redis://127.0.0.1:{port}/0", timeout=0.2)
        with pytest.raises(KciStoreError, match="claim failed"):
            store.claim("k", 60)


@pytest.mark.parametrize("url", ["http://localhost:6379", "localhost:6379", "memcached://x"])
def test_a_url_that_is_not_redis_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="redis://"):
        RedisKciStore(url)


def test_a_restarted_redis_is_used_again_without_intervention() -> None:
    """Every key gone and the pooled connections dead (a Redis restart): the next call works."""
    from fibrecafe_client.testing import redis_server

    with redis_server() as url:
        store = RedisKciStore(url)
        assert store.claim("before", 60).claimed
        raw = redis.Redis.from_url(url)
        raw.client_kill_filter(_type="normal", skipme=True)  # drop the store's connection
        raw.script_flush()  # and its cached scripts
        raw.close()
        assert store.claim("after", 60).claimed
        assert store.claim("before", 60).state is IN_FLIGHT
        store.close()
