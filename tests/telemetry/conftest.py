"""OpenTelemetry SDK providers with in-memory exporters, handed to the SDK per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from opentelemetry import context as otel_context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fibrecafe_client import RetryPolicy, configure_telemetry
from fibrecafe_client.sandbox import Sandbox

#: A client secret that must never appear in a span or metric.
CANARY = "canary-secret-0xC0FFEE-otel"
INSTANT = RetryPolicy(max_retries=2, initial_backoff=0, max_backoff=0, max_retry_after=0)
SERVICE: dict[str, Any] = {
    "service_id": "BBEU00537760",
    "problem_type": "OUTAGE",
    "service_specification": "FTTP",
    "supplier": "FIBRECO",
    "characteristics": {"SERVICE_HAS_WORKED": "false"},
}


@dataclass
class Otel:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.finished() if s.name == name]

    def points(self, metric: str) -> list[Any]:
        data = self.metrics.get_metrics_data()
        found: list[Any] = []
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for item in scope.metrics:
                    if item.name == metric:
                        found.extend(item.data.data_points)
        return found

    def count(self, metric: str, **attributes: Any) -> int:
        """The sum (counter) or count (histogram) of the points matching ``attributes``."""
        total = 0
        for point in self.points(metric):
            if all(point.attributes.get(k) == v for k, v in attributes.items()):
                total += int(getattr(point, "value", getattr(point, "count", 0)))
        return total


@pytest.fixture
def otel() -> Iterator[Otel]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    configure_telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    yield Otel(exporter, reader)
    configure_telemetry()
    tracer_provider.shutdown()
    meter_provider.shutdown()


@pytest.fixture(scope="session")
def canary_sandbox() -> Iterator[Sandbox]:
    with Sandbox.start(client_secret=CANARY, kci_delay=0.01) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(canary_sandbox: Sandbox) -> Iterator[Sandbox]:
    canary_sandbox.reset()
    yield canary_sandbox
    canary_sandbox.reset()


class Recording(httpx.BaseTransport):
    """A real transport that also records each request's Authorization header and whether
    HTTP auto-instrumentation was suppressed while it was sent."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.authorizations: list[str] = []
        self.suppressed: list[bool] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.authorizations.append(request.headers.get("Authorization", ""))
        self.suppressed.append(
            bool(otel_context.get_value(otel_context._SUPPRESS_HTTP_INSTRUMENTATION_KEY))
        )
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class AsyncRecording(httpx.AsyncBaseTransport):
    """Async :class:`Recording`."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.authorizations: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.authorizations.append(request.headers.get("Authorization", ""))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
