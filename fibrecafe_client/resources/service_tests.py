"""``client.service_tests``: create, get and wait for service tests.

The methods are thin: they validate arguments into a :class:`~fibrecafe_client._pipeline.Call`
(pure, shared by sync and async; a bad argument raises :class:`RequestValidationError` naming it
and nothing is sent) and hand it to the pipeline. ``wait`` shares its polling decisions
(:class:`_WaitLoop`) between the two flavours too.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

import httpx
from pydantic import ValidationError

from fibrecafe_client._pipeline import AsyncPipeline, Call, SyncPipeline, new_id
from fibrecafe_client._telemetry import operation_scope
from fibrecafe_client.errors import (
    APIConnectionError,
    RequestValidationError,
    ServiceTestWaitTimeout,
)
from fibrecafe_client.models import (
    CharacteristicsInput,
    ProblemType,
    ServiceSpecification,
    ServiceTest,
    ServiceTestCharacteristics,
    ServiceTestRequest,
    normalise_characteristics,
)
from fibrecafe_client.resources._arguments import (
    POLL_BACKOFF,
    call_options,
    invalid,
    positive_seconds,
    specification,
)

__all__ = ["AsyncServiceTests", "ServiceTests"]

_PATH: Final = "/service-tests"
_ARGUMENTS: Final[Mapping[str, str]] = {
    "serviceId": "service_id",
    "problemType": "problem_type",
    "serviceSpecification": "service_specification",
    "supplier": "supplier",
    "characteristics": "characteristics",
}


def _first_error(exc: ValidationError) -> RequestValidationError:
    error = exc.errors(include_url=False, include_input=False)[0]
    loc = [str(p) for p in error["loc"]]
    argument = _ARGUMENTS.get(loc[0], loc[0]) if loc else "request"
    where = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc[1:])
    return invalid(argument + where, error["msg"])


def create_call(
    *,
    service_id: object,
    problem_type: object,
    service_specification: object,
    supplier: object,
    characteristics: object,
    conversation_id: object = None,
    extra_headers: object = None,
    timeout: object = None,
) -> Call:
    """The validated ``POST /service-tests`` call (pure; raises RequestValidationError)."""
    if not isinstance(problem_type, str):
        kind = type(problem_type).__name__
        raise invalid("problem_type", f"expected a ProblemType or str, not {kind}")
    if isinstance(characteristics, ServiceTestCharacteristics):
        try:
            characteristics.check_for(problem_type)
        except ValueError as exc:
            raise invalid("characteristics", str(exc)) from None
    try:
        wire_characteristics = normalise_characteristics(characteristics)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise invalid("characteristics", str(exc)) from None
    spec = specification(service_specification)
    known = problem_type in ProblemType.__members__
    try:
        body = ServiceTestRequest(
            service_id=service_id,  # pyright: ignore[reportArgumentType] - pydantic checks it
            problem_type=ProblemType(problem_type) if known else problem_type,
            service_specification=spec,
            supplier=supplier,  # pyright: ignore[reportArgumentType] - pydantic checks it
            characteristics=wire_characteristics,
        )
    except ValidationError as exc:
        raise _first_error(exc) from None
    cid, headers, per_call = call_options(conversation_id, extra_headers, timeout)
    return Call(
        "POST",
        _PATH,
        conversation_id=cid,
        body=body.to_json().encode(),
        extra_headers=headers,
        timeout=per_call,
    )


def test_id_of(test_id: object) -> int:
    """A test id as the positive int the gateway allocates (``"123"`` is accepted too)."""
    if isinstance(test_id, bool):
        raise invalid("test_id", "must be an int or a string of digits, not a bool")
    if isinstance(test_id, int) and test_id > 0:
        return test_id
    if isinstance(test_id, str) and test_id.isascii() and test_id.isdigit() and len(test_id) < 20:
        value = int(test_id)
        if value > 0:
            return value
    raise invalid("test_id", f"must be a positive integer id, got {test_id!r}")


def get_call(
    test_id: object,
    *,
    conversation_id: object = None,
    extra_headers: object = None,
    timeout: object = None,
) -> Call:
    """The validated ``GET /service-tests/{id}`` call (pure; raises RequestValidationError)."""
    number = test_id_of(test_id)
    cid, headers, per_call = call_options(conversation_id, extra_headers, timeout)
    return Call(
        "GET", f"{_PATH}/{number}", conversation_id=cid, extra_headers=headers, timeout=per_call
    )


class _WaitLoop:
    """The decisions of ``wait()``: when to poll next, when to give up, what changed."""

    def __init__(
        self,
        test_id: int,
        *,
        timeout: object,
        poll_interval: object,
        max_poll_interval: object,
        clock: Callable[[], float],
    ) -> None:
        seconds = {
            name: positive_seconds(name, value)
            for name, value in (
                ("timeout", timeout),
                ("poll_interval", poll_interval),
                ("max_poll_interval", max_poll_interval),
            )
        }
        if seconds["max_poll_interval"] < seconds["poll_interval"]:
            raise invalid("max_poll_interval", "must be >= poll_interval")
        self.test_id = test_id
        self.timeout = seconds["timeout"]
        self._clock = clock
        self._deadline = clock() + self.timeout
        self._interval = seconds["poll_interval"]
        self._max_interval = seconds["max_poll_interval"]
        # Intervals only grow, so a real clock never needs more polls than this.
        self._polls_left = math.ceil(self.timeout / self._interval) + 2
        self.last: ServiceTest | None = None

    def observe(self, test: ServiceTest) -> bool:
        """Record a poll's result; True when the status changed (or is the first seen)."""
        changed = self.last is None or self.last.status != test.status
        self.last = test
        self._polls_left -= 1
        return changed

    def remaining(self) -> float:
        """Seconds left before the wait's deadline."""
        return self._deadline - self._clock()

    def poll(self, call: Call) -> Call:
        """A poll bounded by what is left of the wait (token fetch and retries included)."""
        left = max(self.remaining(), 0.001)
        own = call.deadline
        return dataclasses.replace(call, deadline=left if own is None else min(own, left))

    def ended_by(self, exc: APIConnectionError) -> ServiceTestWaitTimeout | None:
        """The wait's timeout if a poll failed for want of time (the wait's deadline passed)."""
        if self.remaining() <= 0:
            return self.timed_out()
        return None

    def next_sleep(self) -> float | None:
        """Seconds to sleep before the next poll, or None when the deadline has passed."""
        remaining = self._deadline - self._clock()
        if remaining <= 0 or self._polls_left <= 0:
            return None
        delay = min(self._interval, remaining)
        self._interval = min(self._interval * POLL_BACKOFF, self._max_interval)
        return delay

    def timed_out(self) -> ServiceTestWaitTimeout:
        status = "none" if self.last is None else str(self.last.status)
        return ServiceTestWaitTimeout(
            f"service test {self.test_id} did not reach a terminal status within "
            f"{self.timeout:g}s (last status: {status})",
            test_id=self.test_id,
            last=self.last,
        )


class ServiceTests:
    """Service tests on the gateway: ``client.service_tests`` of :class:`FibreCafe`."""

    def __init__(self, pipeline: SyncPipeline) -> None:
        self._pipeline = pipeline

    def create(
        self,
        *,
        service_id: str,
        problem_type: ProblemType | str,
        service_specification: str | ServiceSpecification | Mapping[str, str],
        supplier: str,
        characteristics: CharacteristicsInput,
        conversation_id: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> ServiceTest:
        """Ask the gateway to run a service test (``POST /service-tests``).

        Never resent once it may have reached the gateway: if the outcome is unknown the error
        has ``outcome_unknown=True`` and the ``conversation_id`` to reconcile with (pass your
        own to correlate with KCIs).

        Args:
            service_id: the live service to test (1-50 characters).
            problem_type: the fault reported: a :class:`~fibrecafe_client.ProblemType` or its
                name; an unknown word is passed through.
            service_specification: the service's product: an id such as ``"FTTP"``, a
                :class:`~fibrecafe_client.ServiceSpecification` or ``{"id": ..., "name": ...}``.
            supplier: the supplier's gateway system id, such as ``"FIBRECO"``.
            characteristics: a :class:`~fibrecafe_client.ServiceTestCharacteristics` (checked
                against the documented rules), a ``name -> value`` mapping of strings, or a list
                of ``Characteristic`` objects, ``{"name", "value"}`` mappings or pairs.
            conversation_id: your ``X-Conversation-ID`` (1-200 printable ASCII characters, no
                spaces); a UUID is generated when None. The test's KCIs carry it too.
            extra_headers: more headers for this call, e.g. CVT's ``X-Scenario``.
            timeout: this call's timeout per attempt (seconds or ``httpx.Timeout``).

        Returns:
            The new test (usually ``RECEIVED_BY_GATEWAY``), with ``request_id``,
            ``conversation_id`` and ``http_response``.

        Raises:
            RequestValidationError: an argument is invalid; nothing was sent.
            APIStatusError: the gateway refused it (e.g. ``UnprocessableEntityError`` 422).
            APIConnectionError: no answer; ``outcome_unknown`` says if the test may exist.
            TokenError: the credentials were refused.
        """
        call = create_call(
            service_id=service_id,
            problem_type=problem_type,
            service_specification=service_specification,
            supplier=supplier,
            characteristics=characteristics,
            conversation_id=conversation_id,
            extra_headers=extra_headers,
            timeout=timeout,
        )
        return self._pipeline.request(call, ServiceTest)

    def get(
        self,
        test_id: int | str,
        *,
        conversation_id: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> ServiceTest:
        """The current state of a service test (``GET /service-tests/{id}``), with retries.

        Args:
            test_id: the id ``create`` returned (an int, or a string of digits).
            conversation_id: your ``X-Conversation-ID``; a UUID is generated when None.
            extra_headers: more headers for this call.
            timeout: this call's timeout per attempt (seconds or ``httpx.Timeout``).

        Raises:
            RequestValidationError: ``test_id`` is not a positive integer; nothing was sent.
            NotFoundError: the gateway has no test with that id.
            APIError: any other failure that survived the retries (see the errors guide).
        """
        call = get_call(
            test_id, conversation_id=conversation_id, extra_headers=extra_headers, timeout=timeout
        )
        return self._pipeline.request(call, ServiceTest)

    def wait(
        self,
        test_id: int | str,
        *,
        timeout: float = 600,
        poll_interval: float = 2.0,
        max_poll_interval: float = 30.0,
        on_update: Callable[[ServiceTest], None] | None = None,
        conversation_id: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ServiceTest:
        """Poll until the test is terminal and return it.

        Polls at once, then after ``poll_interval`` seconds growing by 1.5x up to
        ``max_poll_interval``. ``on_update`` is called with the test on the first poll and on
        every status change. Each poll is a ``get`` with its own retries, bounded by what is
        left of ``timeout`` (token fetch included); an error that survives them is raised.
        After ``timeout`` seconds (plus at most the small margin measured in the reliability
        guide, even when a poll hangs), raises :class:`ServiceTestWaitTimeout` carrying the
        last test seen.

        Args:
            test_id: the id ``create`` returned.
            timeout: seconds to wait in all.
            poll_interval: seconds before the second poll.
            max_poll_interval: the longest wait between two polls.
            on_update: called with the test on the first poll and on each status change.
            conversation_id: the ``X-Conversation-ID`` of every poll (one UUID when None).
            extra_headers: more headers for every poll.

        Returns:
            The test in a terminal status (``COMPLETED``, ``REJECTED``, ``FAILED_TO_SEND``,
            ``FAILED``).

        Raises:
            ServiceTestWaitTimeout: ``timeout`` passed first; ``.last`` is the last state seen.
            RequestValidationError: an argument is invalid.
            APIError: a poll failed after its retries.
        """
        number = test_id_of(test_id)
        cid = conversation_id if conversation_id is not None else new_id()
        loop = _WaitLoop(
            number,
            timeout=timeout,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            clock=self._pipeline.clock,
        )
        span = operation_scope("service_tests.wait", conversation_id=cid, test_id=number)
        with span:
            while True:
                call = loop.poll(get_call(number, conversation_id=cid, extra_headers=extra_headers))
                try:
                    test = self._pipeline.request(call, ServiceTest)
                except APIConnectionError as exc:  # timeouts included (and a token fetch's)
                    timed_out = loop.ended_by(exc)
                    if timed_out is None:
                        raise
                    raise timed_out from exc
                if loop.observe(test) and on_update is not None:
                    on_update(test)
                if test.is_terminal:
                    return span.done(test)
                delay = loop.next_sleep()
                if delay is None:
                    raise loop.timed_out()
                self._pipeline.sleep(delay)


class AsyncServiceTests:
    """Service tests on the gateway: ``client.service_tests`` of :class:`AsyncFibreCafe`."""

    def __init__(self, pipeline: AsyncPipeline) -> None:
        self._pipeline = pipeline

    async def create(
        self,
        *,
        service_id: str,
        problem_type: ProblemType | str,
        service_specification: str | ServiceSpecification | Mapping[str, str],
        supplier: str,
        characteristics: CharacteristicsInput,
        conversation_id: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,  # noqa: ASYNC109 - the API contract
    ) -> ServiceTest:
        """Ask the gateway to run a service test: the async :meth:`ServiceTests.create`.

        Same arguments, result and errors; never resent once it may have reached the gateway.
        """
        call = create_call(
            service_id=service_id,
            problem_type=problem_type,
            service_specification=service_specification,
            supplier=supplier,
            characteristics=characteristics,
            conversation_id=conversation_id,
            extra_headers=extra_headers,
            timeout=timeout,
        )
        return await self._pipeline.request(call, ServiceTest)

    async def get(
        self,
        test_id: int | str,
        *,
        conversation_id: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,  # noqa: ASYNC109 - the API contract
    ) -> ServiceTest:
        """The current state of a service test: the async :meth:`ServiceTests.get`.

        Same arguments, result and errors; retried like any GET.
        """
        call = get_call(
            test_id, conversation_id=conversation_id, extra_headers=extra_headers, timeout=timeout
        )
        return await self._pipeline.request(call, ServiceTest)

    async def wait(
        self,
        test_id: int | str,
        *,
        timeout: float = 600,  # noqa: ASYNC109 - the API contract
        poll_interval: float = 2.0,
        max_poll_interval: float = 30.0,
        on_update: Callable[[ServiceTest], Awaitable[None] | None] | None = None,
        conversation_id: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ServiceTest:
        """Async :meth:`ServiceTests.wait`; ``on_update`` may be a plain or async function."""
        number = test_id_of(test_id)
        cid = conversation_id if conversation_id is not None else new_id()
        loop = _WaitLoop(
            number,
            timeout=timeout,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            clock=self._pipeline.clock,
        )
        span = operation_scope("service_tests.wait", conversation_id=cid, test_id=number)
        with span:
            while True:
                call = loop.poll(get_call(number, conversation_id=cid, extra_headers=extra_headers))
                try:
                    test = await self._pipeline.request(call, ServiceTest)
                except APIConnectionError as exc:  # timeouts included (and a token fetch's)
                    timed_out = loop.ended_by(exc)
                    if timed_out is None:
                        raise
                    raise timed_out from exc
                if loop.observe(test) and on_update is not None:
                    result = on_update(test)
                    if inspect.isawaitable(result):
                        await result
                if test.is_terminal:
                    return span.done(test)
                delay = loop.next_sleep()
                if delay is None:
                    raise loop.timed_out()
                await self._pipeline.sleep(delay)
