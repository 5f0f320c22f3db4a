"""Spans and metrics of the client, read back through the OpenTelemetry SDK's in-memory
exporter and metric reader, against a real sandbox on 127.0.0.1."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from fibrecafe_client import (
    AsyncFibreCafe,
    FibreCafe,
    NotFoundError,
    TokenError,
    configure_telemetry,
    telemetry_enabled,
)
from fibrecafe_client.sandbox import Sandbox

from .conftest import CANARY, INSTANT, SERVICE, AsyncRecording, Otel, Recording

pytestmark = pytest.mark.network


def _client(sandbox: Sandbox, transport: httpx.BaseTransport | None = None) -> FibreCafe:
    http = httpx.Client(transport=transport or Recording(), trust_env=False)
    return FibreCafe(**sandbox.client_kwargs(), retry=INSTANT, http_client=http)


def _children(parent: ReadableSpan, spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def _attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_a_create_with_one_retry(otel: Otel, sandbox: Sandbox) -> None:
    sandbox.faults.fail_next(1, 429, retry_after=0)  # not processed: safe to resend
    conversation = str(uuid.uuid4())
    with _client(sandbox) as client:
        test = client.service_tests.create(**SERVICE, conversation_id=conversation)
    spans = otel.finished()
    (call,) = otel.named("service_tests.create")
    assert call.parent is None
    assert call.kind is SpanKind.INTERNAL
    attrs = _attrs(call)
    assert attrs["fibrecafe.conversation_id"] == conversation
    assert attrs["fibrecafe.service_test.id"] == test.id
    assert attrs["fibrecafe.outcome"] == "success"
    assert attrs["fibrecafe.outcome_unknown"] is False
    assert attrs["fibrecafe.retry_count"] == 1
    assert attrs["fibrecafe.attempts"] == 2
    assert attrs["fibrecafe.request_id"] == test.request_id
    attempts = _children(call, spans)
    assert [a.name for a in attempts] == ["POST /service-tests"] * 2
    first, second = (_attrs(a) for a in attempts)
    assert all(a.kind is SpanKind.CLIENT for a in attempts)
    assert first["http.request.method"] == "POST"
    assert first["url.full"] == f"{sandbox.base_url}/service-tests"
    assert first["server.address"] == "127.0.0.1"
    assert first["server.port"] == sandbox.port
    assert first["http.response.status_code"] == 429
    assert first["error.type"] == "429"
    assert "http.request.resend_count" not in first
    assert attempts[0].status.status_code is StatusCode.ERROR
    assert second["http.response.status_code"] == 201
    assert second["http.request.resend_count"] == 1
    assert "error.type" not in second
    assert second["fibrecafe.request_id"] == test.request_id
    assert first["fibrecafe.request_id"] != second["fibrecafe.request_id"]
    assert first["fibrecafe.conversation_id"] == conversation
    # The first attempt fetched the token: that span nests under it.
    (token,) = otel.named("token.fetch")
    assert token.parent is not None
    assert token.parent.span_id == attempts[0].context.span_id
    assert _attrs(token)["fibrecafe.outcome"] == "success"
    assert _attrs(token)["url.full"] == sandbox.token_url
    # Metrics.
    create = {"fibrecafe.operation": "service_tests.create"}
    assert otel.count("fibrecafe.client.calls", **create, **{"fibrecafe.outcome": "success"}) == 1
    assert otel.count("fibrecafe.client.call.duration", **create) == 1
    assert otel.count("fibrecafe.client.retries", **create) == 1
    reasons = {
        p.attributes["fibrecafe.retry.reason"] for p in otel.points("fibrecafe.client.retries")
    }
    assert reasons == {"status 429"}
    post = {"http.request.method": "POST", "url.template": "/service-tests"}
    assert otel.count("fibrecafe.client.attempt.duration", **post) == 2
    assert otel.count("fibrecafe.client.attempt.duration", **post, **{"error.type": "429"}) == 1
    assert otel.count("fibrecafe.client.token.fetches", **{"fibrecafe.outcome": "success"}) == 1
    assert otel.count("fibrecafe.client.token.failures") == 0


def test_a_get_that_fails_typed(otel: Otel, sandbox: Sandbox) -> None:
    with _client(sandbox) as client, pytest.raises(NotFoundError) as caught:
        client.service_tests.get(987654)
    (call,) = otel.named("service_tests.get")
    attrs = _attrs(call)
    assert attrs["fibrecafe.outcome"] == "NotFoundError"
    assert attrs["error.type"] == "NotFoundError"
    assert attrs["fibrecafe.outcome_unknown"] is False
    assert attrs["fibrecafe.service_test.id"] == 987654
    assert attrs["fibrecafe.retry_count"] == 0
    assert attrs["fibrecafe.request_id"] == caught.value.request_id
    assert call.status.status_code is StatusCode.ERROR
    assert [e.name for e in call.events] == ["exception"]
    (attempt,) = _children(call, otel.finished())
    assert attempt.name == "GET /service-tests/{id}"
    assert _attrs(attempt)["http.response.status_code"] == 404
    assert _attrs(attempt)["url.template"] == "/service-tests/{id}"
    outcome = {"fibrecafe.operation": "service_tests.get", "fibrecafe.outcome": "NotFoundError"}
    assert otel.count("fibrecafe.client.calls", **outcome) == 1


def test_a_token_refresh_after_a_401(otel: Otel, sandbox: Sandbox) -> None:
    with _client(sandbox) as client:
        test = client.service_tests.create(**SERVICE)
        sandbox.expire_tokens()
        client.service_tests.get(test.id)
    assert len(otel.named("token.fetch")) == 2
    (get,) = otel.named("service_tests.get")
    (attempt,) = _children(get, otel.finished())  # the 401 replay is inside one attempt
    assert _attrs(attempt)["http.response.status_code"] == 200
    (refresh,) = _children(attempt, otel.finished())
    assert refresh.name == "token.fetch"
    assert otel.count("fibrecafe.client.token.fetches", **{"fibrecafe.outcome": "success"}) == 2


def test_a_failing_token_endpoint(otel: Otel, sandbox: Sandbox) -> None:
    sandbox.faults.token_down = True
    with _client(sandbox) as client, pytest.raises(TokenError):
        client.service_tests.create(**SERVICE)
    (token,) = otel.named("token.fetch")
    assert _attrs(token)["fibrecafe.outcome"] == "TokenError"
    assert _attrs(token)["fibrecafe.attempts"] == 3  # two retries of a 503
    assert otel.count("fibrecafe.client.token.failures", **{"error.type": "TokenError"}) == 1
    assert otel.count("fibrecafe.client.retries", **{"fibrecafe.operation": "token.fetch"}) == 2
    (create,) = otel.named("service_tests.create")
    assert _attrs(create)["fibrecafe.outcome"] == "TokenError"


def test_wait_is_one_span_over_its_polls(otel: Otel, sandbox: Sandbox) -> None:
    with _client(sandbox) as client:
        test = client.service_tests.create(**SERVICE)
        final = client.service_tests.wait(test.id, timeout=10, poll_interval=0.01)
    (wait,) = otel.named("service_tests.wait")
    polls = _children(wait, otel.finished())
    assert polls
    assert {p.name for p in polls} == {"service_tests.get"}
    assert _attrs(wait)["fibrecafe.service_test.id"] == final.id
    assert _attrs(wait)["fibrecafe.outcome"] == "success"
    conversations = {_attrs(p)["fibrecafe.conversation_id"] for p in polls}
    assert conversations == {_attrs(wait)["fibrecafe.conversation_id"]}


async def test_async_create_with_one_retry_and_wait(otel: Otel, sandbox: Sandbox) -> None:
    sandbox.faults.fail_next(1, 429, retry_after=0)
    transport = AsyncRecording()
    async with AsyncFibreCafe(
        **sandbox.client_kwargs(),
        retry=INSTANT,
        http_client=httpx.AsyncClient(transport=transport, trust_env=False),
    ) as client:
        test = await client.service_tests.create(**SERVICE)
        sandbox.faults.fail_next(1, 503, retry_after=0)
        await client.service_tests.wait(test.id, timeout=10, poll_interval=0.01)
    spans = otel.finished()
    (create,) = otel.named("service_tests.create")
    assert _attrs(create)["fibrecafe.retry_count"] == 1
    assert _attrs(create)["fibrecafe.service_test.id"] == test.id
    assert [a.name for a in _children(create, spans)] == ["POST /service-tests"] * 2
    (wait,) = otel.named("service_tests.wait")
    first_poll = min(_children(wait, spans), key=lambda s: s.start_time or 0)
    assert _attrs(first_poll)["fibrecafe.retry_count"] == 1
    resent = [_attrs(a).get("http.request.resend_count") for a in _children(first_poll, spans)]
    assert resent == [None, 1]
    assert otel.count("fibrecafe.client.retries", **{"fibrecafe.retry.reason": "status 503"}) == 1
    assert otel.count("fibrecafe.client.retries", **{"fibrecafe.retry.reason": "status 429"}) == 1


def test_a_post_that_may_have_been_processed_is_outcome_unknown(
    otel: Otel, sandbox: Sandbox
) -> None:
    sandbox.faults.fail_next(1, 503)  # not resent by default: the test may exist
    with _client(sandbox) as client, pytest.raises(Exception, match="may have reached"):
        client.service_tests.create(**SERVICE)
    (create,) = otel.named("service_tests.create")
    assert _attrs(create)["fibrecafe.outcome"] == "ServiceUnavailableError"
    assert _attrs(create)["fibrecafe.outcome_unknown"] is True
    assert _attrs(create)["fibrecafe.retry_count"] == 0


def test_no_secret_in_any_span_or_metric(otel: Otel, sandbox: Sandbox) -> None:
    transport = Recording()
    with _client(sandbox, transport) as client:
        test = client.service_tests.create(**SERVICE)
        sandbox.expire_tokens()
        client.service_tests.wait(test.id, timeout=10, poll_interval=0.01)
        with pytest.raises(NotFoundError):
            client.service_tests.get(987654)
    secrets = {CANARY}
    for value in transport.authorizations:
        if value:
            secrets.add(value)
            secrets.add(value.partition(" ")[2])  # the bare token or Basic pair
    assert len(secrets) >= 4  # the canary, a Basic value and two bearer tokens at least
    dumped: list[str] = []
    for span in otel.finished():
        dumped.append(span.to_json())
    data = otel.metrics.get_metrics_data()
    assert data is not None
    dumped.append(data.to_json())
    text = "\n".join(dumped)
    assert json.loads(dumped[0])  # the dump is real
    leaked = [s for s in secrets if s and s in text]
    assert leaked == []
    assert "Authorization" not in text
    assert "authorization" not in text.lower()


def test_http_instrumentation_is_suppressed_inside_attempt_spans(
    otel: Otel, sandbox: Sandbox
) -> None:
    transport = Recording()
    with _client(sandbox, transport) as client:
        client.service_tests.create(**SERVICE)
    assert transport.suppressed == [True, True]  # the token request and the POST


def test_http_attempt_spans_off_leaves_them_to_the_instrumentation(
    otel: Otel, sandbox: Sandbox
) -> None:
    from fibrecafe_client import _telemetry

    settings = _telemetry._settings  # the fixture's providers, with the switch off
    configure_telemetry(
        tracer_provider=settings.tracer_provider,
        meter_provider=settings.meter_provider,
        http_attempt_spans=False,
    )
    transport = Recording()
    with _client(sandbox, transport) as client:
        client.service_tests.create(**SERVICE)
    assert transport.suppressed == [False, False]
    kinds = {s.kind for s in otel.finished()}
    assert SpanKind.CLIENT not in kinds
    assert {s.name for s in otel.finished()} == {"service_tests.create", "token.fetch"}
    assert otel.count("fibrecafe.client.attempt.duration") == 1  # metrics stay


def test_turned_off_nothing_is_recorded(otel: Otel, sandbox: Sandbox) -> None:
    configure_telemetry(enabled=False)
    assert telemetry_enabled() is False
    with _client(sandbox) as client:
        client.service_tests.create(**SERVICE)
    assert otel.finished() == []
    with pytest.raises(TypeError):
        configure_telemetry(enabled="no")  # type: ignore[arg-type]


def test_the_docs_list_every_metric_and_attribute(otel: Otel, sandbox: Sandbox) -> None:
    from pathlib import Path

    from fibrecafe_client._telemetry import METRICS

    page = (Path(__file__).parents[2] / "docs" / "observability.md").read_text(encoding="utf-8")
    assert [m for m in METRICS if f"`{m}`" not in page] == []
    sandbox.faults.fail_next(1, 429, retry_after=0)
    with _client(sandbox) as client:
        test = client.service_tests.create(**SERVICE)
        client.service_tests.wait(test.id, timeout=10, poll_interval=0.01)
    seen = {key for span in otel.finished() for key in _attrs(span)}
    assert [k for k in sorted(seen) if f"`{k}`" not in page] == []
    recorded = {p for m in METRICS for point in otel.points(m) for p in point.attributes}
    assert [k for k in sorted(recorded) if f"`{k}`" not in page] == []
