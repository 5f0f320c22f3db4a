"""Canary credentials and the checks that they leak nowhere.

Every form a credential can take on the way out is looked for: the secret itself, the tokens
the bad gateway issues (all start with :data:`CANARY_TOKEN`), and the ``Basic`` header value
that carries the secret base64-encoded.
"""

from __future__ import annotations

import base64
import logging
import pickle
import traceback
from collections.abc import Iterable

import httpx

from fibrecafe_client import APIStatusError, ResponseValidationError

from .badserver import CANARY_TOKEN

__all__ = [
    "CANARY_SECRET",
    "CANARY_TOKEN",
    "CLIENT_ID",
    "assert_clean",
    "assert_clean_exception",
    "assert_clean_logs",
    "leaks",
]

CLIENT_ID = "tenant-reliability"
#: The client secret every reliability test uses; must never be seen in any output.
CANARY_SECRET = "canary-SECRET-b71c9e04"
_BASIC = base64.b64encode(f"{CLIENT_ID}:{CANARY_SECRET}".encode()).decode()
_FORMS = (CANARY_SECRET, CANARY_TOKEN, _BASIC, CANARY_SECRET.encode().hex())


def leaks(text: str | bytes) -> list[str]:
    """The canary forms found in ``text`` (bytes are read as Latin-1)."""
    haystack = text.decode("latin-1") if isinstance(text, bytes) else text
    return [form for form in _FORMS if form in haystack]


def assert_clean(text: str | bytes, where: str) -> None:
    """Fail if any canary form is in ``text``."""
    found = leaks(text)
    assert not found, f"canary {found} leaked into {where}"


def _requests_of(exc: BaseException) -> Iterable[httpx.Request]:
    response = getattr(exc, "response", None)
    if isinstance(response, httpx.Response):
        for hop in [*response.history, response]:
            try:
                yield hop.request
            except RuntimeError:  # a response built without a request
                continue


def assert_clean_exception(exc: BaseException) -> None:
    """str, repr, pickle, traceback (with its causes) and kept requests are all canary-free."""
    assert_clean(str(exc), f"str({type(exc).__name__})")
    assert_clean(repr(exc), f"repr({type(exc).__name__})")
    assert_clean("".join(traceback.format_exception(exc)), f"traceback of {type(exc).__name__}")
    pickled = pickle.dumps(exc)
    assert_clean(pickled, f"pickle of {type(exc).__name__}")
    clone = pickle.loads(pickled)  # noqa: S301 - our own bytes
    assert type(clone) is type(exc)
    assert str(clone) == str(exc)
    for request in _requests_of(exc):
        assert_clean(repr(list(request.headers.items())), "a request kept by an error")
    if isinstance(exc, APIStatusError | ResponseValidationError):
        assert exc.response is not None


def assert_clean_logs(records: Iterable[logging.LogRecord], text: str) -> None:
    """Every record (message, arguments, exception) and the formatted log text are clean."""
    for record in records:
        assert_clean(record.getMessage(), f"log record of {record.name}")
        assert_clean(repr(record.args), f"log arguments of {record.name}")
        if record.exc_info and record.exc_info[1] is not None:
            assert_clean_exception(record.exc_info[1])
    assert_clean(text, "the formatted log")
