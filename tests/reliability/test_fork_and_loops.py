"""Fork and event-loop safety, on real sockets against the sandbox.

- A client used in a parent process and then, after ``fork()``, in the child: the child works
  with its own connections and token, and the parent keeps working on its own (checked by
  running both at once and matching every answer to its request).
- An ``AsyncFibreCafe`` used from a second event loop (after the first closed, or from two
  loops at once): it works or fails with a typed error, and never hangs.

Every child process and every loop runs under a bounded wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from fibrecafe_client import (
    APIConnectionError,
    AsyncFibreCafe,
    FibreCafe,
    FibreCafeError,
    RetryPolicy,
    aiohttp_http_client,
)
from fibrecafe_client._aiohttp import HttpBackend
from fibrecafe_client.sandbox import Sandbox

from .runner import ASYNC_BACKENDS, run_in_thread

pytestmark = pytest.mark.network

LIMIT = 60.0
CHILD_LIMIT = 30.0
RETRY = RetryPolicy(max_retries=2, initial_backoff=0.01, max_backoff=0.02, deadline=20.0)
CREATE_ARGS: dict[str, Any] = {
    "service_id": "BBEU00537760",
    "problem_type": "OUTAGE",
    "service_specification": "FTTP",
    "supplier": "FIBRECO",
    "characteristics": {"SERVICE_HAS_WORKED": "false"},
}
TOKEN_ROUTE = "/v1/auth/tenant/access-token"
CALLS_EACH = 20


def fresh_tokens(sandbox: Sandbox) -> None:
    """Forget tokens issued to earlier tests' clients, so token counts are this test's."""
    sandbox.revoke_tokens()


def _run_child(target: Callable[[Any], None]) -> tuple[int | None, Any]:
    """Run ``target(conn)`` in a forked child; its exit code and what it sent on ``conn``."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=target, args=(sender,), daemon=True)
    child.start()
    sender.close()
    result: Any = ("error", "the child sent nothing (it died or hung)", None)
    if receiver.poll(CHILD_LIMIT):
        with contextlib.suppress(EOFError):
            result = receiver.recv()
    child.join(CHILD_LIMIT)
    if child.is_alive():
        child.kill()
        child.join(5.0)
        pytest.fail("the forked child hung")
    return child.exitcode, result


def test_sync_client_after_fork_child_and_parent_both_work(sandbox: Sandbox) -> None:
    fresh_tokens(sandbox)
    client = FibreCafe(**sandbox.client_kwargs(), retry=RETRY)
    try:
        parent_test = client.service_tests.create(**CREATE_ARGS)
        child_test = client.service_tests.create(**CREATE_ARGS)
        parent_pool = client._pool.get()
        go = threading.Event()

        def child(conn: Any) -> None:
            try:
                # The parent is polling its own test at the same time on its own socket.
                ids = [client.service_tests.get(child_test.id).id for _ in range(CALLS_EACH)]
                conn.send(("ok", ids, client._pool.get() is not parent_pool))
            except BaseException as exc:
                conn.send(("error", f"{type(exc).__name__}: {exc}", False))

        parent_ids: list[int] = []

        def parent_polls() -> None:
            go.wait(LIMIT)
            parent_ids.extend(
                client.service_tests.get(parent_test.id).id for _ in range(CALLS_EACH)
            )

        poller = threading.Thread(target=parent_polls, daemon=True)
        poller.start()
        go.set()
        exitcode, (status, payload, own_pool) = _run_child(child)
        poller.join(LIMIT)
        assert not poller.is_alive()
        assert exitcode == 0
        assert status == "ok", payload
        assert payload == [child_test.id] * CALLS_EACH  # every answer was the child's own
        assert own_pool  # the child built its own connection pool
        assert parent_ids == [parent_test.id] * CALLS_EACH
        # The parent's pool is untouched and still works after the child has exited.
        assert client._pool.get() is parent_pool
        assert client.service_tests.get(parent_test.id).id == parent_test.id
    finally:
        client.close()
    stats = sandbox.stats
    # One token for the parent, one for the child (which started with an empty cache).
    assert stats.count("POST", TOKEN_ROUTE) == 2
    assert stats.service_tests_created == 2


@pytest.mark.parametrize("backend", ASYNC_BACKENDS)
def test_async_client_after_fork_works_in_the_child(sandbox: Sandbox, backend: HttpBackend) -> None:
    fresh_tokens(sandbox)
    client = AsyncFibreCafe(**sandbox.client_kwargs(), retry=RETRY, http_backend=backend)

    async def create() -> int:
        return (await client.service_tests.create(**CREATE_ARGS)).id

    def parent_first() -> int:
        return asyncio.run(create())

    first = run_in_thread(parent_first, LIMIT, "the parent's first call")
    assert first.error is None

    def child(conn: Any) -> None:
        try:
            conn.send(("ok", asyncio.run(create())))
        except BaseException as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))

    exitcode, (status, payload) = _run_child(child)
    assert exitcode == 0
    assert status == "ok", payload
    assert isinstance(payload, int)

    async def create_and_close() -> int:
        try:
            return await create()
        finally:
            await client.aclose()

    after = run_in_thread(lambda: asyncio.run(create_and_close()), LIMIT, "the parent after")
    assert after.error is None, after.error
    assert sandbox.stats.service_tests_created == 3
    assert sandbox.stats.count("POST", TOKEN_ROUTE) == 2


@pytest.mark.parametrize("backend", ASYNC_BACKENDS)
def test_async_client_from_one_loop_after_another(sandbox: Sandbox, backend: HttpBackend) -> None:
    fresh_tokens(sandbox)
    client = AsyncFibreCafe(**sandbox.client_kwargs(), retry=RETRY, http_backend=backend)

    async def use() -> int:
        test = await client.service_tests.create(**CREATE_ARGS)
        return (await client.service_tests.get(test.id)).id

    def three_loops() -> list[int]:
        ids = [asyncio.run(use()) for _ in range(3)]  # each asyncio.run is a new loop
        asyncio.run(client.aclose())
        return ids

    outcome = run_in_thread(three_loops, LIMIT, "three event loops in turn")
    assert outcome.error is None, repr(outcome.error)
    assert len(set(outcome.result)) == 3
    assert sandbox.stats.service_tests_created == 3
    assert sandbox.stats.count("POST", TOKEN_ROUTE) == 1  # the token cache outlives a loop


@pytest.mark.parametrize("backend", ASYNC_BACKENDS)
def test_async_client_from_two_loops_at_once_never_hangs(
    sandbox: Sandbox, backend: HttpBackend
) -> None:
    fresh_tokens(sandbox)
    client = AsyncFibreCafe(**sandbox.client_kwargs(), retry=RETRY, http_backend=backend)
    results: list[object] = []
    lock = threading.Lock()

    async def burst() -> None:
        outcomes = await asyncio.gather(
            *(client.service_tests.create(**CREATE_ARGS) for _ in range(10)),
            return_exceptions=True,
        )
        with lock:
            results.extend(outcomes)

    def two_loops() -> None:
        threads = [
            threading.Thread(target=lambda: asyncio.run(burst()), daemon=True) for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(LIMIT)
            assert not thread.is_alive()

    outcome = run_in_thread(two_loops, LIMIT + 5, "two event loops at once")
    assert outcome.error is None, repr(outcome.error)
    assert len(results) == 20
    failures = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(f, FibreCafeError) for f in failures), failures
    # Refused up front, naming the cause; nothing was sent for them.
    assert all("another event loop" in str(f) for f in failures), failures
    assert sandbox.stats.service_tests_created == 20 - len(failures)


@pytest.mark.parametrize("backend", ASYNC_BACKENDS)
def test_user_async_client_from_a_second_loop_fails_clearly_or_works(
    sandbox: Sandbox, backend: HttpBackend
) -> None:
    """httpx drops a connection of a stopped loop and goes on; an aiohttp session cannot
    leave its loop, so every later call is refused up front (nothing sent), naming the fix."""
    fresh_tokens(sandbox)
    outcomes: list[str] = []

    def run() -> None:
        http = httpx.AsyncClient() if backend == "httpx" else aiohttp_http_client()
        client = AsyncFibreCafe(**sandbox.client_kwargs(), retry=RETRY, http_client=http)

        async def create() -> None:
            try:
                await client.service_tests.create(**CREATE_ARGS)
                outcomes.append("ok")
            except APIConnectionError as exc:
                outcomes.append("clear error" if "event loop" in str(exc) else str(exc))

        async def create_and_close() -> None:
            await create()
            await http.aclose()  # the user's client is the user's to close, in its loop

        asyncio.run(create())
        asyncio.run(create())  # the first loop is closed: its connection is unusable
        asyncio.run(create_and_close())

    outcome = run_in_thread(run, LIMIT, "a user's AsyncClient on three loops")
    assert outcome.error is None, repr(outcome.error)
    assert outcomes[0] == "ok"
    if backend == "httpx":
        assert outcomes[1] in ("ok", "clear error")
        assert outcomes[2] == "ok"  # the broken connection was dropped: the next call works
    else:
        assert outcomes[1:] == ["clear error", "clear error"]
        assert sandbox.stats.service_tests_created == 1


@pytest.mark.parametrize("backend", ASYNC_BACKENDS)
def test_closed_async_client_stays_closed_on_another_loop(
    sandbox: Sandbox, backend: HttpBackend
) -> None:
    client = AsyncFibreCafe(**sandbox.client_kwargs(), retry=RETRY, http_backend=backend)

    async def get() -> int:
        return (await client.service_tests.get(1)).id

    def run() -> None:
        with pytest.raises(FibreCafeError):
            asyncio.run(get())  # no such test: 404, but the pool is now this loop's
        asyncio.run(client.aclose())  # from another loop: no RuntimeError
        assert client.is_closed
        with pytest.raises(APIConnectionError, match="closed"):
            asyncio.run(get())

    outcome = run_in_thread(run, LIMIT, "a closed client on a new loop")
    assert outcome.error is None, repr(outcome.error)
