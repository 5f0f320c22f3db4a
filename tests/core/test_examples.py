"""The examples run end to end (against the mocked gateway, configured by env vars)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest
import respx

from fibrecafe_client import AsyncFibreCafe, FibreCafe, RetryPolicy, ServiceTest

from .helpers import BASE_URL, CANARY_SECRET, CLIENT_ID, FakeClock, service_test_json

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
COMPLETED = service_test_json(
    status="COMPLETED",
    result={"testOutcome": {"testResult": "GREEN", "code": "NO_FAULT_FOUND"}},
)


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(EXAMPLES))  # the examples import their shared _local_sandbox
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXAMPLES))
    return module


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIBRECAFE_BASE_URL", BASE_URL)
    monkeypatch.setenv("FIBRECAFE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("FIBRECAFE_CLIENT_SECRET", CANARY_SECRET)
    monkeypatch.setenv("FIBRECAFE_SCENARIO", "SERVICE_TEST_GREEN")


def test_create_service_test_example_from_env(
    env: None, gateway: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    post = gateway.post("/service-tests").respond(201, json=service_test_json())
    gateway.get("/service-tests/123").respond(200, json=COMPLETED)
    final = _load("create_service_test").main()
    assert isinstance(final, ServiceTest)
    assert final.is_terminal
    assert post.calls.last.request.headers["X-Scenario"] == "SERVICE_TEST_GREEN"
    out = capsys.readouterr().out
    assert "created service test 123" in out
    assert "final: COMPLETED, GREEN" in out


def test_create_service_test_example_with_a_given_client(
    gateway: respx.MockRouter, clock: FakeClock
) -> None:
    gateway.post("/service-tests").respond(201, json=service_test_json())
    gateway.get("/service-tests/123").mock(
        side_effect=[
            httpx.Response(200, json=service_test_json()),
            httpx.Response(200, json=COMPLETED),
        ]
    )
    with FibreCafe(
        CLIENT_ID, CANARY_SECRET, base_url=BASE_URL, sleep=clock.sleep, clock=clock.monotonic
    ) as client:
        final = _load("create_service_test").main(client, timeout=30)
        assert not client.is_closed  # a given client is left open for its owner
    assert final.status == "COMPLETED"
    assert clock.sleeps == [2.0]


async def test_async_example_runs_tests_concurrently_with_one_token(
    env: None, gateway: respx.MockRouter, clock: FakeClock
) -> None:
    gateway.post("/service-tests").respond(201, json=service_test_json())
    gateway.get("/service-tests/123").respond(200, json=COMPLETED)
    client = AsyncFibreCafe(
        retry=RetryPolicy(initial_backoff=0.01), sleep=clock.asleep, clock=clock.monotonic
    )
    results = await _load("async_service_tests").main(client)
    await client.aclose()
    assert len(results) == 2
    assert all(isinstance(r, ServiceTest) for r in results)
    assert gateway["token"].call_count == 1


async def test_async_example_reports_sdk_errors(
    env: None, gateway: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.post("/service-tests").respond(422, json={"uuid": "u", "code": "INVALID_REQUEST"})
    results = await _load("async_service_tests").main()
    assert len(results) == 2
    assert "failed: 422 INVALID_REQUEST" in capsys.readouterr().out
