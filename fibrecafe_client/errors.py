"""Every exception the SDK raises.

One hierarchy, rooted at :class:`FibreCafeError`, so a tenant can catch "anything from the SDK"
with one clause and still tell the cases apart. Every error that came from (or went towards) the
gateway carries what Fibre Cafe support asks for: the HTTP status, the gateway's error ``code``,
``messages`` and error ``uuid``, and the ``X-Request-ID`` / ``X-Conversation-ID`` that were sent.
All of it is also in ``str(err)``.

No secret (client secret, token, Authorization header) is ever stored on an exception, so
logging or pickling one cannot leak it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import httpx

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "FibreCafeError",
    "InternalServerError",
    "KciParseError",
    "KciStoreError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestValidationError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ServiceProblemWaitTimeout",
    "ServiceTestWaitTimeout",
    "ServiceUnavailableError",
    "TokenConnectionError",
    "TokenError",
    "TokenTimeoutError",
    "UnprocessableEntityError",
]

_MAY_EXIST = (
    "The request may have reached the gateway, so it was not resent: {what}. Reconcile with "
    "the KCIs or support using conversation id {cid}."
)
# What may exist after an unanswered POST/PATCH, by path prefix (longest first).
_MAY_EXIST_WHAT: tuple[tuple[str, str], ...] = (
    ("/service-problem-amendments", "the amendment may have been made"),
    ("/service-problem-cancellations", "the cancellation may have been requested"),
    ("/service-problem-resolutions/", "the resolution may already be accepted or rejected"),
    ("/service-problems", "the service problem may exist"),
    ("/service-tests", "the service test may exist"),
)


def _may_exist(url: str | None, cid: str | None) -> str:
    path = "" if url is None else url.split("?", 1)[0]
    what = next(
        (text for prefix, text in _MAY_EXIST_WHAT if prefix in path), "what it asked for may exist"
    )
    return _MAY_EXIST.format(what=what, cid=cid)


# What str(err) shows of text that came from the other side (the attributes keep it all).
_MAX_SHOWN_CHARS = 300
_MAX_SHOWN_MESSAGES = 10


def _clip(text: str) -> str:
    if len(text) <= _MAX_SHOWN_CHARS:
        return text
    return f"{text[:_MAX_SHOWN_CHARS]}... ({len(text)} characters)"


def _listed(items: Sequence[str]) -> str:
    shown = "; ".join(_clip(item) for item in items[:_MAX_SHOWN_MESSAGES])
    more = len(items) - _MAX_SHOWN_MESSAGES
    return shown + (f" (and {more} more)" if more > 0 else "")


def _ids(request_id: str | None, conversation_id: str | None, uuid: str | None = None) -> str:
    parts: list[str] = []
    if uuid:
        parts.append(f"error uuid={_clip(uuid)}")
    if request_id:
        parts.append(f"request id={request_id}")
    if conversation_id:
        parts.append(f"conversation id={conversation_id}")
    return f" ({', '.join(parts)})" if parts else ""


class FibreCafeError(Exception):
    """Base of every exception raised by fibrecafe-client."""


class ConfigurationError(FibreCafeError, ValueError):
    """The client was constructed with a missing credential or an invalid setting."""


class RequestValidationError(FibreCafeError, ValueError):
    """The arguments of a call are invalid; nothing was sent to the gateway."""


class APIError(FibreCafeError):
    """A call to the gateway failed. Base of connection, status and response-shape errors.

    Attributes:
        message: what went wrong, in words.
        method, url: the request (the URL never contains credentials).
        request_id: ``X-Request-ID`` of the last attempt.
        conversation_id: ``X-Conversation-ID`` of the call (stable across its retries).
        outcome_unknown: True when the request may have been processed by the gateway even
            though no success came back (a POST that timed out after being sent, or answered
            5xx). Such a POST is never resent; reconcile through KCIs using the conversation id.
        attempts: how many HTTP attempts the call made.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        request_id: str | None = None,
        conversation_id: str | None = None,
        outcome_unknown: bool = False,
        attempts: int = 1,
    ) -> None:
        self.message = message
        self.method = method
        self.url = url
        self.request_id = request_id
        self.conversation_id = conversation_id
        self.outcome_unknown = outcome_unknown
        self.attempts = attempts
        super().__init__(self._render())

    def _render(self) -> str:
        text = self.message
        if self.outcome_unknown:
            text = f"{text}. {_may_exist(self.url, self.conversation_id)}"
        return text + _ids(self.request_id, self.conversation_id)

    def __str__(self) -> str:
        return self._render()

    def _state(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "request_id": self.request_id,
            "conversation_id": self.conversation_id,
            "outcome_unknown": self.outcome_unknown,
            "attempts": self.attempts,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors do not survive the default pickling; the httpx objects are
        # dropped on purpose (they are not picklable and are not needed to report the error).
        return (_rebuild, (type(self), self.message, self._state()))


def _rebuild(cls: type[APIError], message: str, state: dict[str, Any]) -> APIError:
    return cls(message, **state)


class APIConnectionError(APIError):
    """The gateway could not be reached, or the connection broke before an answer came back."""


class APITimeoutError(APIConnectionError):
    """The call did not complete within its timeout or its retry deadline."""


class APIStatusError(APIError):
    """The gateway answered with a non-success HTTP status.

    Attributes (besides those of :class:`APIError`):
        status_code: the HTTP status.
        code: the gateway error code (an :class:`~fibrecafe_client.ErrorCode` when known, else
            the raw string; None when the body was not the documented JSON error).
        messages: the gateway's human-readable reasons (may be empty).
        uuid: the gateway's error uuid, to quote to support (None when absent).
        response: the raw ``httpx.Response`` (not kept when the error is pickled).
    """

    status_code: int
    #: Status this class stands for, used by :func:`status_error_class`.
    expected_status: ClassVar[int | None] = None

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        messages: Sequence[str] = (),
        uuid: str | None = None,
        response: httpx.Response | None = None,
        **kwargs: Any,
    ) -> None:
        self.status_code = status_code
        self.code = code
        self.messages: list[str] = list(messages)
        self.uuid = uuid
        self.response = response
        super().__init__(message, **kwargs)

    def _render(self) -> str:
        head = f"{self.status_code}"
        if self.code:
            head += f" {_clip(self.code)}"
        text = f"{head}: {self.message}"
        if self.messages:
            text += " - " + _listed(self.messages)
        if self.outcome_unknown:
            text += ". " + _may_exist(self.url, self.conversation_id)
        return text + _ids(self.request_id, self.conversation_id, self.uuid)

    def _state(self) -> dict[str, Any]:
        return {
            **super()._state(),
            "status_code": self.status_code,
            "code": self.code,
            "messages": self.messages,
            "uuid": self.uuid,
        }


class BadRequestError(APIStatusError):
    """400: the gateway found the request malformed (``MALFORMED_REQUEST``)."""

    expected_status: ClassVar[int | None] = 400


class AuthenticationError(APIStatusError):
    """401: the access token was refused even after one fresh token was fetched."""

    expected_status: ClassVar[int | None] = 401


class PermissionDeniedError(APIStatusError):
    """403: not permitted; usually the gateway's WAF (check the IP allow-list)."""

    expected_status: ClassVar[int | None] = 403


class NotFoundError(APIStatusError):
    """404: no such resource (``NOT_FOUND``), e.g. an unknown service test id."""

    expected_status: ClassVar[int | None] = 404


class UnprocessableEntityError(APIStatusError):
    """422: well-formed but invalid (``INVALID_REQUEST``), supplier rejections included."""

    expected_status: ClassVar[int | None] = 422


class RateLimitError(APIStatusError):
    """429: too many requests (undocumented by the gateway; handled defensively)."""

    expected_status: ClassVar[int | None] = 429


class InternalServerError(APIStatusError):
    """5xx: the gateway or the supplier failed (``GATEWAY_FAULT``, ``SUPPLIER_FAULT``...)."""


class ServiceUnavailableError(InternalServerError):
    """503: the gateway is temporarily unavailable (documented with no body)."""

    expected_status: ClassVar[int | None] = 503


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The exception class for an HTTP error status."""
    if status_code in _STATUS_CLASSES:
        return _STATUS_CLASSES[status_code]
    if status_code >= 500:
        return InternalServerError
    return APIStatusError


class ResponseValidationError(APIError):
    """A success response whose body does not fit the documented shape.

    Attributes besides :class:`APIError`'s: ``status_code``, ``errors`` (a short description of
    each problem, with its field path) and ``response`` (not kept when pickled).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        errors: Sequence[str] = (),
        response: httpx.Response | None = None,
        **kwargs: Any,
    ) -> None:
        self.status_code = status_code
        self.errors: list[str] = list(errors)
        self.response = response
        super().__init__(message, **kwargs)

    def _render(self) -> str:
        text = f"{self.status_code}: {self.message}"
        if self.errors:
            text += " - " + "; ".join(self.errors)
        return text + _ids(self.request_id, self.conversation_id)

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "status_code": self.status_code, "errors": self.errors}


class TokenError(FibreCafeError):
    """The token endpoint refused the client credentials or could not be used.

    Attributes:
        error: the OAuth ``error`` code (``invalid_client``, ``invalid_request``...), or None
            when the endpoint did not answer with one (outage, garbage body).
        description: ``error_description`` when the endpoint sent one.
        status_code: the HTTP status of the token response, if one came back.
        attempts: how many token requests this failure took (retries included).
        request_id: ``X-Request-ID`` of the last token request.
    """

    # Set by the token fetch when only its caller's short deadline caused the failure.
    _budget_only: bool = False

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        description: str | None = None,
        status_code: int | None = None,
        attempts: int = 1,
        request_id: str | None = None,
    ) -> None:
        self.message = message
        self.error = error
        self.description = description
        self.status_code = status_code
        self.attempts = attempts
        #: ``X-Request-ID`` of the last token request (None if none was sent).
        self.request_id = request_id
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = self.message
        if self.status_code is not None:
            text = f"{self.status_code}: {text}"
        if self.error:
            text += f" (error={_clip(self.error)}"
            text += f": {_clip(self.description)})" if self.description else ")"
        return text + _ids(self.request_id, getattr(self, "conversation_id", None))

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_token_error,
            (
                self.message,
                self.error,
                self.description,
                self.status_code,
                self.attempts,
                self.request_id,
            ),
        )


def _rebuild_token_error(  # noqa: PLR0917 - pickle passes them positionally
    message: str,
    error: str | None,
    description: str | None,
    status: int | None,
    attempts: int,
    request_id: str | None = None,
) -> TokenError:
    return TokenError(
        message,
        error=error,
        description=description,
        status_code=status,
        attempts=attempts,
        request_id=request_id,
    )


class TokenConnectionError(TokenError, APIConnectionError):
    """The token endpoint could not be reached, or its connection broke before an answer.

    Both a :class:`TokenError` and an :class:`APIConnectionError`: ``except APIConnectionError``
    catches a gateway that is down whichever endpoint the call reached first. Nothing was sent
    to the API, so ``outcome_unknown`` is False (a ``create()`` may be called again).
    """

    def __init__(self, message: str, *, attempts: int = 1, request_id: str | None = None) -> None:
        self.error: str | None = None
        self.description: str | None = None
        self.status_code: int | None = None
        APIConnectionError.__init__(self, message, attempts=attempts, request_id=request_id)

    def __str__(self) -> str:
        return TokenError.__str__(self)

    def _render(self) -> str:
        return TokenError.__str__(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_token_connection, (type(self), self.message, self._state()))


def _rebuild_token_connection(
    cls: type[TokenConnectionError], message: str, state: dict[str, Any]
) -> TokenConnectionError:
    error = cls(message, attempts=state["attempts"], request_id=state["request_id"])
    error.method, error.url = state["method"], state["url"]
    error.conversation_id = state["conversation_id"]
    return error


class TokenTimeoutError(TokenConnectionError, APITimeoutError):
    """The token request timed out, or the caller's deadline passed while a token was fetched.

    Also an :class:`APITimeoutError` (and so an :class:`APIConnectionError`).
    """


class ResponseTooLargeError(APIConnectionError):
    """A response body (after decompression) was larger than ``max_response_bytes``.

    The SDK stopped reading at the limit and closed the connection: a huge answer, or a small
    compressed one that inflates to a huge one (a decompression bomb), cannot exhaust memory.
    For a POST the gateway answered, so the request was processed: ``outcome_unknown`` is True.
    """


class KciParseError(FibreCafeError, ValueError):
    """A body is not a valid KCI.

    Attributes:
        reason: what is wrong, in words.
        path: where, as a dotted path into the body (``entity.status``); empty for the whole body.
        errors: every problem found, each as ``(path, reason)``.
    """

    def __init__(
        self, reason: str, *, path: str = "", errors: Sequence[tuple[str, str]] = ()
    ) -> None:
        self.reason = reason
        self.path = path
        self.errors: list[tuple[str, str]] = list(errors) or [(path, reason)]
        super().__init__(self.__str__())

    def __str__(self) -> str:
        first = f"{self.path}: {self.reason}" if self.path else self.reason
        more = len(self.errors) - 1
        return f"invalid KCI: {first}" + (f" (and {more} more)" if more > 0 else "")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_kci_error, (self.reason, self.path, tuple(self.errors)))


def _rebuild_kci_error(
    reason: str, path: str, errors: tuple[tuple[str, str], ...]
) -> KciParseError:
    return KciParseError(reason, path=path, errors=errors)


class ServiceProblemWaitTimeout(FibreCafeError, TimeoutError):
    """``service_problems.wait()`` reached its deadline before the problem settled.

    ``last`` is the last state seen (None if no poll succeeded).
    """

    def __init__(self, message: str, *, problem_id: int, last: Any = None) -> None:
        self.problem_id = problem_id
        self.last = last
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_problem_wait_timeout, (str(self), self.problem_id, self.last))


def _rebuild_problem_wait_timeout(
    message: str, problem_id: int, last: Any
) -> ServiceProblemWaitTimeout:
    return ServiceProblemWaitTimeout(message, problem_id=problem_id, last=last)


class ServiceTestWaitTimeout(FibreCafeError, TimeoutError):
    """``service_tests.wait()`` reached its deadline before the test became terminal.

    ``last`` is the last state seen (None if no poll succeeded), so nothing observed is lost.
    """

    def __init__(self, message: str, *, test_id: int, last: Any = None) -> None:
        self.test_id = test_id
        self.last = last
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_wait_timeout, (str(self), self.test_id, self.last))


def _rebuild_wait_timeout(message: str, test_id: int, last: Any) -> ServiceTestWaitTimeout:
    return ServiceTestWaitTimeout(message, test_id=test_id, last=last)


class KciStoreError(FibreCafeError):
    """The KCI receiver's shared store (Redis) failed, refused or did not answer in time.

    The receiver never lets it escape: it answers 503 so that the gateway redelivers. It is
    raised to code that calls a store directly. The text names the operation and the store's
    address with any password replaced by ``***``.
    """
