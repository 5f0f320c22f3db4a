"""Running the sandbox (in-process, blocking, mounted), clean shutdown, and the pure helpers."""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from fibrecafe_client.models import ServiceTestStatus
from fibrecafe_client.sandbox import (
    CVT_KCI_DELAY,
    DEFAULT_KCI_DELAY,
    KciCapture,
    Sandbox,
    SandboxConfig,
    Scenario,
    Webhook,
    create_app,
    run_forever,
)
from fibrecafe_client.sandbox._delivery import retry_delay
from fibrecafe_client.sandbox._tokens import TokenGrant

if TYPE_CHECKING:
    from conftest import Api


def test_urls_credentials_and_environment(sandbox: Sandbox) -> None:
    assert sandbox.url == f"http://127.0.0.1:{sandbox.port}"
    assert sandbox.base_url == sandbox.url + "/v1"
    assert sandbox.token_url == sandbox.url + "/v1/auth/tenant/access-token"
    assert sandbox.admin_url == sandbox.url + "/_sandbox"
    assert sandbox.client_kwargs() == {
        "client_id": "sandbox-client",
        "client_secret": "sandbox-secret",
        "base_url": sandbox.base_url,
        "token_url": sandbox.token_url,
        "scope": "com.fibregateway.sandbox/tenant.all.all",
    }
    assert sandbox.environ()["FIBRECAFE_BASE_URL"] == sandbox.base_url
    assert f"export FIBRECAFE_BASE_URL={sandbox.base_url}" in sandbox.banner()
    assert "sandbox-secret" not in repr(sandbox)


def test_only_loopback_addresses() -> None:
    with pytest.raises(ValueError, match="only loopback"):
        Sandbox.start(host="0.0.0.0")


def test_defaults() -> None:
    assert DEFAULT_KCI_DELAY == 0.2
    assert CVT_KCI_DELAY == 30.0
    assert SandboxConfig().kci_delay == DEFAULT_KCI_DELAY


def test_shutdown_with_pending_timers_and_deliveries_is_clean(
    caplog: pytest.LogCaptureFixture, make_api: Callable[[Sandbox], Api]
) -> None:
    caplog.set_level(logging.WARNING)
    with KciCapture() as failing:
        failing.fail_next(1000, 503)
        sandbox = Sandbox.start(
            webhooks=[failing.url], kci_delay=0, kci_retry_backoff=30, kci_max_attempts=5
        )
        try:
            api = make_api(sandbox)
            api.create()  # its first KCI will sit in a 30 s backoff
            api.create(headers={"X-Kci-Delay": "60"})  # a lifecycle timer a minute away
            failing.wait_for(lambda _: len(failing.deliveries) >= 1)
        finally:
            sandbox.stop()
        assert not sandbox.running
    sandbox.stop()  # idempotent
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert problems == []


def test_run_forever_serves_until_stopped() -> None:
    ready: queue.Queue[Sandbox] = queue.Queue()
    stop = threading.Event()
    thread = threading.Thread(
        target=run_forever,
        kwargs={"port": 0, "on_ready": ready.put, "stop_event": stop, "kci_delay": 0.01},
        daemon=True,
    )
    thread.start()
    sandbox = ready.get(timeout=10)
    response = httpx.post(
        sandbox.token_url,
        data={"grant_type": "client_credentials"},
        auth=(sandbox.client_id, sandbox.client_secret),
    )
    assert response.status_code == 200
    assert sandbox.config.kci_delay == 0.01
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert not sandbox.running


_SERVE = """
import sys
from fibrecafe_client.sandbox import run_forever
run_forever(port=0, on_ready=lambda sb: print(sb.token_url, flush=True))
print("stopped", flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_run_forever_stops_on_ctrl_c_and_sigterm(signum: int) -> None:
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _SERVE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        token_url = process.stdout.readline().strip()
        assert token_url.startswith("http://127.0.0.1:"), (
            process.stderr.read() if process.stderr else ""
        )
        response = httpx.post(
            token_url,
            data={"grant_type": "client_credentials"},
            auth=("sandbox-client", "sandbox-secret"),
        )
        assert response.status_code == 200
        process.send_signal(signum)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=5)
    assert process.returncode == 0, err
    assert out.strip() == "stopped"
    assert "Traceback" not in err


async def test_bare_app_runs_in_the_callers_loop() -> None:
    app = create_app(SandboxConfig(kci_delay=0))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox/v1") as client:
        token = await client.post(
            "/auth/tenant/access-token",
            data={
                "grant_type": "client_credentials",
                "client_id": "sandbox-client",
                "client_secret": "sandbox-secret",
            },
        )
        headers = {
            "Authorization": f"Bearer {token.json()['access_token']}",
            "X-Request-ID": "r-1",
            "X-Conversation-ID": "c-1",
        }
        body = {
            "serviceId": "S1",
            "problemType": "OUTAGE",
            "serviceSpecification": {"id": "FTTP"},
            "supplier": "FIBRECO",
            "characteristics": [{"name": "SERVICE_HAS_WORKED", "value": "false"}],
        }
        created = await client.post("/service-tests", json=body, headers=headers)
        test_id = created.json()["id"]
        status = created.json()["status"]
        for _ in range(200):
            status = (await client.get(f"/service-tests/{test_id}", headers=headers)).json()[
                "status"
            ]
            if status == "COMPLETED":
                break
            await asyncio.sleep(0.005)
        assert status == "COMPLETED"
        # without uvicorn's transport a dropped connection falls back to a 502
        app.faults.drop_next(1)
        fallback = await client.get(f"/service-tests/{test_id}", headers=headers)
        assert fallback.status_code == 502
    await app.aclose()


async def test_lifespan_protocol() -> None:
    app = create_app()
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: list[dict[str, Any]] = []
    for message in ("lifespan.startup", "lifespan.shutdown"):
        inbox.put_nowait({"type": message})

    async def receive() -> dict[str, Any]:
        return await inbox.get()

    async def send(message: Any) -> None:
        outbox.append(dict(message))

    await asyncio.wait_for(app({"type": "lifespan"}, receive, send), timeout=5)
    assert outbox == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]


# --- pure helpers ---


@pytest.mark.parametrize(
    ("attempt", "retry_after", "expected"),
    [
        (1, None, 0.5),
        (2, None, 1.0),
        (3, None, 2.0),
        (10, None, 4.0),
        (1, "3", 3.0),
        (1, "30", 4.0),
        (2, "0", 0.0),
        (2, "soon", 1.0),
        (2, "-5", 1.0),
    ],
)
def test_retry_delay(attempt: int, retry_after: str | None, expected: float) -> None:
    assert retry_delay(attempt, backoff=0.5, max_backoff=4.0, retry_after=retry_after) == expected


def test_webhook_validation_and_secret_free_repr() -> None:
    hook = Webhook("https://tenant.example/kcis", username="gw", password="p4ss")
    assert hook.auth_kind == "basic"
    assert hook.authorization() == "Basic Z3c6cDRzcw=="
    assert "p4ss" not in repr(hook)
    bearer = Webhook("http://127.0.0.1:1/k", bearer_token="t0ken")
    assert bearer.authorization() == "Bearer t0ken"
    assert "t0ken" not in repr(bearer)
    assert Webhook("http://127.0.0.1:1/k").authorization() is None
    for bad, message in [
        ({"url": "ftp://x/y"}, "http"),
        ({"url": "/kcis"}, "http"),
        ({"url": "http://u:p@127.0.0.1/k"}, "credentials"),
        ({"url": "http://127.0.0.1/k", "username": "u"}, "both"),
        (
            {"url": "http://127.0.0.1/k", "username": "u", "password": "p", "bearer_token": "t"},
            "not both",
        ),
    ]:
        with pytest.raises(ValueError, match=message):
            Webhook(**bad)


def test_config_validation_and_secret_free_repr() -> None:
    assert "sandbox-secret" not in repr(SandboxConfig())
    with pytest.raises(ValueError, match="kci_delay must not exceed"):
        SandboxConfig(kci_delay=10, max_kci_delay=5)
    with pytest.raises(ValueError, match="kci_max_attempts"):
        SandboxConfig(kci_max_attempts=0)
    with pytest.raises(ValueError, match="token_lifetime"):
        SandboxConfig(token_lifetime=float("inf"))
    with pytest.raises(TypeError, match="scopes"):
        SandboxConfig(scopes="a/b")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="client_id"):
        SandboxConfig(client_id="a:b")
    with pytest.raises(TypeError, match="single one"):
        SandboxConfig(webhooks="http://127.0.0.1/k")  # type: ignore[arg-type]
    config = SandboxConfig(webhooks=["http://127.0.0.1:1/k"])  # type: ignore[arg-type]
    assert config.webhooks == (Webhook("http://127.0.0.1:1/k"),)


def test_token_grant_repr_hides_the_token() -> None:
    grant = TokenGrant("eyJ.secret.sig", 3600, "scope/a")
    assert "secret" not in repr(grant)
    assert grant.body() == {
        "access_token": "eyJ.secret.sig",
        "expires_in": 3600,
        "token_type": "Bearer",
    }


def test_scenario_final_states() -> None:
    finals = {s: s.final_status for s in Scenario}
    assert finals[Scenario.REJECTED] is ServiceTestStatus.REJECTED
    assert finals[Scenario.FAILED_TO_SEND] is ServiceTestStatus.FAILED_TO_SEND
    completed = [s for s, status in finals.items() if status is ServiceTestStatus.COMPLETED]
    assert len(completed) == 5


def test_stop_answers_requests_waiting_out_a_latency(make_api: Callable[[Sandbox], Api]) -> None:
    sandbox = Sandbox.start()
    sandbox.faults.api_latency = 60
    api = make_api(sandbox)
    statuses: list[int] = []
    caller = threading.Thread(target=lambda: statuses.append(api.get(1).status_code), daemon=True)
    caller.start()
    deadline = time.monotonic() + 10
    while sandbox.app.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert sandbox.app.in_flight == 1
    sandbox.stop()
    caller.join(10)
    assert statuses == [503]
    assert not sandbox.running
