"""The response size cap (issue 11.7): a huge or decompression-bomb answer is a typed error.

Real sockets, every client kind; a 1 MiB cap keeps the test light (the default is 64 MiB).
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from fibrecafe_client import (
    ConfigurationError,
    FibreCafe,
    ResponseTooLargeError,
    ServiceTest,
    TokenConnectionError,
)

from .badserver import BadGateway, Behaviour, service_test_body
from .canaries import assert_clean_exception
from .runner import KINDS, Kind
from .test_deadlines import kwargs, run

pytestmark = pytest.mark.network

CAP = 1024 * 1024
GZIP = (("content-type", "application/json"), ("content-encoding", "gzip"))


def padded_body(size: int) -> bytes:
    """A valid service test preceded by ``size`` bytes of JSON whitespace."""
    return b" " * size + json.dumps(service_test_body(4242)).encode()


#: 8 MiB that travels as ~8 KiB: a decompression bomb (scaled down from the issue's 256 MiB).
BOMB = gzip.compress(padded_body(8 * CAP), compresslevel=9)
CASES: dict[str, Behaviour] = {
    "plain 4 MiB": Behaviour("big", status=200, body=padded_body(4 * CAP)),
    "gzip bomb": Behaviour("bomb", status=200, body=BOMB, headers=GZIP),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("op", ["create", "get"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_body_past_the_cap_is_refused(kind: Kind, op: str, case: str, bad: BadGateway) -> None:
    assert len(BOMB) < CAP // 16
    bad.script("api", CASES[case], times=3)
    outcome = run(kind, kwargs(bad, max_response_bytes=CAP), op, f"{op}, {case}")
    error = outcome.error
    assert isinstance(error, ResponseTooLargeError), repr(error)
    assert error.attempts == 1  # not resent: it would only come back as large
    assert error.outcome_unknown is (op == "create")
    assert "max_response_bytes" in str(error)
    assert bad.seen("api") == 1
    assert_clean_exception(error)


@pytest.mark.parametrize("kind", KINDS)
def test_a_compressed_body_within_the_cap_is_read(kind: Kind, bad: BadGateway) -> None:
    small = gzip.compress(padded_body(CAP // 2))
    bad.script("api", Behaviour("gzip", status=200, body=small, headers=GZIP))
    outcome = run(kind, kwargs(bad, max_response_bytes=CAP), "get", "gzip within the cap")
    assert isinstance(outcome.result, ServiceTest), repr(outcome.error)
    assert outcome.result.id == 4242


@pytest.mark.parametrize("kind", KINDS)
def test_a_token_response_past_the_cap_is_refused(kind: Kind, bad: BadGateway) -> None:
    bad.script("token", Behaviour("token bomb", status=200, body=BOMB, headers=GZIP))
    outcome = run(kind, kwargs(bad, max_response_bytes=CAP), "get", "token bomb")
    error: Any = outcome.error
    assert isinstance(error, TokenConnectionError), repr(error)
    assert "max_response_bytes" in str(error)
    assert bad.seen("token") == 1
    assert bad.seen("api") == 0


@pytest.mark.parametrize("value", [0, -1, 10, True, 1.5, "1M"])
def test_the_cap_is_validated(value: object) -> None:
    with pytest.raises(ConfigurationError, match="max_response_bytes"):
        FibreCafe("id", "secret-value", base_url="http://127.0.0.1:9/v1", max_response_bytes=value)  # type: ignore[arg-type]
