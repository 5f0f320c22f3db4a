"""The receiver's span per delivery (the handlers inside it) and its metrics (issue 13)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from opentelemetry import trace as otel_trace

from fibrecafe_client import BearerTokenVerifier, Kci, KciReceiver

from .conftest import Otel

TOKEN = "kci-bearer-canary-0xBEEF"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


_TEMPLATE = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "kcis" / "service-test-in-progress.json").read_text()
)


def _kci(kci_id: str, sequence: int, test_id: int = 7) -> bytes:
    doc = {**_TEMPLATE, "id": kci_id, "sequenceNumber": sequence}
    doc["entity"] = {**doc["entity"], "id": test_id}
    return json.dumps(doc).encode()


def _attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_each_delivery_is_one_server_span_with_the_handler_inside(otel: Otel) -> None:
    receiver = KciReceiver(verifier=BearerTokenVerifier(TOKEN), stale="drop")
    inside: list[int] = []

    @receiver.on_any
    async def handler(kci: Kci) -> None:
        inside.append(otel_trace.get_current_span().get_span_context().span_id)
        if kci.sequence_number == 9:
            raise RuntimeError("handler bug")

    async def run() -> list[int]:
        headers = {**AUTH, "X-Request-ID": "req-1", "X-Conversation-ID": "conv-1"}
        answers = [
            await receiver.handle_async("POST", headers, _kci("a", 5)),
            await receiver.handle_async("POST", AUTH, _kci("a", 5)),  # duplicate
            await receiver.handle_async("POST", AUTH, _kci("b", 4)),  # stale, dropped
            await receiver.handle_async("POST", AUTH, _kci("c", 9, test_id=8)),  # fails
            await receiver.handle_async("POST", {"Authorization": "Bearer no"}, b"{}"),
        ]
        return [a.status for a in answers]

    assert asyncio.run(run()) == [204, 204, 204, 500, 401]
    spans = otel.named("kci.receive")
    assert [_attrs(s)["fibrecafe.kci.outcome"] for s in spans] == [
        "handled",
        "duplicate",
        "stale_dropped",
        "handler_failed",
        "refused",
    ]
    assert all(s.kind is otel_trace.SpanKind.SERVER for s in spans)
    first = _attrs(spans[0])
    assert first["fibrecafe.kci.id"] == "a"
    assert first["fibrecafe.kci.entity_type"] == "SERVICE_TEST"
    assert first["fibrecafe.kci.entity_id"] == "7"
    assert first["fibrecafe.kci.sequence_number"] == 5
    assert first["fibrecafe.conversation_id"] == "conv-1"
    assert first["fibrecafe.request_id"] == "req-1"
    assert first["http.response.status_code"] == 204
    assert "fibrecafe.kci.handler_duration" in first
    # the tenant's code ran inside the delivery span
    assert inside[0] == spans[0].context.span_id
    assert inside[1] == spans[3].context.span_id
    assert spans[3].status.status_code is otel_trace.StatusCode.ERROR
    assert _attrs(spans[4])["http.response.status_code"] == 401
    # no secret in any span
    shown = repr([_attrs(s) for s in otel.finished()])
    assert TOKEN not in shown
    assert "Bearer" not in shown
    # metrics
    assert otel.count("fibrecafe.kci.deliveries") == 5
    assert otel.count("fibrecafe.kci.deliveries", **{"fibrecafe.kci.outcome": "refused"}) == 1
    assert otel.count("fibrecafe.kci.handler.duration") == 2  # handled and failed


def test_the_sync_path_is_traced_too(otel: Otel) -> None:
    receiver = KciReceiver(verifier=BearerTokenVerifier(TOKEN))
    seen: list[Any] = []
    receiver.on_any(lambda kci: seen.append(otel_trace.get_current_span().get_span_context()))
    assert receiver.handle("POST", AUTH, _kci("s", 1)).status == 204
    (span,) = otel.named("kci.receive")
    assert seen[0].span_id == span.context.span_id
