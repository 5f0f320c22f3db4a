"""``KciReceiver``: everything a correct KCI endpoint does, independent of any web framework.

For each delivery: check the method, the caller's credentials, the content type and the declared
length; parse the body; claim the KCI id in the de-duplication store (a concurrent duplicate
waits for the first delivery's outcome); flag or drop a stale update; run the matching handlers;
then commit (204) or, if a handler raised, release the claim and answer 500 so the gateway
redelivers.

The flow is written once, as a generator that yields the two things that differ between the sync
and async worlds ("run this handler", "pause a moment"); :meth:`KciReceiver.handle` and
:meth:`KciReceiver.handle_async` only drive it.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias, TypeVar

from fibrecafe_client.errors import ServiceTestWaitTimeout
from fibrecafe_client.models import EntityType, ErrorCode, UpdateType
from fibrecafe_client.resources.service_tests import test_id_of

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
from ._models import Kci, KciDelivery, ServiceTestKci
from ._observe import LoopWaiter, Observers, ThreadWaiter
from ._parse import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, ParseFailure, try_parse_kci
from ._routing import HandlerRegistry, Route, RouteFilter
from ._store import InMemoryKciStore, InMemorySequenceStore, KciClaim, KciStore, SequenceStore
from ._wsgi import KciWsgiApp

__all__ = ["KciReceiver", "StalePolicy"]

_log = logging.getLogger("fibrecafe_client.kci")

#: What to do with a KCI older (lower ``sequenceNumber``) than one already handled for the same
#: entity: ``"deliver"`` it with ``kci.is_stale`` set, or ``"drop"`` it (acknowledged, unhandled).
StalePolicy: TypeAlias = Literal["deliver", "drop"]

_H = TypeVar("_H", bound=Callable[[Any], object])
_NO_CONTENT: Final = KciResponse(204)
_FIRST_PAUSE: Final = 0.005
_MAX_PAUSE: Final = 0.1


@dataclass(frozen=True, slots=True)
class _Call:
    route: Route
    kci: Kci


@dataclass(frozen=True, slots=True)
class _Pause:
    seconds: float


_Effect: TypeAlias = _Call | _Pause
_Flow: TypeAlias = Generator[_Effect, None, KciResponse]


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
    ``in_flight_timeout`` seconds; 405 / 415 for a wrong method / content type.

    Handlers run once per KCI id as far as the store can tell, but delivery is at least once
    (a handler that raised after doing part of its work runs again): make them idempotent.

    Args:
        verifier: checks the gateway's credentials on every delivery (required).
        store: the de-duplication store; an :class:`InMemoryKciStore` (per process) when None.
            Share one store between processes that receive KCIs.
        sequences: the highest ``sequenceNumber`` handled per entity; an
            :class:`InMemorySequenceStore` when None.
        stale: ``"deliver"`` a KCI older than one already handled with ``kci.is_stale`` set, or
            ``"drop"`` it (acknowledged, not handled).
        max_body_bytes: larger bodies are refused with 400 before they are read in full.
        max_depth: more deeply nested JSON is refused with 400.
        in_flight_timeout: seconds a duplicate waits for a concurrent delivery of the same KCI
            before answering 503.
        claim_lease: seconds after which a claim never committed nor released (a crashed
            worker) may be taken again.
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
        store: KciStore | None = None,
        sequences: SequenceStore | None = None,
        stale: StalePolicy = "deliver",
        max_body_bytes: int = DEFAULT_MAX_BYTES,
        max_depth: int = DEFAULT_MAX_DEPTH,
        in_flight_timeout: float = 10.0,
        claim_lease: float = 300.0,
        sync_handlers_in_thread: bool = True,
    ) -> None:
        if not isinstance(verifier, KciVerifier):
            raise TypeError("verifier must have a verify(headers) method (see KciVerifier)")
        if stale not in ("deliver", "drop"):
            raise ValueError("stale must be 'deliver' or 'drop'")
        if max_body_bytes < 1 or max_depth < 1:
            raise ValueError("max_body_bytes and max_depth must be positive")
        if in_flight_timeout < 0 or claim_lease <= 0:
            raise ValueError("in_flight_timeout must be >= 0 and claim_lease > 0")
        self._verifier = verifier
        self._store: KciStore = store if store is not None else InMemoryKciStore()
        self._sequences: SequenceStore = (
            sequences if sequences is not None else InMemorySequenceStore()
        )
        self._stale = stale
        self.max_body_bytes = max_body_bytes
        self._max_depth = max_depth
        self._in_flight_timeout = in_flight_timeout
        self._claim_lease = claim_lease
        self._sync_in_thread = sync_handlers_in_thread
        self._handlers = HandlerRegistry()
        self._observers = Observers()
        if isinstance(verifier, NoAuth):
            _log.warning("KCI receiver built with NoAuth: deliveries are not authenticated")

    def __repr__(self) -> str:
        return f"KciReceiver(verifier={self._verifier!r}, stale={self._stale!r})"

    # -- handlers -------------------------------------------------------------------------

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
        be ``async``. Every matching handler runs, in registration order.
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

    # -- observing ------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[Kci], object]) -> Callable[[], None]:
        """Call ``listener(kci)`` after each KCI is handled and acknowledged (not for
        duplicates or dropped stale KCIs). It runs in the server's thread or event loop, so it
        must be quick; exceptions are logged. Returns a function that unsubscribes.
        """
        return self._observers.subscribe(listener)

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
        """This receiver as a WSGI app (mount it at ``/kcis`` in Flask/Django)."""
        return KciWsgiApp(self)

    def check_request(self, method: str, headers: Mapping[str, str]) -> KciResponse | None:
        """The checks that need no body: method, credentials, content type, declared length.

        ``headers`` must have lower-case names (see :func:`normalise_headers`). Returns the
        refusal to send, or None to go on and read the body. Adapters call this first so that
        nobody unauthenticated gets a body read.
        """
        if method.upper() != "POST":
            return error_response(
                405,
                ErrorCode.MALFORMED_REQUEST,
                [f"method {method} is not allowed; KCIs are delivered with POST"],
                extra_headers=(("allow", "POST"),),
            )
        reason = self._verifier.verify(headers)
        if reason is not None:
            response = error_response(401, ErrorCode.NOT_AUTHORISED, ["not authorised"])
            _log.warning(
                "KCI delivery refused (401): %s (request id %s, error uuid %s)",
                reason,
                headers.get("x-request-id"),
                response.error_uuid,
            )
            return response
        if not is_json_content_type(headers.get("content-type")):
            return error_response(
                415, ErrorCode.MALFORMED_REQUEST, ["the body must be application/json"]
            )
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                return error_response(400, ErrorCode.MALFORMED_REQUEST, ["invalid Content-Length"])
            if int(declared) > self.max_body_bytes:
                return self.too_large()
        return None

    def too_large(self) -> KciResponse:
        """The answer to a body over ``max_body_bytes``: 400 ``MALFORMED_REQUEST``.

        The Tenant Updates API documents 400 for a malformed request and lists no 413, and a
        body the tenant will never accept is malformed from the gateway's point of view.
        """
        return error_response(
            400,
            ErrorCode.MALFORMED_REQUEST,
            [f"the body is over the {self.max_body_bytes}-byte limit"],
        )

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
        try:
            flow = self._flow(headers, body)
            effect = next(flow)
            while True:
                try:
                    if isinstance(effect, _Pause):
                        time.sleep(effect.seconds)
                        outcome = None
                    else:
                        _run_sync(effect)
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

    async def respond_async(self, headers: Mapping[str, str], body: bytes) -> KciResponse:
        """Process a body that passed :meth:`check_request` (async driver of the flow)."""
        import asyncio  # noqa: PLC0415 - asyncio costs ~13 ms to import; async paths only

        try:
            flow = self._flow(headers, body)
            effect = next(flow)
            while True:
                try:
                    if isinstance(effect, _Pause):
                        await asyncio.sleep(effect.seconds)
                        outcome = None
                    else:
                        await self._run_async(effect)
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

    async def _run_async(self, call: _Call) -> None:
        handler = call.route.handler
        if call.route.is_async:
            result = handler(call.kci)
        elif self._sync_in_thread:
            import anyio.to_thread  # noqa: PLC0415 - anyio costs ~14 ms to import; async only

            result = await anyio.to_thread.run_sync(handler, call.kci)
        else:
            result = handler(call.kci)
        if inspect.isawaitable(result):
            await result

    # -- the flow -------------------------------------------------------------------------

    def _flow(self, headers: Mapping[str, str], body: bytes) -> _Flow:
        request_id = headers.get("x-request-id")
        parsed = try_parse_kci(body, max_bytes=self.max_body_bytes, max_depth=self._max_depth)
        if isinstance(parsed, ParseFailure):
            return _refuse_body(parsed, request_id)
        kci = parsed
        key = _dedup_key(kci)
        claim = yield from self._claim(key)
        if claim is not KciClaim.CLAIMED:
            if claim is KciClaim.DONE:
                _log.info("KCI %s is a duplicate: acknowledged again", kci.id)
                return _NO_CONTENT
            _log.warning("KCI %s still in flight after %ss: 503", kci.id, self._in_flight_timeout)
            return KciResponse(503, (("retry-after", "1"),))
        sequence_key = _sequence_key(kci)
        try:
            highest = None if sequence_key is None else self._sequences.highest(sequence_key)
            stale = highest is not None and kci.sequence_number < highest
            delivery = KciDelivery(request_id, headers.get("x-conversation-id"), stale)
            kci._set_delivery(delivery)  # pyright: ignore[reportPrivateUsage] - the receiver's
            if stale and self._stale == "drop":
                self._store.commit(key)
                _log.info(
                    "KCI %s is stale (sequence %s < %s): dropped",
                    kci.id,
                    kci.sequence_number,
                    highest,
                )
                return _NO_CONTENT
            routes = self._handlers.matching(kci)
            if not routes:
                _log.debug("KCI %s matched no handler: acknowledged", kci.id)
            for route in routes:
                yield _Call(route, kci)
            self._store.commit(key)
        except Exception as exc:
            self._store.release(key)
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
            return response
        except BaseException:
            self._store.release(key)
            raise
        if sequence_key is not None:
            try:
                self._sequences.advance(sequence_key, kci.sequence_number)
            except Exception:  # the KCI is handled; only stale detection suffers
                _log.exception("KCI %s: could not record its sequence number", kci.id)
        _log.debug("KCI %s handled (%s %s)", kci.id, kci.entity_type, kci.entity_status)
        self._observers.publish(kci)
        return _NO_CONTENT

    def _claim(self, key: str) -> Generator[_Effect, None, KciClaim]:
        """Claim ``key``; while another delivery of it is in flight, pause and retry (bounded)."""
        claim = self._store.claim(key, self._claim_lease)
        deadline = time.monotonic() + self._in_flight_timeout
        pause = _FIRST_PAUSE
        while claim is KciClaim.IN_FLIGHT:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            yield _Pause(min(pause, remaining))
            pause = min(pause * 2, _MAX_PAUSE)
            claim = self._store.claim(key, self._claim_lease)
        return claim


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


def _run_sync(call: _Call) -> None:
    result = call.route.handler(call.kci)
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
