"""OpenTelemetry traces and metrics for the client, through ``opentelemetry-api`` only.

Nothing here imports OpenTelemetry until the first call is traced, and only if the API is
installed (``pip install 'fibrecafe-client[otel]'``); without it every hook is a no-op costing
one global read. The SDK never configures an exporter: spans and metrics go to whatever tracer
and meter providers the application set up (the global ones unless
:func:`configure_telemetry` names others).

Spans (see ``docs/observability.md``):

- one span per logical call (``service_tests.create``, ``service_tests.get``,
  ``service_tests.wait``, ``token.fetch``) with the conversation id, the service-test id, the
  outcome, ``outcome_unknown`` and the retry count;
- under it, one ``CLIENT`` span per HTTP attempt following the HTTP client semantic conventions
  (method, redacted URL, status, ``http.request.resend_count``, ``error.type``) and the request
  id. While an attempt span is current, HTTP auto-instrumentation is suppressed, so enabling
  the httpx instrumentation as well gives no duplicate spans; ``http_attempt_spans=False``
  leaves the attempt spans to that instrumentation instead.

No header, token, secret or body is ever put in an attribute: only the values listed above.
The hooks are called by the pipeline, the token flow and the resources; every decision is
shared by the sync and async clients (the hooks never await).
"""

from __future__ import annotations

import contextvars
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from ._version import __version__

if TYPE_CHECKING:
    import httpx

    from ._pipeline import Call

__all__ = [
    "INSTRUMENTATION_NAME",
    "METRICS",
    "configure_telemetry",
    "telemetry_enabled",
]

T = TypeVar("T")

#: The instrumentation scope of every span and metric.
INSTRUMENTATION_NAME: Final = "fibrecafe_client"

#: Every metric: name -> (instrument kind, unit, description). The table in the docs is this one.
METRICS: Final[Mapping[str, tuple[str, str, str]]] = {
    "fibrecafe.client.calls": (
        "counter",
        "{call}",
        "Logical calls, by fibrecafe.operation and fibrecafe.outcome.",
    ),
    "fibrecafe.client.call.duration": (
        "histogram",
        "s",
        "Duration of a logical call, retries and backoff included.",
    ),
    "fibrecafe.client.attempt.duration": (
        "histogram",
        "s",
        "Duration of one HTTP attempt, by method, url.template, status and error.type.",
    ),
    "fibrecafe.client.retries": (
        "counter",
        "{retry}",
        "Attempts that were retried, by fibrecafe.operation and fibrecafe.retry.reason.",
    ),
    "fibrecafe.client.token.fetches": (
        "counter",
        "{fetch}",
        "Access-token fetches (each may take several attempts), by fibrecafe.outcome.",
    ),
    "fibrecafe.client.token.failures": (
        "counter",
        "{fetch}",
        "Access-token fetches that failed, by error.type.",
    ),
}

_UNRESOLVED: Final = object()
#: Environment variables from which the OpenTelemetry API builds its global providers.
_PROVIDER_VARIABLES: Final = ("OTEL_PYTHON_TRACER_PROVIDER", "OTEL_PYTHON_METER_PROVIDER")


class _Run(Protocol):
    """What the hooks read of the pipeline's per-call state."""

    @property
    def call(self) -> Call: ...
    @property
    def attempts(self) -> int: ...
    @property
    def request_id(self) -> str | None: ...


@dataclass(slots=True)
class _Otel:
    """The resolved OpenTelemetry objects (only built when the API is importable)."""

    trace: Any  # the opentelemetry.trace module
    context: Any  # the opentelemetry.context module
    tracer: Any
    calls: Any
    call_duration: Any
    attempt_duration: Any
    retries: Any
    token_fetches: Any
    token_failures: Any
    attempt_spans: bool
    suppress_key: Any
    idle: Callable[[], bool]  # True while no SDK is set up: every hook is then skipped


@dataclass(slots=True)
class _Settings:
    enabled: bool = True
    tracer_provider: Any = None
    meter_provider: Any = None
    http_attempt_spans: bool = True
    state: Any = _UNRESOLVED  # the resolved _Otel, None (off or absent) or _UNRESOLVED


_settings = _Settings()


def configure_telemetry(
    *,
    enabled: bool = True,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    http_attempt_spans: bool = True,
) -> None:
    """Turn the SDK's OpenTelemetry spans and metrics on or off, or point them elsewhere.

    With ``opentelemetry-api`` installed (the ``otel`` extra) telemetry is on by default and
    uses the global tracer and meter providers; without it this function still works and
    everything stays a no-op. The SDK never configures an exporter.

    Args:
        enabled: False turns every span and metric of the SDK off.
        tracer_provider: an OpenTelemetry ``TracerProvider`` to use instead of the global one.
        meter_provider: a ``MeterProvider`` to use instead of the global one.
        http_attempt_spans: True (default): the SDK makes one ``CLIENT`` span per HTTP attempt
            and suppresses HTTP auto-instrumentation (such as
            ``opentelemetry-instrumentation-httpx``) inside it, so there are no duplicate
            spans. False: the SDK makes no attempt spans and leaves them to that
            instrumentation (the logical-call spans and every metric stay).
    """
    if not isinstance(enabled, bool) or not isinstance(http_attempt_spans, bool):
        raise TypeError("enabled and http_attempt_spans must be True or False")
    _settings.enabled = enabled
    _settings.tracer_provider = tracer_provider
    _settings.meter_provider = meter_provider
    _settings.http_attempt_spans = http_attempt_spans
    _settings.state = _UNRESOLVED


def telemetry_enabled() -> bool:
    """True when spans and metrics are being produced (the API is installed and not turned off)."""
    return _resolve() is not None


def _resolve() -> _Otel | None:
    state = _settings.state
    if state is _UNRESOLVED:
        state = _build() if _settings.enabled else None
        _settings.state = state
    return state  # type: ignore[no-any-return]


def _build() -> _Otel | None:
    try:
        if importlib.util.find_spec("opentelemetry.trace") is None:
            return None
    except (ImportError, ValueError):  # blocked (sys.modules entry None) or broken
        return None
    from opentelemetry import context, metrics, trace  # noqa: PLC0415 - optional, deferred

    tracer = trace.get_tracer(
        INSTRUMENTATION_NAME, __version__, tracer_provider=_settings.tracer_provider
    )
    meter = metrics.get_meter(
        INSTRUMENTATION_NAME, __version__, meter_provider=_settings.meter_provider
    )

    def counter(name: str) -> Any:
        _kind, unit, description = METRICS[name]
        return meter.create_counter(name, unit=unit, description=description)

    def histogram(name: str) -> Any:
        _kind, unit, description = METRICS[name]
        return meter.create_histogram(name, unit=unit, description=description)

    return _Otel(
        idle=_idle_check(trace, metrics),
        trace=trace,
        context=context,
        tracer=tracer,
        calls=counter("fibrecafe.client.calls"),
        call_duration=histogram("fibrecafe.client.call.duration"),
        attempt_duration=histogram("fibrecafe.client.attempt.duration"),
        retries=counter("fibrecafe.client.retries"),
        token_fetches=counter("fibrecafe.client.token.fetches"),
        token_failures=counter("fibrecafe.client.token.failures"),
        attempt_spans=_settings.http_attempt_spans,
        suppress_key=getattr(context, "_SUPPRESS_HTTP_INSTRUMENTATION_KEY", None),
    )


def _never_idle() -> bool:
    return False


def _idle_check(trace: Any, metrics: Any) -> Callable[[], bool]:
    """A check that holds while the global providers are the API's placeholders.

    With the API installed and no SDK set up (yet), spans and metrics would go nowhere, so the
    hooks skip all their work. The check is made per call, so an SDK set up later is picked up.
    Providers given to :func:`configure_telemetry` are never idle.
    """
    if _settings.tracer_provider is not None or _settings.meter_provider is not None:
        return _never_idle
    tracer_placeholder = trace.get_tracer_provider()
    meter_placeholder = metrics.get_meter_provider()
    if not isinstance(tracer_placeholder, trace.ProxyTracerProvider) or not type(
        meter_placeholder
    ).__name__.startswith("_Proxy"):
        return _never_idle
    if any(name in os.environ for name in _PROVIDER_VARIABLES):
        return _never_idle  # the API builds a provider from these on first use
    # The API keeps the providers set by set_tracer_provider/set_meter_provider in these module
    # globals; reading them costs ~50 ns, the public getters ~700 ns (an environment lookup).
    metrics_internal: Any = sys.modules.get("opentelemetry.metrics._internal")
    if not hasattr(trace, "_TRACER_PROVIDER") or not hasattr(metrics_internal, "_METER_PROVIDER"):
        get_tracer_provider = trace.get_tracer_provider
        get_meter_provider = metrics.get_meter_provider

        def public_idle() -> bool:
            return (
                get_tracer_provider() is tracer_placeholder
                and get_meter_provider() is meter_placeholder
            )

        return public_idle

    def idle() -> bool:
        return trace._TRACER_PROVIDER is None and metrics_internal._METER_PROVIDER is None

    return idle


# --- what a call is called, and redaction -------------------------------------------------------


def operation_of(method: str, path: str) -> tuple[str, str]:
    """``(operation, url.template)`` of a call: ``("service_tests.get", "/service-tests/{id}")``.

    Derived from the path (the first segment is the resource, a numeric segment its id), so a
    new resource is named without a change here.
    """
    segments = [s for s in path.split("/") if s]
    resource = segments[0].replace("-", "_") if segments else "root"
    template_parts = ["{id}" if s.isdigit() else s for s in segments]
    template = "/" + "/".join(template_parts)
    has_id = len(segments) >= 2 and segments[1].isdigit()
    if method == "POST" and len(segments) == 1:
        verb = "create"
    elif method == "GET":
        verb = "get" if has_id else "list"
    else:
        verb = method.lower()
    return f"{resource}.{verb}", template


def redacted_url(url: httpx.URL) -> str:
    """``scheme://host[:port]/path``: no user info, no query, no fragment."""
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}{url.raw_path.split(b'?', 1)[0].decode('ascii')}"


def _error_type(exc: BaseException) -> str:
    return type(exc).__name__


def _test_id(path: str) -> int | None:
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return int(last) if last.isdigit() else None


# --- one logical call -------------------------------------------------------------------------


@dataclass(slots=True)
class _Call:
    """The live state of one traced logical call (the current one is in ``_CURRENT``)."""

    otel: _Otel
    operation: str
    span: Any
    started: float
    token: Any = None  # the context token of the call span
    var_token: contextvars.Token[_Call | None] | None = None
    attempt: _Attempt | None = None
    attributes: dict[str, Any] = field(default_factory=dict[str, Any])


@dataclass(slots=True)
class _Attempt:
    span: Any
    token: Any
    started: float
    metric_attributes: dict[str, Any]


_CURRENT: contextvars.ContextVar[_Call | None] = contextvars.ContextVar(
    "fibrecafe_telemetry_call", default=None
)


class CallScope:
    """The ``with`` block of one logical call; :meth:`done` records its result."""

    __slots__ = ("_call", "_run", "_sent")

    def __init__(self, call: _Call | None, run: _Run | None, sent: list[float] | None) -> None:
        self._call = call
        self._run = run
        self._sent = sent

    def __enter__(self) -> CallScope:
        return self

    def done(self, result: T) -> T:
        """Record a successful result (its ``id`` as the service-test id) and return it."""
        call = self._call
        if call is not None:
            test_id = getattr(result, "id", None)
            if isinstance(test_id, int) and not isinstance(test_id, bool):
                call.span.set_attribute("fibrecafe.service_test.id", test_id)
        return result

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        call = self._call
        if call is None:
            return
        _end_call(call, exc, self._run, self._sent)


_NULL_SCOPE: Final = CallScope(None, None, None)


def _begin(otel: _Otel, operation: str, attributes: dict[str, Any]) -> _Call:
    span = otel.tracer.start_span(operation, attributes=attributes)
    call = _Call(otel, operation, span, time.perf_counter(), attributes=attributes)
    call.token = otel.context.attach(otel.trace.set_span_in_context(span))
    call.var_token = _CURRENT.set(call)
    return call


def call_scope(run: _Run) -> CallScope:
    """Open the span of the pipeline call ``run`` (a no-op without OpenTelemetry)."""
    otel = _resolve()
    if otel is None or otel.idle():
        return _NULL_SCOPE
    request = run.call
    operation, template = operation_of(request.method, request.path)
    attributes: dict[str, Any] = {
        "fibrecafe.operation": operation,
        "fibrecafe.conversation_id": request.conversation_id,
        "url.template": template,
    }
    test_id = _test_id(request.path)
    if test_id is not None:
        attributes["fibrecafe.service_test.id"] = test_id
    return CallScope(_begin(otel, operation, attributes), run, None)


def operation_scope(
    operation: str, *, conversation_id: str | None = None, test_id: int | None = None
) -> CallScope:
    """Open the span of a higher-level call (``service_tests.wait``) around its own calls."""
    otel = _resolve()
    if otel is None or otel.idle():
        return _NULL_SCOPE
    attributes: dict[str, Any] = {"fibrecafe.operation": operation}
    if conversation_id is not None:
        attributes["fibrecafe.conversation_id"] = conversation_id
    if test_id is not None:
        attributes["fibrecafe.service_test.id"] = test_id
    return CallScope(_begin(otel, operation, attributes), None, None)


def token_scope(sent: list[float], token_url: str) -> CallScope:
    """Open the span of one access-token fetch; ``sent`` grows by one per attempt."""
    otel = _resolve()
    if otel is None or otel.idle():
        return _NULL_SCOPE
    import httpx  # noqa: PLC0415 - already loaded by the client; only needed when tracing

    url = httpx.URL(token_url)
    attributes: dict[str, Any] = {
        "fibrecafe.operation": "token.fetch",
        "url.full": redacted_url(url),
        "server.address": url.host,
    }
    return CallScope(_begin(otel, "token.fetch", attributes), None, sent)


def _end_call(
    call: _Call, exc: BaseException | None, run: _Run | None, sent: list[float] | None
) -> None:
    otel = call.otel
    if call.attempt is not None:  # an attempt ended by an exception the pipeline does not map
        _close_attempt(call, call.attempt, None, exc)
    span = call.span
    outcome = "success" if exc is None else _error_type(exc)
    attempts = run.attempts if run is not None else len(sent) if sent is not None else None
    if attempts is not None:
        span.set_attribute("fibrecafe.attempts", attempts)
        span.set_attribute("fibrecafe.retry_count", max(attempts - 1, 0))
    if run is not None and run.request_id is not None:
        span.set_attribute("fibrecafe.request_id", run.request_id)
    span.set_attribute("fibrecafe.outcome", outcome)
    if exc is not None:
        unknown = getattr(exc, "outcome_unknown", None)
        span.set_attribute("fibrecafe.outcome_unknown", unknown is True)
        span.set_attribute("error.type", outcome)
        span.record_exception(exc)
        span.set_status(otel.trace.Status(otel.trace.StatusCode.ERROR, outcome))
    else:
        span.set_attribute("fibrecafe.outcome_unknown", False)
    metric = {"fibrecafe.operation": call.operation, "fibrecafe.outcome": outcome}
    otel.calls.add(1, metric)
    otel.call_duration.record(time.perf_counter() - call.started, metric)
    if call.operation == "token.fetch":
        otel.token_fetches.add(1, {"fibrecafe.outcome": outcome})
        if exc is not None:
            otel.token_failures.add(1, {"error.type": outcome})
    span.end()
    if call.var_token is not None:
        _CURRENT.reset(call.var_token)
    otel.context.detach(call.token)


# --- HTTP attempts (inside a pipeline call) -----------------------------------------------------


def start_attempt(request: httpx.Request, attempt: int) -> None:
    """An HTTP attempt of the current call begins (made current while it is sent)."""
    call = _CURRENT.get()
    if call is None:
        return
    otel = call.otel
    url = request.url
    method = request.method
    template = call.attributes.get("url.template", url.path)
    metric_attributes: dict[str, Any] = {
        "http.request.method": method,
        "url.template": template,
        "server.address": url.host,
    }
    span = None
    if otel.attempt_spans:
        attributes: dict[str, Any] = {
            **metric_attributes,
            "url.full": redacted_url(url),
            "fibrecafe.request_id": request.headers.get("X-Request-ID", ""),
            "fibrecafe.conversation_id": request.headers.get("X-Conversation-ID", ""),
        }
        if url.port is not None:
            attributes["server.port"] = url.port
        if attempt > 1:
            attributes["http.request.resend_count"] = attempt - 1
        span = otel.tracer.start_span(
            f"{method} {template}", kind=otel.trace.SpanKind.CLIENT, attributes=attributes
        )
        ctx = otel.trace.set_span_in_context(span)
    else:
        ctx = otel.context.get_current()
    if otel.attempt_spans and otel.suppress_key is not None:
        ctx = otel.context.set_value(otel.suppress_key, True, ctx)
    token = otel.context.attach(ctx)
    call.attempt = _Attempt(span, token, time.perf_counter(), metric_attributes)


def end_attempt(outcome: httpx.Response | BaseException) -> None:
    """The current attempt ended with a response or a transport error."""
    call = _CURRENT.get()
    if call is None or call.attempt is None:
        return
    if isinstance(outcome, BaseException):
        _close_attempt(call, call.attempt, None, outcome)
    else:
        _close_attempt(call, call.attempt, outcome, None)


def _close_attempt(
    call: _Call,
    attempt: _Attempt,
    response: httpx.Response | None,
    exc: BaseException | None,
) -> None:
    otel = call.otel
    call.attempt = None
    otel.context.detach(attempt.token)
    attributes = dict(attempt.metric_attributes)
    error_type: str | None = None
    if response is not None:
        attributes["http.response.status_code"] = response.status_code
        if response.status_code >= 400:
            error_type = str(response.status_code)
        request_id = response.request.headers.get("X-Request-ID")
        if attempt.span is not None and request_id:  # a 401 replay sent a new id
            attempt.span.set_attribute("fibrecafe.request_id", request_id)
    else:
        error_type = _error_type(exc) if exc is not None else "unknown"
    if error_type is not None:
        attributes["error.type"] = error_type
    otel.attempt_duration.record(time.perf_counter() - attempt.started, attributes)
    span = attempt.span
    if span is not None:
        if response is not None:
            span.set_attribute("http.response.status_code", response.status_code)
        if error_type is not None:
            span.set_attribute("error.type", error_type)
            span.set_status(otel.trace.Status(otel.trace.StatusCode.ERROR, error_type))
        span.end()


def retried(reason: str, operation: str | None = None) -> None:
    """An attempt of the current call failed with ``reason`` and will be retried."""
    call = _CURRENT.get()
    if call is None:
        return
    call.otel.retries.add(
        1,
        {
            "fibrecafe.operation": operation or call.operation,
            "fibrecafe.retry.reason": reason,
        },
    )
