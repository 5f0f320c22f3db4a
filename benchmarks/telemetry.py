"""Benchmark 1, telemetry rows: the per-call cost of the SDK's OpenTelemetry hooks.

The same ``create()`` / ``get()`` against the mock gateway, timed in one run with the hooks in
three states, interleaved round by round:

- ``off``: no OpenTelemetry (the state without the ``otel`` extra, or after
  ``configure_telemetry(enabled=False)``: every hook returns after one global read);
- ``api``: ``opentelemetry-api`` installed and no SDK configured (the global no-op providers);
- ``sdk``: the OpenTelemetry SDK with an in-memory span exporter and metric reader.

Target: ``api`` within 3 % of ``off``. The ``sdk`` ratio is reported (it is the cost of
recording and exporting spans, which a tenant chooses).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from fibrecafe_client import AsyncFibreCafe, FibreCafe, configure_telemetry
from fibrecafe_client import _telemetry as telemetry

from ._gateway import BASE_URL, CLIENT_ID, CLIENT_SECRET, CREATE_ARGS, MockGateway
from ._harness import Samples, time_async, time_sync
from ._report import Figure

__all__ = ["run"]

NAME = "1. per-call overhead"
TARGET = 1.03


def _states() -> tuple[dict[str, Any], Callable[[], None]]:
    """The resolved hook state for each mode, and a cleanup for the SDK providers."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    states: dict[str, Any] = {"off": None}
    configure_telemetry()
    states["api"] = telemetry._resolve()
    configure_telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    states["sdk"] = telemetry._resolve()

    def cleanup() -> None:
        configure_telemetry()
        tracer_provider.shutdown()
        meter_provider.shutdown()

    # Keep the exporter from growing without bound over the run.
    states["_clear"] = exporter.clear
    return states, cleanup


def _with(state: Any, clear: Callable[[], None], func: Callable[[], Any]) -> Callable[[], Any]:
    def case() -> Any:
        telemetry._settings.state = state
        clear()
        return func()

    return case


def _figures(samples: Samples, flavour: str) -> list[Figure]:
    figures = []
    for op in ("create", "get"):
        off, api, sdk = (samples.median_us(f"{mode} {op}") for mode in ("off", "api", "sdk"))
        note = f"off {off:.0f} us, API only {api:.0f} us, SDK in-memory {sdk:.0f} us per call"
        figures.append(
            Figure(
                NAME,
                f"{op}() {flavour}: OpenTelemetry API only / none",
                samples.ratio(f"api {op}", f"off {op}"),
                "x",
                "<=",
                TARGET,
                note,
            )
        )
        figures.append(
            Figure(
                NAME,
                f"{op}() {flavour}: OpenTelemetry SDK in-memory / none",
                samples.ratio(f"sdk {op}", f"off {op}"),
                "x",
            )
        )
    return figures


def _sync(rounds: int, number: int, warmup: int) -> list[Figure]:
    states, cleanup = _states()
    clear = states.pop("_clear")
    gateway = MockGateway()
    sdk = FibreCafe(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        base_url=BASE_URL,
        http_client=httpx.Client(transport=gateway.transport()),
    )
    cases: dict[str, Callable[[], object]] = {}
    for mode, state in states.items():
        cases[f"{mode} create"] = _with(
            state, clear, lambda: sdk.service_tests.create(**CREATE_ARGS)
        )
        cases[f"{mode} get"] = _with(state, clear, lambda: sdk.service_tests.get(123))
    try:
        samples = time_sync(cases, rounds=rounds, number=number, warmup=warmup)
    finally:
        sdk.close()
        cleanup()
    return _figures(samples, "sync")


async def _async(rounds: int, number: int, warmup: int) -> list[Figure]:
    states, cleanup = _states()
    clear = states.pop("_clear")
    gateway = MockGateway()
    sdk = AsyncFibreCafe(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        base_url=BASE_URL,
        http_client=httpx.AsyncClient(transport=gateway.async_transport()),
    )

    def case(state: Any, call: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[object]]:
        async def run_case() -> object:
            telemetry._settings.state = state
            clear()
            return await call()

        return run_case

    cases: dict[str, Callable[[], Awaitable[object]]] = {}
    for mode, state in states.items():
        cases[f"{mode} create"] = case(state, lambda: sdk.service_tests.create(**CREATE_ARGS))
        cases[f"{mode} get"] = case(state, lambda: sdk.service_tests.get(123))
    try:
        samples = await time_async(cases, rounds=rounds, number=number, warmup=warmup)
    finally:
        await sdk.aclose()
        cleanup()
    return _figures(samples, "async")


def run(*, quick: bool) -> list[Figure]:
    """Time create/get with the telemetry hooks off, API-only and on the SDK, sync and async."""
    rounds, number, warmup = (3, 30, 20) if quick else (15, 400, 300)
    figures = _sync(rounds, number, warmup)
    figures += asyncio.run(_async(rounds, number, warmup))
    return figures
