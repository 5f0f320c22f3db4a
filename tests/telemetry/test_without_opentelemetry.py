"""The SDK without OpenTelemetry: nothing imported, nothing required, every call works."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.network

_BLOCKED = textwrap.dedent(
    """
    import sys

    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, _Block())
    """
)

_USE = textwrap.dedent(
    """
    import asyncio, sys
    import fibrecafe_client
    from fibrecafe_client import AsyncFibreCafe, FibreCafe, NotFoundError, configure_telemetry
    from fibrecafe_client import telemetry_enabled
    from fibrecafe_client.sandbox import Sandbox

    service = dict(service_id="S1", problem_type="OUTAGE", service_specification="FTTP",
                   supplier="FIBRECO", characteristics={"SERVICE_HAS_WORKED": "false"})
    with Sandbox.start(kci_delay=0.01) as sb:
        sb.faults.fail_next(1, 429, retry_after=0)
        with FibreCafe(**sb.client_kwargs()) as client:
            test = client.service_tests.create(**service)
            client.service_tests.wait(test.id, timeout=10, poll_interval=0.01)
            try:
                client.service_tests.get(987654)
            except NotFoundError:
                pass

        async def main():
            async with AsyncFibreCafe(**sb.client_kwargs()) as client:
                test = await client.service_tests.create(**service)
                await client.service_tests.wait(test.id, timeout=10, poll_interval=0.01)

        asyncio.run(main())
    configure_telemetry(http_attempt_spans=False)
    print("enabled", telemetry_enabled())
    print("loaded", sorted(m for m in sys.modules if m.startswith("opentelemetry")))
    """
)


def _run(code: str) -> str:
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_sdk_works_without_opentelemetry_importable() -> None:
    out = _run(_BLOCKED + _USE)
    assert "enabled False" in out
    assert "loaded []" in out


def test_importing_the_sdk_does_not_import_opentelemetry() -> None:
    out = _run(
        "import sys, fibrecafe_client, fibrecafe_client.sandbox\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    assert out.strip() == "[]"


def test_with_the_api_but_no_sdk_calls_work_and_record_nothing() -> None:
    out = _run(_USE)
    assert "enabled True" in out
    assert "'opentelemetry.trace'" in out  # loaded at the first call, not at import
    assert "opentelemetry.sdk" not in out  # the SDK configures no provider or exporter


def test_an_sdk_set_up_after_the_first_call_is_picked_up() -> None:
    # While no SDK is set up the hooks skip their work; a provider set later gets the spans.
    out = _run(
        textwrap.dedent(
            """
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor
            from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
                InMemorySpanExporter,
            )
            from fibrecafe_client import FibreCafe
            from fibrecafe_client.sandbox import Sandbox

            with Sandbox.start() as sb, FibreCafe(**sb.client_kwargs()) as client:
                client.check_credentials()
                test = client.service_tests.create(
                    service_id="S1", problem_type="OUTAGE", service_specification="FTTP",
                    supplier="FIBRECO", characteristics={"SERVICE_HAS_WORKED": "false"},
                )
                exporter = InMemorySpanExporter()
                provider = TracerProvider()
                provider.add_span_processor(SimpleSpanProcessor(exporter))
                trace.set_tracer_provider(provider)
                client.service_tests.get(test.id)
            print(sorted(s.name for s in exporter.get_finished_spans()))
            """
        )
    )
    assert out.strip() == "['GET /service-tests/{id}', 'service_tests.get']"
