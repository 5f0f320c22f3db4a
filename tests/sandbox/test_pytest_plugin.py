"""The ``fibrecafe`` pytest plugin: its fixtures, their isolation, and a tenant-like suite."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from fibrecafe_client import (
    AsyncFibreCafe,
    FibreCafe,
    KciReceiver,
    ServiceTestKci,
    ServiceTestStatus,
)
from fibrecafe_client.sandbox import KciCapture, Sandbox

SERVICE: dict[str, Any] = {
    "service_id": "BBEU00537760",
    "problem_type": "OUTAGE",
    "service_specification": "FTTP",
    "supplier": "FIBRECO",
    "characteristics": {
        "SERVICE_HAS_WORKED": "true",
        "SERVICE_LAST_WORKED": "2024-04-20T09:45:00.000Z",
    },
}


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_gets_a_fresh_sandbox(fibrecafe_sandbox: Sandbox, round_: int) -> None:
    # Whichever round runs second proves the first one's mess was cleaned up.
    assert fibrecafe_sandbox.stats.count() == 0
    assert fibrecafe_sandbox.faults.pending() == 0
    assert fibrecafe_sandbox.faults.api_latency == 0
    assert fibrecafe_sandbox.webhooks == ()
    fibrecafe_sandbox.faults.fail_next(5, 503)
    fibrecafe_sandbox.faults.api_latency = 0.01
    fibrecafe_sandbox.add_webhook("http://127.0.0.1:9/nowhere")
    assert round_ in (1, 2)


def test_sync_client_and_receiver_end_to_end(
    fibrecafe_sandbox: Sandbox,
    fibrecafe_client: FibreCafe,
    fibrecafe_kci_receiver: KciReceiver,
) -> None:
    seen: list[int] = []
    fibrecafe_kci_receiver.on("SERVICE_TEST")(lambda kci: seen.append(kci.sequence_number))
    test = fibrecafe_client.service_tests.create(
        **SERVICE, extra_headers={"X-Scenario": "SERVICE_TEST_RED", "X-Kci-Delay": "0.01"}
    )
    assert test.status is ServiceTestStatus.RECEIVED_BY_GATEWAY
    kci = fibrecafe_kci_receiver.wait_for_sync(test.id, timeout=10)
    assert isinstance(kci, ServiceTestKci)
    assert kci.entity.test_result == "RED"
    assert seen == [1, 2, 3]
    final = fibrecafe_client.service_tests.wait(test.id, timeout=10, poll_interval=0.01)
    assert final.status is ServiceTestStatus.COMPLETED
    assert final.result == kci.entity.result


def test_token_expiry_mid_run_costs_one_refetch(
    fibrecafe_sandbox: Sandbox, fibrecafe_client: FibreCafe
) -> None:
    test = fibrecafe_client.service_tests.create(**SERVICE)
    assert fibrecafe_sandbox.stats.tokens_issued == 1
    fibrecafe_sandbox.expire_tokens()
    again = fibrecafe_client.service_tests.get(test.id)
    assert again.id == test.id
    stats = fibrecafe_sandbox.stats
    assert stats.tokens_issued == 2
    assert stats.count("GET", "/v1/service-tests/{id}", 401) == 1
    assert stats.count("GET", "/v1/service-tests/{id}", 200) == 1


async def test_async_client(
    fibrecafe_sandbox: Sandbox,
    fibrecafe_async_client: AsyncFibreCafe,
    fibrecafe_kci_receiver: KciReceiver,
) -> None:
    test = await fibrecafe_async_client.service_tests.create(
        **SERVICE, extra_headers={"X-Scenario": "SERVICE_TEST_REJECTED", "X-Kci-Delay": "0"}
    )
    kci = await fibrecafe_kci_receiver.wait_for(test.id, timeout=10)
    assert kci.entity.status is ServiceTestStatus.REJECTED
    final = await fibrecafe_async_client.service_tests.wait(test.id, timeout=10, poll_interval=0.01)
    assert final.status is ServiceTestStatus.REJECTED


def test_kci_capture_records_raw_deliveries(
    fibrecafe_client: FibreCafe, fibrecafe_kci_capture: KciCapture
) -> None:
    test = fibrecafe_client.service_tests.create(
        **SERVICE,
        conversation_id="my-conversation",
        extra_headers={"X-Scenario": "SERVICE_TEST_FAILED_TO_SEND", "X-Kci-Delay": "0"},
    )
    kcis = fibrecafe_kci_capture.wait_for_terminal(test.id)
    assert [k.status for k in kcis] == ["FAILED_TO_SEND"]
    assert kcis[0].conversation_id == "my-conversation"
    assert kcis[0].body["error"]["code"] == "SUPPLIER_FAULT"
    parsed = kcis[0].parse()
    assert isinstance(parsed, ServiceTestKci)
    assert parsed.entity.id == test.id


def _run_pytest(tmp_path: Path, conftest: str, test: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(textwrap.dedent(conftest))
    (tmp_path / "test_tenant.py").write_text(textwrap.dedent(test))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIBRECAFE_")}
    return subprocess.run(  # noqa: S603 - our own interpreter and files
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            str(tmp_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_a_tenant_suite_can_configure_and_use_the_fixtures(tmp_path: Path) -> None:
    result = _run_pytest(
        tmp_path,
        """
        import pytest

        @pytest.fixture(scope="session")
        def fibrecafe_sandbox_options():
            return {"client_id": "tenant-x", "kci_delay": 0.01}
        """,
        """
        def test_green(fibrecafe_sandbox, fibrecafe_client):
            assert fibrecafe_sandbox.client_id == "tenant-x"
            test = fibrecafe_client.service_tests.create(
                service_id="S1",
                problem_type="OUTAGE",
                service_specification="FTTP",
                supplier="FIBRECO",
                characteristics={"SERVICE_HAS_WORKED": "false"},
            )
            final = fibrecafe_client.service_tests.wait(test.id, timeout=10, poll_interval=0.01)
            assert final.test_result == "GREEN"
        """,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_without_uvicorn_the_fixtures_fail_clearly(tmp_path: Path) -> None:
    result = _run_pytest(
        tmp_path,
        """
        import sys

        sys.modules["uvicorn"] = None  # as if it were not installed
        """,
        """
        def test_needs_sandbox(fibrecafe_sandbox):
            pass

        def test_unrelated():
            assert True
        """,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed, 1 error" in result.stdout  # the fixture fails; pytest carries on
    assert "the fibrecafe sandbox fixtures need uvicorn" in result.stdout
    assert "pip install 'fibrecafe-client[sandbox]'" in result.stdout


def test_importing_the_plugin_is_cheap() -> None:
    code = (
        "import sys, fibrecafe_client.testing; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('uvicorn', 'starlette', 'h11') "
        "or m.startswith('fibrecafe_client.sandbox')))"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
