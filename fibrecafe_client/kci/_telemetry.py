"""OpenTelemetry for the KCI receiver: one ``SERVER`` span per delivery, with the handlers
running inside it (so a tenant's own spans nest under it), and delivery metrics.

Built on the client's telemetry switch (:func:`fibrecafe_client.configure_telemetry`): no
import of OpenTelemetry and no work when the ``otel`` extra is absent, turned off, or no SDK
is set up. Attributes are the KCI's identity and outcome only, never a header or a body.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any, Final

from fibrecafe_client import _telemetry  # pyright: ignore[reportPrivateUsage] - one switch

if TYPE_CHECKING:
    from ._receiver import KciEvent

__all__ = ["KCI_METRICS", "SPAN_NAME", "active", "delivery_span", "record"]

#: The name of the span of one KCI delivery.
SPAN_NAME: Final = "kci.receive"

#: The receiver's metrics: name -> (instrument kind, unit, description).
KCI_METRICS: Final[Mapping[str, tuple[str, str, str]]] = {
    "fibrecafe.kci.deliveries": (
        "counter",
        "{delivery}",
        "KCI deliveries, by fibrecafe.kci.outcome and http.response.status_code.",
    ),
    "fibrecafe.kci.handler.duration": (
        "histogram",
        "s",
        "How long a KCI's handlers ran, by fibrecafe.kci.outcome and fibrecafe.kci.entity_type.",
    ),
}

_instruments: dict[int, tuple[Any, Any]] = {}  # id(otel) -> (deliveries, handler duration)


def active() -> Any:
    """The resolved OpenTelemetry objects while tracing is on and an SDK is set up, else None."""
    otel = _telemetry._resolve()  # pyright: ignore[reportPrivateUsage] - one switch
    if otel is None or otel.idle():
        return None
    return otel


@contextlib.contextmanager
def delivery_span() -> Generator[None]:
    """The span of one delivery, current while the flow (and so the handlers) runs."""
    otel = active()
    if otel is None:
        yield
        return
    span = otel.tracer.start_span(
        SPAN_NAME,
        kind=otel.trace.SpanKind.SERVER,
        attributes={"http.request.method": "POST", "url.path": "/kcis"},
    )
    with otel.trace.use_span(span, end_on_exit=True, record_exception=False):
        yield


def record(event: KciEvent) -> None:
    """Put ``event`` on the current delivery span (or a span of its own, for a refusal before
    the body was read) and count it."""
    otel = active()
    if otel is None:
        return
    attributes = _attributes(event)
    span = otel.trace.get_current_span()
    ours = span.is_recording() and getattr(span, "name", None) == SPAN_NAME
    if not ours:
        span = otel.tracer.start_span(SPAN_NAME, kind=otel.trace.SpanKind.SERVER)
    span.set_attributes(attributes)
    if event.status >= 500:
        span.set_status(otel.trace.Status(otel.trace.StatusCode.ERROR, event.outcome))
    if not ours:
        span.end()
    deliveries, handler_duration = _metrics(otel)
    labels = {
        "fibrecafe.kci.outcome": event.outcome,
        "http.response.status_code": event.status,
    }
    deliveries.add(1, labels)
    if event.handler_seconds is not None:
        handler_labels: dict[str, str] = {"fibrecafe.kci.outcome": event.outcome}
        if event.kci is not None:
            handler_labels["fibrecafe.kci.entity_type"] = str(event.kci.entity_type)
        handler_duration.record(event.handler_seconds, handler_labels)


def _attributes(event: KciEvent) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "http.request.method": "POST",
        "http.response.status_code": event.status,
        "fibrecafe.kci.outcome": event.outcome,
    }
    if event.reason:
        attributes["fibrecafe.kci.reason"] = event.reason
    if event.request_id:
        attributes["fibrecafe.request_id"] = event.request_id
    if event.conversation_id:
        attributes["fibrecafe.conversation_id"] = event.conversation_id
    if event.error_uuid:
        attributes["fibrecafe.error_uuid"] = event.error_uuid
    if event.handler_seconds is not None:
        attributes["fibrecafe.kci.handler_duration"] = event.handler_seconds
    kci = event.kci
    if kci is not None:
        attributes["fibrecafe.kci.id"] = kci.id
        attributes["fibrecafe.kci.entity_type"] = str(kci.entity_type)
        attributes["fibrecafe.kci.sequence_number"] = kci.sequence_number
        attributes["fibrecafe.kci.stale"] = kci.is_stale
        entity_id = kci.entity_id
        if entity_id is not None:
            attributes["fibrecafe.kci.entity_id"] = str(entity_id)
        if kci.entity_status is not None:
            attributes["fibrecafe.kci.entity_status"] = str(kci.entity_status)
    return attributes


def _metrics(otel: Any) -> tuple[Any, Any]:
    found = _instruments.get(id(otel))
    if found is None:
        from opentelemetry import metrics  # noqa: PLC0415 - only with the extra, when tracing

        meter = metrics.get_meter(
            _telemetry.INSTRUMENTATION_NAME,
            meter_provider=_telemetry._settings.meter_provider,  # pyright: ignore[reportPrivateUsage]
        )
        _kind, unit, text = KCI_METRICS["fibrecafe.kci.deliveries"]
        deliveries = meter.create_counter("fibrecafe.kci.deliveries", unit=unit, description=text)
        _kind, unit, text = KCI_METRICS["fibrecafe.kci.handler.duration"]
        duration = meter.create_histogram(
            "fibrecafe.kci.handler.duration", unit=unit, description=text
        )
        found = _instruments[id(otel)] = (deliveries, duration)
    return found
