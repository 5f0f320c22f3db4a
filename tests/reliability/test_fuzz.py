"""Fuzzing the KCI side: ``parse_kci`` and the receiver's HTTP endpoint, under hypothesis.

Inputs are structure-aware: the five published KCIs, mutated field by field (deleted,
retyped, replaced by arbitrary JSON, nested deep), then optionally damaged byte by byte
(flipped, cut, spliced with hostile fragments such as ``NaN``, lone surrogates, a BOM, UTF-16).

- ``parse_kci`` raises nothing but ``KciParseError``;
- the receiver (``KciReceiver.handle``, the ASGI app under uvicorn and the WSGI app under the
  stdlib server, over real sockets) never answers 500 to bad input: only the documented
  refusals, each with the documented error body;
- hostile nesting and size are refused within bounded memory (``tracemalloc`` peaks), and the
  ASGI and WSGI adapters stop reading a body once it passes the limit.

The number of examples scales with ``FIBRECAFE_FUZZ_EXAMPLES`` (default 1000: about 4000
inputs in all); raise it for a longer run.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import os
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fibrecafe_client import BearerTokenVerifier, KciParseError, KciReceiver, parse_kci
from fibrecafe_client._loopback import LoopbackServer, serve_asgi, serve_wsgi
from fibrecafe_client.kci import DEFAULT_MAX_BYTES, GenericKci, ServiceTestKci

FUZZ = int(os.environ.get("FIBRECAFE_FUZZ_EXAMPLES", "1000"))
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "kcis"
PUBLISHED: list[dict[str, Any]] = [
    json.loads(path.read_text(encoding="utf-8")) for path in sorted(FIXTURES.glob("*.json"))
]
SECRET = "kci-shared-secret-1"
AUTH = {"authorization": f"Bearer {SECRET}"}
#: Every answer the receiver may give to bad input (and 204 to good input).
ALLOWED = {204, 400, 401, 405, 413, 415, 422}


def fuzz_settings(share: float) -> settings:
    return settings(
        max_examples=max(10, int(FUZZ * share)),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- inputs ---------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)

#: Fragments that break parsers in interesting ways when spliced into a body.
HOSTILE = [
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e999999",
    b"-0",
    b"9" * 5000,
    b'"\\ud800"',
    b'"\\u0000"',
    b"\x00",
    b"\xef\xbb\xbf",  # a UTF-8 BOM
    b"\xff\xfe",
    b"[" * 200,
    b"{" * 200,
    b'{"a":' * 100,
    b'"' * 3,
    b"\\",
    b",,",
    b'"entityType": "SERVICE_TEST"',
    b'"sequenceNumber": -1',
    b'"entity": []',
    b"\r\n\r\n",
    "\u202e\ufeff\U0010ffff".encode(),
]


def _locations(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _locations(child, (*path, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _locations(child, (*path, index))


def _mutate(doc: Any, path: tuple[Any, ...], op: str, value: Any) -> Any:
    if not path:
        return value if op != "wrap" else [doc]
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    key = path[-1]
    if op == "delete":
        del parent[key]
    elif op == "replace":
        parent[key] = value
    elif op == "wrap":
        parent[key] = {"value": parent[key]} if isinstance(value, bool) else [parent[key]]
    elif op == "stringify":
        parent[key] = json.dumps(parent[key])
    elif op == "nest":
        deep: Any = parent[key]
        for _ in range(70):
            deep = [deep]
        parent[key] = deep
    return doc


@st.composite
def mutated_documents(draw: st.DrawFn) -> Any:
    """A published KCI with 0-3 structural mutations."""
    doc: Any = copy.deepcopy(draw(st.sampled_from(PUBLISHED)))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(list(_locations(doc))))
        op = draw(st.sampled_from(["delete", "replace", "replace", "wrap", "stringify", "nest"]))
        if op == "delete" and not path:
            op = "replace"
        doc = _mutate(doc, path, op, draw(json_values))
    return doc


@st.composite
def damaged_bytes(draw: st.DrawFn) -> bytes:
    """A (possibly mutated) KCI serialised, then damaged at the byte level."""
    doc = draw(mutated_documents()) if draw(st.booleans()) else draw(st.sampled_from(PUBLISHED))
    data = bytearray(json.dumps(doc, ensure_ascii=draw(st.booleans())).encode())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "cut", "splice", "drop"]))
        if kind == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[at:]
        elif kind == "splice":
            data[at:at] = draw(st.sampled_from(HOSTILE))
        elif kind == "drop" and at < len(data):
            del data[at : at + draw(st.integers(1, 16))]
    if draw(st.integers(0, 20)) == 0:
        return bytes(data).decode("utf-8", "replace").encode("utf-16")
    return bytes(data)


kci_bodies = (
    mutated_documents().map(lambda d: json.dumps(d).encode())
    | damaged_bytes()
    | st.binary(max_size=300)
)


def _outcome(body: Any) -> str:
    try:
        kci = parse_kci(body)
    except KciParseError as exc:
        text = str(exc)
    else:
        assert isinstance(kci, ServiceTestKci | GenericKci)
        return "parsed"
    assert text.startswith("invalid KCI")
    return "refused"


# -- parse_kci -------------------------------------------------------------------------------


@fuzz_settings(1.0)
@given(mutated_documents())
def test_parse_kci_mutated_documents(doc: Any) -> None:
    _outcome(json.dumps(doc).encode())
    if isinstance(doc, dict):
        _outcome(doc)  # the already-decoded form takes the other path


@fuzz_settings(1.0)
@given(damaged_bytes())
def test_parse_kci_damaged_bytes(body: bytes) -> None:
    _outcome(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return
    _outcome(text)


@fuzz_settings(0.5)
@given(st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=8).map(b"".join))
def test_parse_kci_hostile_fragments(body: bytes) -> None:
    _outcome(body)


# -- the receiver ------------------------------------------------------------------------------


def new_receiver() -> KciReceiver:
    receiver = KciReceiver(verifier=BearerTokenVerifier(SECRET), in_flight_timeout=0.5)
    receiver.on_any(lambda kci: None)
    return receiver


def assert_documented_answer(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status in ALLOWED, (status, body[:300])
    if status == 204:
        assert body == b""
        return
    assert headers.get("content-type") == "application/json"
    error = json.loads(body)
    assert set(error) == {"uuid", "code", "messages"}
    assert error["code"] in ("MALFORMED_REQUEST", "INVALID_REQUEST", "NOT_AUTHORISED")


content_types = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=utf-8",
        "application/vnd.kci+json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "",
        "application/json;;;",
    ]
)
authorizations = st.sampled_from(
    [
        *[AUTH["authorization"]] * 12,
        None,
        "Bearer ",
        "Bearer wrong",
        f"bearer {SECRET}",
        "Basic " + base64.b64encode(b"a:b").decode(),
        f"Bearer {SECRET}x",
        "Digest x",
    ]
)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[str, dict[str, str], bytes]:
    """A delivery: method, headers (content type, length, auth, ids) and a fuzzed body.

    Half are well addressed (POST, JSON, authenticated, right length), so the body reaches
    the parser, the de-duplication store and the handlers.
    """
    body = draw(kci_bodies)
    if draw(st.booleans()):
        clean = {**AUTH, "content-type": "application/json", "content-length": str(len(body))}
        return "POST", clean, body
    headers: dict[str, str] = {}
    content_type = draw(content_types)
    if content_type is not None:
        headers["content-type"] = content_type
    authorization = draw(authorizations)
    if authorization is not None:
        headers["authorization"] = authorization
    length = draw(st.sampled_from(["right", "right", "absent", "garbage", "huge", "short"]))
    if length == "right":
        headers["content-length"] = str(len(body))
    elif length == "garbage":
        headers["content-length"] = draw(st.sampled_from(["-1", "abc", "1e3", " ", "0x10"]))
    elif length == "huge":
        headers["content-length"] = str(DEFAULT_MAX_BYTES * 100)
    elif length == "short":
        headers["content-length"] = str(max(0, len(body) - 1))
    if draw(st.booleans()):
        headers["x-request-id"] = draw(st.text(max_size=40))
    method = draw(st.sampled_from(["POST"] * 16 + ["GET", "PUT", "DELETE", "post", "PATCH"]))
    return method, headers, body


@fuzz_settings(1.0)
@given(deliveries())
def test_receiver_handle_never_answers_500(delivery: tuple[str, dict[str, str], bytes]) -> None:
    method, headers, body = delivery
    response = new_receiver().handle(method, headers, body)
    assert_documented_answer(response.status, dict(response.headers), response.body)


@fuzz_settings(0.25)
@given(deliveries())
def test_receiver_handle_async_never_answers_500(
    delivery: tuple[str, dict[str, str], bytes],
) -> None:
    method, headers, body = delivery
    response = asyncio.run(new_receiver().handle_async(method, headers, body))
    assert_documented_answer(response.status, dict(response.headers), response.body)


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, str]]:
    """The same receiver served as ASGI (uvicorn) and as WSGI (stdlib), on 127.0.0.1."""
    receiver = new_receiver()
    servers: list[LoopbackServer] = [
        serve_asgi(receiver.asgi_app()),
        serve_wsgi(receiver.wsgi_app()),
    ]
    try:
        yield {"asgi": servers[0].url + "/kcis", "wsgi": servers[1].url + "/kcis"}
    finally:
        for server in servers:
            server.stop()


def _wire_headers(headers: dict[str, str]) -> dict[str, str]:
    """What can go on the wire: printable ASCII values, no hand-made Content-Length."""
    return {
        name: value
        for name, value in headers.items()
        if name != "content-length"
        and value.isascii()
        and value.isprintable()
        and value == value.strip()
    }


@pytest.mark.network
@pytest.mark.parametrize("adapter", ["asgi", "wsgi"])
def test_receiver_over_real_sockets_never_answers_500(served: dict[str, str], adapter: str) -> None:
    url = served[adapter]
    seen: set[int] = set()
    with httpx.Client(timeout=10.0) as http:

        @fuzz_settings(0.25)
        @given(deliveries())
        def one(delivery: tuple[str, dict[str, str], bytes]) -> None:
            method, headers, body = delivery
            method = method.upper()
            response = http.request(method, url, content=body, headers=_wire_headers(headers))
            seen.add(response.status_code)
            assert_documented_answer(response.status_code, dict(response.headers), response.content)

        one()
    assert 204 in seen  # the fuzzer reached both sides of the parser
    assert 400 in seen


# -- bounded memory --------------------------------------------------------------------------


def peak_of(work: Callable[[], object]) -> tuple[object, int]:
    """What ``work()`` returned (or raised) and the peak of memory it allocated."""
    tracemalloc.start()
    try:
        try:
            result: object = work()
        except Exception as exc:
            result = exc
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


MIB = 1024 * 1024


@pytest.fixture(scope="module")
def benign_peak() -> int:
    """Memory needed to parse a valid KCI of about 1 MiB (30,000 characteristics)."""
    doc = copy.deepcopy(PUBLISHED[0])
    doc["entity"]["characteristics"] = [{"name": f"N{i}", "value": "v"} for i in range(30_000)]
    body = json.dumps(doc).encode()
    assert len(body) < DEFAULT_MAX_BYTES
    result, peak = peak_of(lambda: parse_kci(body))
    assert not isinstance(result, Exception), result
    return peak


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        b'{"id": "x", "entity": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b"[" * 1_000_000,  # unbalanced, and near the size limit
        b"[" + b'"a",' * 200_000 + b"[" * 80 + b"]" * 80 + b"]",  # many strings, too deep
    ],
    ids=["arrays", "objects", "inside-a-kci", "unbalanced", "strings"],
)
def test_hostile_nesting_is_refused_in_bounded_memory(body: bytes, benign_peak: int) -> None:
    """100k-deep nesting is refused, needing no more memory than a valid KCI of the limit's
    size (the cost is linear in the body, which the size limit caps; never in the depth)."""
    result, peak = peak_of(lambda: parse_kci(body))
    assert isinstance(result, KciParseError)
    assert peak < 2 * benign_peak, f"{peak / MIB:.1f} MiB vs {benign_peak / MIB:.1f} MiB"


def test_a_50_mib_body_is_refused_without_being_parsed() -> None:
    body = b'{"id": "' + b"x" * (50 * MIB) + b'"}'
    result, peak = peak_of(lambda: parse_kci(body))
    assert isinstance(result, KciParseError)
    assert "over the" in str(result)
    assert peak < MIB


class _Receive:
    """An ASGI ``receive`` offering a 50 MiB body in 64 KiB chunks, counting what was taken."""

    def __init__(self, total: int = 50 * MIB, chunk: int = 65_536) -> None:
        self.chunk = b"x" * chunk
        self.left = total
        self.calls = 0

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        size = min(len(self.chunk), self.left)
        self.left -= size
        return {"type": "http.request", "body": self.chunk[:size], "more_body": self.left > 0}


async def _asgi_answer(headers: list[tuple[bytes, bytes]], receive: _Receive) -> list[Any]:
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/kcis", "headers": headers}
    await new_receiver().asgi_app()(scope, receive, send)
    return sent


@pytest.mark.parametrize("declared", [False, True], ids=["streamed", "declared-length"])
def test_asgi_adapter_stops_reading_past_the_limit(declared: bool) -> None:
    receive = _Receive()
    headers = [
        (b"content-type", b"application/json"),
        (b"authorization", AUTH["authorization"].encode()),
    ]
    if declared:
        headers.append((b"content-length", str(50 * MIB).encode()))
    result, peak = peak_of(lambda: asyncio.run(_asgi_answer(headers, receive)))
    assert isinstance(result, list)
    assert result[0]["status"] == 400
    limit_chunks = DEFAULT_MAX_BYTES // len(receive.chunk) + 1
    # A declared length over the limit is refused before any read; a stream is abandoned
    # as soon as it passes the limit.
    assert receive.calls == (0 if declared else limit_chunks)
    assert peak < 3 * DEFAULT_MAX_BYTES


class _Stream:
    """A WSGI input of 50 MiB that counts the bytes read from it."""

    def __init__(self, total: int = 50 * MIB) -> None:
        self.left = total
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        self.left -= size
        self.read_bytes += size
        return b"x" * size


@pytest.mark.parametrize("declared", [False, True], ids=["terminated-stream", "declared-length"])
def test_wsgi_adapter_stops_reading_past_the_limit(declared: bool) -> None:
    stream = _Stream()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/json",
        "HTTP_AUTHORIZATION": AUTH["authorization"],
        "wsgi.input": stream,
        "wsgi.input_terminated": True,
    }
    if declared:
        environ["CONTENT_LENGTH"] = str(50 * MIB)
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)
        return lambda data: None

    result, peak = peak_of(lambda: b"".join(new_receiver().wsgi_app()(environ, start_response)))
    assert isinstance(result, bytes)
    assert statuses[0].startswith("400")
    assert stream.read_bytes == (0 if declared else DEFAULT_MAX_BYTES + 1)
    assert peak < 3 * DEFAULT_MAX_BYTES
