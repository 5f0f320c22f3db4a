"""``KciReceiver``: everything a correct KCI endpoint does, independent of any web framework.

For each delivery: check the method, the caller's credentials, the content type and the declared
length; parse the body; claim the KCI in the de-duplication store (a concurrent duplicate, on
any worker sharing the store, waits for the first delivery's outcome); optionally take the
entity's lock; record its sequence number atomically, learning whether it is stale; run the
matching handlers while the claims are renewed; then commit (204) or, if a handler raised,
release the claim and answer 500 so the gateway redelivers. A store that fails answers 503
(the gateway redelivers) and no handler runs without a claim.

The flow is written once, as a generator that yields what differs between the sync and async
worlds ("call the store", "run the handlers", "pause a moment"); :meth:`KciReceiver.handle`
and :meth:`KciReceiver.handle_async` only drive it.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias, TypeVar, cast, overload

from fibrecafe_client.errors import ServiceTestWaitTimeout
from fibrecafe_client.models import EntityType, ErrorCode, UpdateType
from fibrecafe_client.resources.service_tests import test_id_of

from . import _telemetry as kci_telemetry
from ._asgi import KciAsgiApp
from ._auth import KciVerifier, NoAuth
from ._http import (
    HeadersInput,
    KciResponse,
    error_response,
    internal_fault,
    is_json_content_type,
)
from ._http import normalise_headers as _normalise_headers
from ._models import GenericKci, Kci, KciDelivery, ServiceProblemKci, ServiceTestKci
from ._observe import LoopWaiter, Observers, ThreadWaiter
from ._parse import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, ParseFailure, try_parse_kci
from ._routing import HandlerRegistry, Route, RouteFilter
from ._store import (
    AsyncSequenceStore,
    InMemoryKciStore,
    InMemorySequenceStore,
    KciClaim,
    KciClaimResult,
    SequenceStore,
)
from ._store_access import (
    AnyKciStore,
    AnySequenceStore,
    Held,
    LeaseKeeper,
    StoreAccess,
    StoreCall,
    describe,
    renew_quietly_async,
)
from ._wsgi import KciWsgiApp

__all__ = ["KciEvent", "KciOutcome", "KciReceiver", "StalePolicy"]

_log = logging.getLogger("fibrecafe_client.kci")

#: What to do with a KCI older (lower ``sequenceNumber``) than one already handled for the same
#: entity: ``"deliver"`` it with ``kci.is_stale`` set, or ``"drop"`` it (acknowledged, unhandled).
StalePolicy: TypeAlias = Literal["deliver", "drop"]

_H = TypeVar("_H", bound=Callable[[Any], object])
_TestHandler = TypeVar("_TestHandler", bound=Callable[[ServiceTestKci], object])
_ProblemHandler = TypeVar("_ProblemHandler", bound=Callable[[ServiceProblemKci], object])
_GenericHandler = TypeVar("_GenericHandler", bound=Callable[[GenericKci], object])
_AnyHandler = TypeVar("_AnyHandler", bound=Callable[[Kci], object])
_T = TypeVar("_T")
_NO_CONTENT: Final = KciResponse(204)
_FIRST_PAUSE: Final = 0.005
_MAX_PAUSE: Final = 0.1


@dataclass(frozen=True, slots=True)
class _Handle:
    """Run ``routes`` for ``kci`` one after the other, renewing ``held`` meanwhile."""

    routes: tuple[Route, ...]
    kci: Kci
    held: tuple[Held, ...]


@dataclass(frozen=True, slots=True)
class _Pause:
    seconds: float


#: What became of one delivery (see :class:`KciEvent`).
KciOutcome: TypeAlias = Literal[
    "handled",
    "duplicate",
    "stale_dropped",
    "refused",
    "handler_failed",
    "in_flight",
    "store_unavailable",
]


@dataclass(frozen=True, slots=True)
class KciEvent:
    """One delivery's outcome, for :meth:`KciReceiver.on_event` listeners (counting, alerting,
    tracing): every delivery ends in exactly one event, refusals included.

    Attributes:
        outcome: ``handled`` (204, handlers ran; ``kci.is_stale`` tells a delivered stale KCI),
            ``duplicate`` (204, already handled), ``stale_dropped`` (204, ``stale="drop"``),
            ``refused`` (401/400/405/415/422: ``reason`` says why), ``handler_failed`` (500),
            ``in_flight`` (503: a twin delivery or the entity still busy), ``store_unavailable``
            (503: the store failed).
        status: the HTTP status answered.
        kci: the parsed KCI (None when refused before or while parsing).
        reason: a short, secret-free explanation (empty for ``handled``).
        request_id: the delivery's ``X-Request-ID``, if sent.
        conversation_id: its ``X-Conversation-ID``, if sent.
        error_uuid: the uuid of the error body answered, if any.
        handler_seconds: how long the handlers ran (None if none ran).
    """

    outcome: KciOutcome
    status: int
    kci: Kci | None = None
    reason: str = ""
    request_id: str | None = None
    conversation_id: str | None = None
    error_uuid: str | None = None
    handler_seconds: float | None = None


_Effect: TypeAlias = _Handle | _Pause | StoreCall[Any]
_Flow: TypeAlias = Generator[_Effect, object, KciResponse]
_RETRY_LATER: Final = KciResponse(503, (("retry-after", "1"),))


class KciReceiver:
    """A KCI webhook endpoint: authentication, parsing, de-duplication, ordering and dispatch.

    ``verifier`` is required: :class:`BasicAuthVerifier`, :class:`BearerTokenVerifier`,
    :class:`JwtVerifier`, or :class:`NoAuth` when something in front already authenticates the
    gateway. Register handlers with :meth:`on` / :meth:`on_any`; serve with :meth:`asgi_app`
    (FastAPI, Starlette, uvicorn) or :meth:`wsgi_app` (Flask, Django), or call :meth:`handle` /
    :meth:`handle_async` from any framework.

    Answers, as the Tenant Updates API expects: 204 (no body) when handled, and for a duplicate;
    400 ``MALFORMED_REQUEST`` (not JSON, too large, too deep, a mandatory field missing); 401
    ``NOT_AUTHORISED``; 422 ``INVALID_REQUEST`` (a field of the wrong type); 500 ``TENANT_FAULT``
    when a handler raised (the KCI is not marked handled, so the redelivery runs the handlers
    again); 503 when a concurrent delivery of the same KCI is still running after
    ``in_flight_timeout`` seconds, or when the store fails (no handler runs without a claim);
    405 / 415 for a wrong method / content type.

    Handlers run once per KCI across every process sharing the store, but delivery is at least
    once (a handler that raised or whose worker died after doing part of its work runs again):
    make them idempotent.

    Args:
        verifier: checks the gateway's credentials on every delivery (required).
        store: the de-duplication store: an :class:`InMemoryKciStore` (this process only) when
            None; a Redis URL (``"redis://host:6379/0"``, ``"rediss://..."``; the ``redis``
            extra) for a :class:`RedisKciStore` shared by every worker and replica; or any
            :class:`KciStore` / :class:`AsyncKciStore`.
        sequences: the highest ``sequenceNumber`` seen per entity: the store itself when it is
            also a sequence store (Redis is), else an :class:`InMemorySequenceStore`.
        stale: ``"deliver"`` a KCI older than one already handled with ``kci.is_stale`` set, or
            ``"drop"`` it (acknowledged, not handled).
        max_body_bytes: larger bodies are refused with 400 before they are read in full.
        max_depth: more deeply nested JSON is refused with 400.
        in_flight_timeout: seconds a duplicate waits for a concurrent delivery of the same KCI
            before answering 503.
        claim_lease: seconds a claim lives unless renewed. Claims are renewed every third of
            it while handlers run, so only a dead worker's claim lapses, and the gateway's
            redelivery is then handled after at most this long.
        exclusive_per_entity: handlers for one entity (entity type and id) never run at the
            same time on any process sharing the store, while different entities run in
            parallel. A delivery waits up to ``in_flight_timeout`` for the entity, then gets
            503 (the gateway redelivers).
        body_timeout: seconds the ASGI app waits for the whole body once the headers passed;
            a body still dripping then is answered 408, so slow senders cannot hold
            connections open for as long as they like. (WSGI servers bound reads themselves,
            e.g. gunicorn's ``--timeout``.)
        sync_handlers_in_thread: in :meth:`handle_async` and the ASGI app, run sync handlers in
            a worker thread so that they cannot block the event loop.

    Raises:
        TypeError: ``verifier`` has no ``verify(headers)`` method.
        ValueError: a limit or timeout is out of range, or ``stale`` is neither value.

    Examples:
        >>> from fibrecafe_client import BasicAuthVerifier, KciReceiver
        >>> receiver = KciReceiver(verifier=BasicAuthVerifier("gateway", "s3cret-password"))
        >>> @receiver.on("SERVICE_TEST", status="COMPLETED")
        ... def completed(kci):
        ...     print(kci.entity.id, kci.entity.test_result)
        >>> receiver.handle("POST", {}, b"{}").status  # no credentials
        401
    """

    def __init__(
        self,
        *,
        verifier: KciVerifier,
        store: AnyKciStore | str | None = None,
        sequences: AnySequenceStore | None = None,
        stale: StalePolicy = "deliver",
        max_body_bytes: int = DEFAULT_MAX_BYTES,
        max_depth: int = DEFAULT_MAX_DEPTH,
        in_flight_timeout: float = 10.0,
        claim_lease: float = 30.0,
        exclusive_per_entity: bool = False,
        body_timeout: float = 10.0,
        sync_handlers_in_thread: bool = True,
    ) -> None:
        if not isinstance(verifier, KciVerifier):
            raise TypeError("verifier must have a verify(headers) method (see KciVerifier)")
        if stale not in ("deliver", "drop"):
            raise ValueError("stale must be 'deliver' or 'drop'")
        if max_body_bytes < 1 or max_depth < 1:
            raise ValueError("max_body_bytes and max_depth must be positive")
        if in_flight_timeout < 0 or claim_lease <= 0 or body_timeout <= 0:
            raise ValueError("in_flight_timeout must be >= 0, and claim_lease and body_timeout > 0")
        #: Seconds the ASGI app waits for a whole body before answering 408.
        self.body_timeout = body_timeout
        self._verifier = verifier
        self._store = _resolve_store(store)
        self._sequences = _resolve_sequences(sequences, self._store)
        self._access = StoreAccess(self._store, self._sequences)
        self._lease_keeper = LeaseKeeper(self._access, claim_lease)
        self._exclusive = exclusive_per_entity
        self._outage = _Outage()
        self._background: set[Any] = set()  # release tasks of cancelled deliveries
        # One lease-renewing task per event loop serving this receiver (see _AsyncLeaseKeeper).
        self._async_keepers: weakref.WeakKeyDictionary[Any, _AsyncLeaseKeeper] = (
            weakref.WeakKeyDictionary()
        )
        self._stale = stale
        self.max_body_bytes = max_body_bytes
        self._max_depth = max_depth
        self._in_flight_timeout = in_flight_timeout
        self._claim_lease = claim_lease
        self._sync_in_thread = sync_handlers_in_thread
        self._handlers = HandlerRegistry()
        self._observers = Observers()
        self._event_listeners: tuple[Callable[[KciEvent], object], ...] = ()
        if isinstance(verifier, NoAuth):
            _log.warning("KCI receiver built with NoAuth: deliveries are not authenticated")

    def __repr__(self) -> str:
        return (
            f"KciReceiver(verifier={self._verifier!r}, store={self._store!r}, "
            f"stale={self._stale!r})"
        )

    @property
    def store(self) -> AnyKciStore:
        """The de-duplication store (a :class:`RedisKciStore` when built from a URL)."""
        return self._store

    # -- handlers -------------------------------------------------------------------------

    # The first two overlap the catch-all str overload on purpose: a literal entity type picks
    # its KCI class, any other string the generic one.
    @overload
    def on(  # type: ignore[overload-overlap]
        self,
        entity_type: Literal["SERVICE_TEST", EntityType.SERVICE_TEST],
        *,
        status: str | Iterable[str] | None = None,
        update_type: UpdateType | str | Iterable[str] | None = None,
        action: str | Iterable[str] | None = None,
    ) -> Callable[[_TestHandler], _TestHandler]: ...

    @overload
    def on(  # type: ignore[overload-overlap]
        self,
        entity_type: Literal["SERVICE_PROBLEM", EntityType.SERVICE_PROBLEM],
        *,
        status: str | Iterable[str] | None = None,
        update_type: UpdateType | str | Iterable[str] | None = None,
        action: str | Iterable[str] | None = None,
    ) -> Callable[[_ProblemHandler], _ProblemHandler]: ...

    @overload
    def on(
        self,
        entity_type: None = None,
        *,
        status: str | Iterable[str] | None = None,
        update_type: UpdateType | str | Iterable[str] | None = None,
        action: str | Iterable[str] | None = None,
    ) -> Callable[[_AnyHandler], _AnyHandler]: ...

    @overload
    def on(
        self,
        entity_type: EntityType | str,
        *,
        status: str | Iterable[str] | None = None,
        update_type: UpdateType | str | Iterable[str] | None = None,
        action: str | Iterable[str] | None = None,
    ) -> Callable[[_GenericHandler], _GenericHandler]: ...

    def on(
        self,
        entity_type: EntityType | str | None = None,
        *,
        status: str | Iterable[str] | None = None,
        update_type: UpdateType | str | Iterable[str] | None = None,
        action: str | Iterable[str] | None = None,
    ) -> Callable[[_H], _H]:
        """Decorator: run the function for KCIs of ``entity_type`` (any when None) whose
        entity status is in ``status``, update type in ``update_type`` and ``action.type`` in
        ``action`` (each a value or a collection; None matches all; a KCI without an action
        never matches an ``action`` filter), e.g. ``on("SERVICE_PROBLEM", action="CONFIRM")``.

        The function takes the KCI (a :class:`ServiceTestKci` for ``SERVICE_TEST``, a
        :class:`ServiceProblemKci` for ``SERVICE_PROBLEM``, else a :class:`GenericKci`) and may
        be ``async``. Every matching handler runs, in registration order. Type checkers see
        that too: ``on("SERVICE_TEST")`` takes a handler of :class:`ServiceTestKci`,
        ``on("SERVICE_PROBLEM")`` one of :class:`ServiceProblemKci`, another entity type one of
        :class:`GenericKci` (a handler typed for ``ServiceTestKci`` there is a type error, not
        a 500 and endless redeliveries), and no entity type one of :data:`Kci`.
        """

        wants = RouteFilter.build(entity_type, status, update_type, action)

        def register(handler: _H) -> _H:
            self._handlers.add(handler, wants)
            return handler

        return register

    def on_any(self, handler: _H) -> _H:
        """Decorator: run the function for every KCI."""
        self._handlers.add(handler)
        return handler

    def remove(self, handler: Callable[[Any], object]) -> bool:
        """Unregister ``handler`` (every registration of it, by ``on`` or ``on_any``), e.g. in
        a test's teardown for a module-level receiver. True if it was registered. Deliveries
        already running keep the handlers they matched."""
        return self._handlers.remove(handler) > 0

    # -- observing ------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[Kci], object]) -> Callable[[], None]:
        """Call ``listener(kci)`` after each KCI is handled and acknowledged (not for
        duplicates or dropped stale KCIs). It runs in the server's thread or event loop, so it
        must be quick; exceptions are logged. Returns a function that unsubscribes.
        """
        return self._observers.subscribe(listener)

    def on_event(self, listener: Callable[[KciEvent], object]) -> Callable[[], None]:
        """Call ``listener(event)`` once per delivery with its :class:`KciEvent`: handled,
        duplicate, stale, refused, handler failure, busy or store failure, so that a tenant can
        count or alert on every outcome (``subscribe`` sees only handled KCIs). It runs in the
        server's thread or event loop, after the answer is decided, so it must be quick;
        exceptions are logged. Returns a function that removes it.
        """
        self._event_listeners = (*self._event_listeners, listener)

        def remove() -> None:
            self._event_listeners = tuple(x for x in self._event_listeners if x is not listener)

        return remove

    def _emit(
        self,
        outcome: KciOutcome,
        response: KciResponse,
        headers: Mapping[str, str],
        kci: Kci | None = None,
        *,
        reason: str = "",
        handler_seconds: float | None = None,
    ) -> KciResponse:
        """Tell the event listeners and telemetry (if any) and hand ``response`` back."""
        tracing = kci_telemetry.active() is not None
        if self._event_listeners or tracing:
            event = KciEvent(
                outcome,
                response.status,
                kci,
                reason,
                headers.get("x-request-id"),
                headers.get("x-conversation-id"),
                response.error_uuid,
                handler_seconds,
            )
            if tracing:
                try:
                    kci_telemetry.record(event)
                except Exception:  # telemetry never changes an answer
                    _log.debug("KCI telemetry failed", exc_info=True)
            for listener in self._event_listeners:
                try:
                    listener(event)
                except Exception:
                    _log.exception("KCI event listener %r failed", listener)
        return response

    async def wait_for(
        self,
        test_id: int | str,
        *,
        terminal: bool = True,
        timeout: float = 600.0,  # noqa: ASYNC109 - mirrors wait_for_sync and service_tests.wait
    ) -> ServiceTestKci:
        """Wait (asyncio) for a service test's terminal KCI, or with ``terminal=False`` its
        next KCI.

        A terminal KCI that arrived before the call is returned at once (the receiver keeps
        the last ones in memory); ``terminal=False`` waits for a KCI accepted after the call.
        Raises :class:`~fibrecafe_client.ServiceTestWaitTimeout` after ``timeout`` seconds,
        with the last KCI seen for the test as ``last``.
        """
        import asyncio  # noqa: PLC0415 - asyncio costs ~13 ms to import; async paths only

        waiter = LoopWaiter(test_id_of(test_id), terminal=terminal, loop=asyncio.get_running_loop())
        ready = self._observers.add_waiter(waiter)
        if ready is not None:
            return ready
        try:
            return await asyncio.wait_for(waiter.future, timeout)
        except TimeoutError:
            raise self._timeout(waiter.test_id, timeout) from None
        finally:
            self._observers.remove_waiter(waiter)

    def wait_for_sync(
        self, test_id: int | str, *, terminal: bool = True, timeout: float = 600.0
    ) -> ServiceTestKci:
        """Blocking :meth:`wait_for`, safe from any thread but the one serving the receiver."""
        waiter = ThreadWaiter(test_id_of(test_id), terminal=terminal)
        ready = self._observers.add_waiter(waiter)
        if ready is not None:
            return ready
        try:
            if not waiter.event.wait(timeout) or waiter.result is None:
                raise self._timeout(waiter.test_id, timeout)
            return waiter.result
        finally:
            self._observers.remove_waiter(waiter)

    def _timeout(self, test_id: int, timeout: float) -> ServiceTestWaitTimeout:
        return ServiceTestWaitTimeout(
            f"no matching KCI for service test {test_id} within {timeout:g}s",
            test_id=test_id,
            last=self._observers.latest(test_id),
        )

    # -- HTTP -----------------------------------------------------------------------------

    def asgi_app(self) -> KciAsgiApp:
        """This receiver as a bare ASGI app (a ``/kcis`` route in FastAPI/Starlette)."""
        return KciAsgiApp(self)

    def wsgi_app(self) -> KciWsgiApp:
        """This receiver as a WSGI app (mount it at ``/kcis`` in Flask/Django).

        Raises:
            TypeError: the store has only the async protocol.
        """
        if not self._access.serves_sync:
            raise TypeError("a WSGI app needs a store with the sync KciStore protocol")
        return KciWsgiApp(self)

    def check_request(self, method: str, headers: Mapping[str, str]) -> KciResponse | None:
        """The checks that need no body: method, credentials, content type, declared length.

        ``headers`` must have lower-case names (see :func:`normalise_headers`). Returns the
        refusal to send, or None to go on and read the body. Adapters call this first so that
        nobody unauthenticated gets a body read.
        """
        if method.upper() != "POST":
            refusal = error_response(
                405,
                ErrorCode.MALFORMED_REQUEST,
                [f"method {method} is not allowed; KCIs are delivered with POST"],
                extra_headers=(("allow", "POST"),),
            )
            return self._emit("refused", refusal, headers, reason=f"method {method[:16]}")
        reason = self._verifier.verify(headers)
        if reason is not None:
            response = error_response(401, ErrorCode.NOT_AUTHORISED, ["not authorised"])
            _log.warning(
                "KCI delivery refused (401): %s (request id %s, error uuid %s)",
                reason,
                headers.get("x-request-id"),
                response.error_uuid,
            )
            return self._emit("refused", response, headers, reason="not authorised")
        if not is_json_content_type(headers.get("content-type")):
            refusal = error_response(
                415, ErrorCode.MALFORMED_REQUEST, ["the body must be application/json"]
            )
            return self._emit("refused", refusal, headers, reason="not JSON")
        declared = headers.get("content-length")
        if declared is not None:
            if not _is_ascii_digits(declared.strip()):  # "\xb2".isdigit() is True
                refusal = error_response(
                    400, ErrorCode.MALFORMED_REQUEST, ["invalid Content-Length"]
                )
                return self._emit("refused", refusal, headers, reason="invalid Content-Length")
            if int(declared) > self.max_body_bytes:
                return self.too_large(headers)
        return None

    def refuse(self, status: int, reason: str, headers: Mapping[str, str]) -> KciResponse:
        """A refusal decided by an adapter (a body that did not arrive in time, a broken
        chunked encoding): the documented error body, a log line and a ``refused`` event."""
        response = error_response(status, ErrorCode.MALFORMED_REQUEST, [reason])
        _log.warning(
            "KCI delivery refused (%s): %s (request id %s, error uuid %s)",
            status,
            reason,
            headers.get("x-request-id"),
            response.error_uuid,
        )
        return self._emit("refused", response, headers, reason=reason)

    def too_large(self, headers: Mapping[str, str] | None = None) -> KciResponse:
        """The answer to a body over ``max_body_bytes``: 400 ``MALFORMED_REQUEST`` (an event
        ``refused`` for the listeners; ``headers`` give its request and conversation ids).

        The Tenant Updates API documents 400 for a malformed request and lists no 413, and a
        body the tenant will never accept is malformed from the gateway's point of view.
        """
        refusal = error_response(
            400,
            ErrorCode.MALFORMED_REQUEST,
            [f"the body is over the {self.max_body_bytes}-byte limit"],
        )
        return self._emit("refused", refusal, headers or {}, reason="body too large")

    def handle(self, method: str, headers: HeadersInput, body: bytes) -> KciResponse:
        """Handle one delivery (sync). Never raises an exception: any failure is an answer.

        ``async`` handlers are run to completion on a private event loop; prefer
        :meth:`handle_async` when serving from an event loop.
        """
        try:
            normalised = _normalise_headers(headers)
            refusal = self.check_request(method, normalised)
            return refusal if refusal is not None else self.respond(normalised, body)
        except Exception:
            return internal_fault()

    async def handle_async(self, method: str, headers: HeadersInput, body: bytes) -> KciResponse:
        """Handle one delivery (async). Never raises an exception: any failure is an answer.

        Sync handlers run in a worker thread (unless ``sync_handlers_in_thread=False``) so they
        cannot block the event loop.
        """
        try:
            normalised = _normalise_headers(headers)
            refusal = self.check_request(method, normalised)
            return refusal if refusal is not None else await self.respond_async(normalised, body)
        except Exception:
            return internal_fault()

    def respond(self, headers: Mapping[str, str], body: bytes) -> KciResponse:
        """Process a body that passed :meth:`check_request` (sync driver of the flow)."""
        if kci_telemetry.active() is None:
            return self._respond(headers, body)
        with kci_telemetry.delivery_span():  # the handlers run inside the delivery's span
            return self._respond(headers, body)

    def _respond(self, headers: Mapping[str, str], body: bytes) -> KciResponse:
        try:
            flow = self._flow(headers, body)
            effect = next(flow)
            while True:
                try:
                    outcome = self._perform(effect)
                except BaseException as exc:  # handed to the flow, which releases its claim
                    effect = flow.throw(exc)
                else:
                    effect = flow.send(outcome)
        except StopIteration as stop:
            response: KciResponse = stop.value
            return response
        except Exception:
            return internal_fault()

    async def respond_async(self, headers: Mapping[str, str], body: bytes) -> KciResponse:
        """Process a body that passed :meth:`check_request` (async driver of the flow)."""
        if kci_telemetry.active() is None:
            return await self._respond_async(headers, body)
        with kci_telemetry.delivery_span():  # the handlers run inside the delivery's span
            return await self._respond_async(headers, body)

    async def _respond_async(self, headers: Mapping[str, str], body: bytes) -> KciResponse:
        import asyncio  # noqa: PLC0415 - asyncio costs ~13 ms to import; async paths only

        try:
            flow = self._flow(headers, body)
            effect = next(flow)
            while True:
                try:
                    if isinstance(effect, StoreCall):
                        outcome: object = (
                            effect.run() if effect.inline else await effect.run_async()
                        )
                    elif isinstance(effect, _Pause):
                        await asyncio.sleep(effect.seconds)
                        outcome = None
                    else:
                        await self._handle_async(effect)
                        outcome = None
                except BaseException as exc:  # handed to the flow, which releases its claim
                    effect = flow.throw(exc)
                else:
                    effect = flow.send(outcome)
        except StopIteration as stop:
            response: KciResponse = stop.value
            return response
        except Exception:
            return internal_fault()

    def _perform(self, effect: _Effect) -> object:
        """Carry out one effect of the flow, sync."""
        if isinstance(effect, StoreCall):
            return effect.run()
        if isinstance(effect, _Pause):
            time.sleep(effect.seconds)
            return None
        handle = self._lease_keeper.hold(effect.held)
        try:
            for route in effect.routes:
                _run_sync(route, effect.kci)
        except BaseException as exc:
            if not isinstance(exc, Exception):  # interrupted: release before unwinding
                for claim in effect.held:
                    with contextlib.suppress(Exception):
                        self._access.release(claim).run()
            raise
        finally:
            self._lease_keeper.drop(handle)
        return None

    async def _handle_async(self, effect: _Handle) -> None:
        """Run the handlers on the loop (sync ones in a thread), renewing the claims."""
        import asyncio  # noqa: PLC0415 - async paths only

        keeper = self._async_keepers.get(asyncio.get_running_loop())
        if keeper is None:
            keeper = self._async_keepers[asyncio.get_running_loop()] = _AsyncLeaseKeeper(self)
        handle = keeper.hold(effect.held)
        try:
            for route in effect.routes:
                await self._run_async(route, effect.kci)
        except BaseException as exc:
            if not isinstance(exc, Exception):  # cancelled: the flow can do no more I/O
                task = asyncio.get_running_loop().create_task(self._release_async(effect.held))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            raise
        finally:
            keeper.drop(handle)

    @property
    def renew_interval(self) -> float:
        """Seconds between renewals of a running delivery's claims (a third of the lease)."""
        return self._lease_keeper.interval

    async def renew_async(self, claim: Held) -> None:
        """Renew one claim of a running delivery (failures are logged, never raised)."""
        await renew_quietly_async(self._access.renew(claim, self._claim_lease).run_async, claim)

    async def _release_async(self, held: tuple[Held, ...]) -> None:
        """Release the claims of a cancelled delivery, so a redelivery need not wait."""
        for claim in held:
            try:
                await self._access.release(claim).run_async()
            except Exception as exc:
                _log.debug("could not release %s after cancellation (%s)", claim.key, describe(exc))

    async def _run_async(self, route: Route, kci: Kci) -> None:
        handler = route.handler
        if route.is_async:
            result = handler(kci)
        elif self._sync_in_thread:
            import anyio.to_thread  # noqa: PLC0415 - anyio costs ~14 ms to import; async only

            result = await anyio.to_thread.run_sync(handler, kci)
        else:
            result = handler(kci)
        if inspect.isawaitable(result):
            await result

    # -- the flow -------------------------------------------------------------------------

    def _flow(self, headers: Mapping[str, str], body: bytes) -> _Flow:
        request_id = headers.get("x-request-id")
        parsed = try_parse_kci(body, max_bytes=self.max_body_bytes, max_depth=self._max_depth)
        if isinstance(parsed, ParseFailure):
            refusal = _refuse_body(parsed, request_id)
            return self._emit("refused", refusal, headers, reason=f"invalid KCI ({refusal.status})")
        kci = parsed
        key = _dedup_key(kci)
        try:
            claim = yield from self._claim(key)
        except Exception as exc:
            failed = self._store_failed(kci, "claim", exc)
            return self._emit("store_unavailable", failed, headers, kci, reason="claim")
        self._outage.up()
        if not claim.claimed:
            if claim.state is KciClaim.DONE:
                _log.info("KCI %s is a duplicate: acknowledged again", kci.id)
                return self._emit("duplicate", _NO_CONTENT, headers, kci, reason="already handled")
            _log.warning("KCI %s still in flight after %ss: 503", kci.id, self._in_flight_timeout)
            return self._emit("in_flight", _RETRY_LATER, headers, kci, reason="a twin runs")
        held = [Held(key, claim.token)]
        try:
            if self._exclusive and kci.entity_id is not None:
                lock_key = f"entity|{kci.entity_type}|{kci.entity_id}"
                lock = yield from self._claim(lock_key)
                if not lock.claimed:
                    yield from self._release(held, kci)
                    _log.warning(
                        "KCI %s: entity %s still busy after %ss: 503",
                        kci.id,
                        lock_key[7:],
                        self._in_flight_timeout,
                    )
                    return self._emit("in_flight", _RETRY_LATER, headers, kci, reason="entity busy")
                held.append(Held(lock_key, lock.token))
            sequence_key = _sequence_key(kci)
            previous = None
            if sequence_key is not None:
                previous = yield from _do(self._access.advance(sequence_key, kci.sequence_number))
        except Exception as exc:
            yield from self._release(held, kci)
            failed = self._store_failed(kci, "sequence", exc)
            return self._emit("store_unavailable", failed, headers, kci, reason="sequence")
        return (yield from self._dispatch(kci, held, previous, headers))

    def _dispatch(
        self, kci: Kci, held: list[Held], previous: int | None, headers: Mapping[str, str]
    ) -> _Flow:
        """The claimed KCI: flag or drop it if stale, run its handlers, commit or release."""
        request_id = headers.get("x-request-id")
        stale = previous is not None and kci.sequence_number < previous
        delivery = KciDelivery(request_id, headers.get("x-conversation-id"), stale)
        kci._set_delivery(delivery)  # pyright: ignore[reportPrivateUsage] - the receiver's
        if stale and self._stale == "drop":
            _log.info(
                "KCI %s is stale (sequence %s < %s): dropped",
                kci.id,
                kci.sequence_number,
                previous,
            )
            yield from self._finish(held, kci)
            return self._emit("stale_dropped", _NO_CONTENT, headers, kci, reason="stale")
        routes = self._handlers.matching(kci)
        if not routes:
            _log.debug("KCI %s matched no handler: acknowledged", kci.id)
        started = time.perf_counter()
        try:
            if routes:
                yield _Handle(tuple(routes), kci, tuple(held))
        except Exception as exc:
            yield from self._release(held, kci)
            response = error_response(
                500, ErrorCode.TENANT_FAULT, ["the tenant failed to process the KCI"]
            )
            _log.error(
                "KCI %s: handling failed (%s); answered 500 so it is redelivered (error uuid %s)",
                kci.id,
                type(exc).__name__,
                response.error_uuid,
                exc_info=exc,
            )
            took = time.perf_counter() - started
            return self._emit(
                "handler_failed",
                response,
                headers,
                kci,
                reason=type(exc).__name__,
                handler_seconds=took,
            )
        # A BaseException (cancellation, exit) is not caught: the flow cannot do I/O any more,
        # and the claims lapse after their lease, so a redelivery is handled.
        yield from self._finish(held, kci)
        _log.debug("KCI %s handled (%s %s)", kci.id, kci.entity_type, kci.entity_status)
        self._observers.publish(kci)
        ran = (time.perf_counter() - started) if routes else None
        return self._emit("handled", _NO_CONTENT, headers, kci, handler_seconds=ran)

    def _claim(self, key: str) -> Generator[_Effect, object, KciClaimResult]:
        """Claim ``key``; while another delivery holds it, pause and retry (bounded)."""
        claim = yield from _do(self._access.claim(key, self._claim_lease))
        deadline = time.monotonic() + self._in_flight_timeout
        pause = _FIRST_PAUSE
        while claim.state is KciClaim.IN_FLIGHT:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            yield _Pause(min(pause, remaining))
            pause = min(pause * 2, _MAX_PAUSE)
            claim = yield from _do(self._access.claim(key, self._claim_lease))
        return claim

    def _finish(self, held: list[Held], kci: Kci) -> Generator[_Effect, object, None]:
        """Commit the KCI's claim and release the entity lock; the KCI is handled either way.

        A failed commit is logged, not answered with an error: the handlers did their work,
        and a 503 would make the gateway redeliver and run them again.
        """
        first, locks = held[0], held[1:]
        try:
            committed = yield from _do(self._access.commit(first))
        except Exception as exc:
            _log.error(
                "KCI %s handled, but the store could not record it (%s); a redelivery would "
                "run its handlers again",
                kci.id,
                describe(exc),
            )
        else:
            if not committed:
                _log.warning(
                    "KCI %s handled, but its claim had lapsed and was taken by another delivery",
                    kci.id,
                )
        yield from self._release(locks, kci)

    def _release(self, held: list[Held], kci: Kci) -> Generator[_Effect, object, None]:
        """Release claims, best effort: one that cannot be released lapses with its lease."""
        for claim in held:
            try:
                yield from _do(self._access.release(claim))
            except Exception as exc:
                _log.warning(
                    "KCI %s: could not release %s (%s); it lapses after %ss",
                    kci.id,
                    claim.key,
                    describe(exc),
                    self._claim_lease,
                )

    def _store_failed(self, kci: Kci, step: str, exc: BaseException) -> KciResponse:
        """503 (the gateway redelivers); one warning per outage, then debug lines."""
        if self._outage.down():
            _log.warning(
                "KCI store unavailable at %s (%s): answering 503 so the gateway redelivers; "
                "no handler runs until it is back",
                step,
                describe(exc),
            )
        else:
            _log.debug("KCI %s: store still unavailable (%s): 503", kci.id, describe(exc))
        return _RETRY_LATER


class _AsyncLeaseKeeper:
    """Renews, every third of the lease, the claims held by the deliveries running on one
    event loop: one task per loop, started on first use, instead of a task per delivery."""

    def __init__(self, receiver: KciReceiver) -> None:
        self._receiver = receiver
        self._held: dict[int, tuple[Held, ...]] = {}
        self._next = 0
        self._task: Any = None

    def hold(self, held: tuple[Held, ...]) -> int:
        """Renew ``held`` until :meth:`drop`; starts the loop's renewing task if needed."""
        import asyncio  # noqa: PLC0415 - async paths only

        self._next += 1
        self._held[self._next] = held
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self._next

    def drop(self, handle: int) -> None:
        """Stop renewing the claims of ``handle``."""
        self._held.pop(handle, None)

    async def _run(self) -> None:
        import asyncio  # noqa: PLC0415 - async paths only

        while self._held:
            await asyncio.sleep(self._receiver.renew_interval)
            for handle, held in list(self._held.items()):
                for claim in held:
                    if handle in self._held:  # not finished meanwhile
                        await self._receiver.renew_async(claim)


class _Outage:
    """Whether the store is failing, so that an outage logs one warning and its end one line."""

    def __init__(self) -> None:
        self._failures = 0
        self._lock = threading.Lock()

    def down(self) -> bool:
        """Count a failure; True for the first of an outage."""
        with self._lock:
            self._failures += 1
            return self._failures == 1

    def up(self) -> None:
        """The store answered: log the end of an outage (no lock on the usual path)."""
        if not self._failures:
            return
        with self._lock:
            failures, self._failures = self._failures, 0
        if failures:
            _log.warning("KCI store available again (%d deliveries answered 503)", failures)


def _do(call: StoreCall[_T]) -> Generator[_Effect, object, _T]:
    """Yield a store call to the driver and hand back its typed result."""
    return cast(_T, (yield call))


def _resolve_store(store: AnyKciStore | str | None) -> AnyKciStore:
    if store is None:
        return InMemoryKciStore()
    if isinstance(store, str):
        from ._redis_store import RedisKciStore  # noqa: PLC0415 - the optional extra

        return RedisKciStore(store)
    return store


def _resolve_sequences(sequences: AnySequenceStore | None, store: AnyKciStore) -> AnySequenceStore:
    if sequences is not None:
        return sequences
    if isinstance(store, (SequenceStore, AsyncSequenceStore)) and not isinstance(
        store, InMemoryKciStore
    ):
        return store
    return InMemorySequenceStore()


def _is_ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _dedup_key(kci: Kci) -> str:
    """The de-duplication key: the KCI id, plus what a redelivery cannot change.

    Ids are documented as unique, but the published examples give one id to two different KCIs
    (SENT_TO_SUPPLIER and FAILED_TO_SEND). Adding the sequence number, update type and entity
    status keeps every redelivery a duplicate while two different KCIs sharing an id are both
    handled. (``deliveredOn`` is left out: a redelivery may carry a new one.)
    """
    return f"{kci.id}|{kci.sequence_number}|{kci.update_type}|{kci.entity_status}"


def _sequence_key(kci: Kci) -> str | None:
    entity_id = kci.entity_id
    if entity_id is None:
        return None
    return f"{kci.entity_type}:{entity_id}"


def _refuse_body(failure: ParseFailure, request_id: str | None) -> KciResponse:
    error = failure.error
    messages = [f"{path}: {reason}" if path else reason for path, reason in error.errors]
    if failure.malformed:
        response = error_response(400, ErrorCode.MALFORMED_REQUEST, messages)
    else:
        response = error_response(422, ErrorCode.INVALID_REQUEST, messages)
    _log.warning(
        "KCI refused (%s): %s (request id %s, error uuid %s)",
        response.status,
        error,
        request_id,
        response.error_uuid,
    )
    return response


def _run_sync(route: Route, kci: Kci) -> None:
    result = route.handler(kci)
    if inspect.isawaitable(result):
        _run_awaitable(result)


def _run_awaitable(awaitable: Awaitable[object]) -> None:
    import asyncio  # noqa: PLC0415 - asyncio costs ~13 ms to import; async paths only

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        if inspect.iscoroutine(awaitable):
            awaitable.close()
        raise RuntimeError(
            "an async KCI handler cannot run from the sync handle() inside a running event "
            "loop; use handle_async() or the ASGI app"
        )

    async def wait() -> None:
        await awaitable

    asyncio.run(wait())
