"""``serve_asgi`` runs an app's lifespan: startup before the first request, shutdown on stop."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from fibrecafe_client._loopback import bind_loopback
from fibrecafe_client.sandbox import Sandbox, serve_asgi

pytestmark = pytest.mark.network


def greeting(request: Request) -> PlainTextResponse:
    return PlainTextResponse(getattr(request.app.state, "greeting", "no startup ran"))


def make_app(events: list[str], *, fail_startup: bool = False) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if fail_startup:
            raise RuntimeError("the database is not there")
        app.state.greeting = "set at startup"
        events.append("startup")
        yield
        events.append("shutdown")

    return Starlette(routes=[Route("/", greeting)], lifespan=lifespan)


@pytest.mark.parametrize("lifespan", ["auto", "on", None])
def test_startup_state_is_read_by_a_request_and_shutdown_runs_on_stop(
    lifespan: Any,
) -> None:
    events: list[str] = []
    options = {} if lifespan is None else {"lifespan": lifespan}  # None: the default
    server = serve_asgi(make_app(events), **options)
    try:
        assert events == ["startup"]  # before serve_asgi returned
        assert httpx.get(server.url + "/").text == "set at startup"
    finally:
        server.stop()
    assert events == ["startup", "shutdown"]


def test_lifespan_off_never_runs_startup() -> None:
    events: list[str] = []
    with serve_asgi(make_app(events), lifespan="off") as server:
        assert httpx.get(server.url + "/").text == "no startup ran"
    assert events == []


def test_a_failing_startup_with_lifespan_on_raises_instead_of_serving() -> None:
    with pytest.raises(RuntimeError, match="exited before it started"):
        serve_asgi(make_app([], fail_startup=True), lifespan="on", log_level="critical")


async def no_lifespan_app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    assert scope["type"] == "http", "this app knows nothing but HTTP"
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def test_auto_serves_an_app_that_does_not_speak_lifespan() -> None:
    with serve_asgi(no_lifespan_app) as server:
        assert httpx.get(server.url + "/").status_code == 204


def test_an_unknown_lifespan_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="lifespan must be"):
        serve_asgi(no_lifespan_app, lifespan="sometimes")  # type: ignore[arg-type]


def test_the_sandbox_runs_under_its_own_lifespan_and_stops_cleanly() -> None:
    with Sandbox.start() as sandbox:
        token = httpx.post(
            sandbox.token_url,
            data={"grant_type": "client_credentials"},
            auth=(sandbox.client_id, sandbox.client_secret),
        )
        assert token.status_code == 200
    assert not sandbox.running


def test_a_taken_port_says_which_address_and_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}") as info:
            bind_loopback("127.0.0.1", port)
    assert info.value.errno is not None
