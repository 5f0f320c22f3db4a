"""The receiver through both adapters (ASGI under uvicorn, WSGI under the stdlib server), on real
sockets on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from fibrecafe_client import (
    BasicAuthVerifier,
    BearerTokenVerifier,
    InMemoryKciStore,
    JwtVerifier,
    Kci,
    KciClaim,
    KciClaimResult,
    KciReceiver,
    KciVerifier,
    NoAuth,
)

from .conftest import KciFactory, Serve

pytestmark = pytest.mark.network

NOW = 1_714_000_000
ISSUER = "https://auth.fibregateway.example/"
AUDIENCE = "tenant-kcis"
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def gateway_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "gw"})


@pytest.fixture(scope="module")
def impostor_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "gw"})


def signed(key: RSAKey, **overrides: Any) -> str:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "iat": NOW, "exp": NOW + 300, **overrides}
    return jwt.encode({"alg": "RS256", "kid": "gw"}, claims, key)


def post(http: httpx.Client, url: str, doc: Any, **headers: str) -> httpx.Response:
    content = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return http.post(url, content=content, headers={**JSON, **headers})


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error: dict[str, Any] = response.json()
    assert set(error) == {"uuid", "code", "messages"}
    assert error["code"] == code
    assert error["messages"]
    return error


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


AuthCase = tuple[str, Callable[[RSAKey, RSAKey], str | None], bool]

AUTH_CASES: dict[str, list[AuthCase]] = {
    "basic": [
        ("right credentials", lambda g, i: basic("gateway", "pw-1"), True),
        ("wrong password", lambda g, i: basic("gateway", "pw-2"), False),
        ("no header", lambda g, i: None, False),
    ],
    "bearer": [
        ("right secret", lambda g, i: "Bearer tok-1", True),
        ("wrong secret", lambda g, i: "Bearer tok-2", False),
        ("basic instead", lambda g, i: basic("tok-1", "x"), False),
    ],
    "jwt": [
        ("valid", lambda g, i: f"Bearer {signed(g)}", True),
        ("wrong issuer", lambda g, i: f"Bearer {signed(g, iss='https://evil/')}", False),
        ("wrong audience", lambda g, i: f"Bearer {signed(g, aud='other')}", False),
        ("expired", lambda g, i: f"Bearer {signed(g, exp=NOW - 120)}", False),
        ("bad signature", lambda g, i: f"Bearer {signed(i)}", False),
        ("malformed", lambda g, i: "Bearer not.a.jwt", False),
        ("no header", lambda g, i: None, False),
    ],
    "none": [("no header", lambda g, i: None, True)],
}


def make_verifier(mode: str, gateway_key: RSAKey) -> KciVerifier:
    if mode == "basic":
        return BasicAuthVerifier("gateway", "pw-1")
    if mode == "bearer":
        return BearerTokenVerifier("tok-1")
    if mode == "jwt":
        jwks = {"keys": [gateway_key.as_dict(private=False)]}
        return JwtVerifier(jwks, issuer=ISSUER, audience=AUDIENCE, now=lambda: NOW)
    return NoAuth()


@pytest.mark.parametrize(
    ("mode", "case", "make_header", "accepted"),
    [(mode, *case) for mode, cases in AUTH_CASES.items() for case in cases],
    ids=[f"{mode}-{case[0]}" for mode, cases in AUTH_CASES.items() for case in cases],
)
def test_auth_modes(
    *,
    serve: Serve,
    http: httpx.Client,
    make_kci: KciFactory,
    gateway_key: RSAKey,
    impostor_key: RSAKey,
    mode: str,
    case: str,
    make_header: Callable[[RSAKey, RSAKey], str | None],
    accepted: bool,
) -> None:
    receiver = KciReceiver(verifier=make_verifier(mode, gateway_key))
    handled: list[str] = []
    receiver.on_any(lambda kci: handled.append(kci.id))
    url = serve(receiver)
    header = make_header(gateway_key, impostor_key)
    headers = {} if header is None else {"authorization": header}

    response = post(http, url, make_kci(), **headers)

    if accepted:
        assert response.status_code == 204
        assert response.content == b""
        assert len(handled) == 1
    else:
        assert_error(response, 401, "NOT_AUTHORISED")
        assert handled == []


def test_request_headers_reach_the_handler(
    serve: Serve, http: httpx.Client, make_kci: KciFactory
) -> None:
    receiver = KciReceiver(verifier=NoAuth())
    seen: list[Kci] = []
    receiver.on_any(seen.append)
    url = serve(receiver)

    response = post(http, url, make_kci(), **{"X-Request-ID": "r-9", "X-Conversation-ID": "c-9"})

    assert response.status_code == 204
    assert (seen[0].request_id, seen[0].conversation_id) == ("r-9", "c-9")


def test_duplicate_delivery_is_acknowledged_and_handled_once(
    serve: Serve, http: httpx.Client, make_kci: KciFactory
) -> None:
    receiver = KciReceiver(verifier=NoAuth())
    handled: list[str] = []
    receiver.on_any(lambda kci: handled.append(kci.id))
    url = serve(receiver)
    doc = make_kci()

    responses = [post(http, url, doc) for _ in range(3)]

    assert [r.status_code for r in responses] == [204, 204, 204]
    assert handled == [doc["id"]]


class SignallingStore(InMemoryKciStore):
    """Sets ``in_flight_seen`` when a claim finds the KCI in flight (a concurrent duplicate)."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight_seen = threading.Event()

    def claim(self, key: str, lease: float) -> KciClaimResult:
        result = super().claim(key, lease)
        if result.state is KciClaim.IN_FLIGHT:
            self.in_flight_seen.set()
        return result


@pytest.fixture
def concurrent_pair(
    serve: Serve, make_kci: KciFactory
) -> Callable[[Callable[[int], None]], tuple[list[int], int]]:
    """Deliver one KCI twice at once: the first delivery's handler blocks until the second is
    seen waiting on the claim. Returns the statuses and how often the handler ran."""

    def run(behaviour: Callable[[int], None]) -> tuple[list[int], int]:
        store = SignallingStore()
        receiver = KciReceiver(verifier=NoAuth(), store=store, in_flight_timeout=10)
        calls: list[int] = []
        entered = threading.Event()

        @receiver.on_any
        def handler(kci: Kci) -> None:
            calls.append(1)
            if len(calls) == 1:
                entered.set()
                assert store.in_flight_seen.wait(10), "the duplicate never arrived"
            behaviour(len(calls))

        url = serve(receiver)
        doc = make_kci()
        statuses: list[int] = []
        lock = threading.Lock()

        def deliver() -> None:
            with httpx.Client(timeout=20) as client:
                status = post(client, url, doc).status_code
            with lock:
                statuses.append(status)

        first = threading.Thread(target=deliver)
        first.start()
        assert entered.wait(10)
        second = threading.Thread(target=deliver)
        second.start()
        first.join(20)
        second.join(20)
        return sorted(statuses), len(calls)

    return run


def test_concurrent_duplicate_is_handled_once(
    concurrent_pair: Callable[[Callable[[int], None]], tuple[list[int], int]],
) -> None:
    statuses, calls = concurrent_pair(lambda attempt: None)
    assert statuses == [204, 204]
    assert calls == 1


def test_concurrent_duplicate_takes_over_when_the_first_fails(
    concurrent_pair: Callable[[Callable[[int], None]], tuple[list[int], int]],
) -> None:
    def fail_first(attempt: int) -> None:
        if attempt == 1:
            raise RuntimeError("first attempt fails")

    statuses, calls = concurrent_pair(fail_first)
    assert statuses == [204, 500]
    assert calls == 2


@pytest.mark.parametrize("policy", ["deliver", "drop"])
def test_out_of_order_sequence(
    serve: Serve, http: httpx.Client, make_kci: KciFactory, policy: Any
) -> None:
    receiver = KciReceiver(verifier=NoAuth(), stale=policy)
    seen: list[tuple[int, bool]] = []
    receiver.on_any(lambda kci: seen.append((kci.sequence_number, kci.is_stale)))
    url = serve(receiver)

    for sequence in (2, 1, 3):
        assert post(http, url, make_kci(sequence_number=sequence)).status_code == 204

    if policy == "deliver":
        assert seen == [(2, False), (1, True), (3, False)]
    else:
        assert seen == [(2, False), (3, False)]


def test_handler_failure_gives_500_and_a_later_redelivery_is_handled(
    serve: Serve, http: httpx.Client, make_kci: KciFactory
) -> None:
    receiver = KciReceiver(verifier=NoAuth())
    attempts: list[int] = []

    @receiver.on_any
    def flaky(kci: Kci) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("downstream unavailable")

    url = serve(receiver)
    doc = make_kci()

    assert_error(post(http, url, doc), 500, "TENANT_FAULT")
    assert post(http, url, doc).status_code == 204
    assert post(http, url, doc).status_code == 204
    assert len(attempts) == 2


def test_oversize_body_gives_400_with_the_error_body(
    serve: Serve, http: httpx.Client, make_kci: KciFactory
) -> None:
    receiver = KciReceiver(verifier=NoAuth(), max_body_bytes=2048)
    handled: list[str] = []
    receiver.on_any(lambda kci: handled.append(kci.id))
    url = serve(receiver)

    response = post(http, url, make_kci(padding="x" * 4096))

    error = assert_error(response, 400, "MALFORMED_REQUEST")
    assert "2048-byte limit" in error["messages"][0]
    assert handled == []
    assert post(http, url, make_kci()).status_code == 204  # the server is still fine


def test_oversize_streamed_body_without_length_gives_400(
    switches: Any, http: httpx.Client, make_kci: KciFactory
) -> None:
    switch, server = switches["asgi"]
    switch.receiver = KciReceiver(verifier=NoAuth(), max_body_bytes=4096)
    try:

        def chunks() -> Iterator[bytes]:
            for _ in range(64):
                yield b"x" * 1024

        response = http.post(f"{server.url}/kcis", content=chunks(), headers=JSON)
        error = assert_error(response, 400, "MALFORMED_REQUEST")
        assert "4096-byte limit" in error["messages"][0]
    finally:
        switch.receiver = None


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (b"", 400, "MALFORMED_REQUEST"),
        (b"{", 400, "MALFORMED_REQUEST"),
        (b"\xff\xfe\x00", 400, "MALFORMED_REQUEST"),
        (b"[1,2,3]", 400, "MALFORMED_REQUEST"),
        (b'{"id": "x"}', 400, "MALFORMED_REQUEST"),
        (b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}", 400, "MALFORMED_REQUEST"),
    ],
)
def test_malformed_bodies_give_400_never_500(
    serve: Serve, http: httpx.Client, payload: bytes, status: int, code: str
) -> None:
    url = serve(KciReceiver(verifier=NoAuth()))
    assert_error(post(http, url, payload), status, code)


def test_invalid_values_give_422(serve: Serve, http: httpx.Client, make_kci: KciFactory) -> None:
    url = serve(KciReceiver(verifier=NoAuth()))
    error = assert_error(post(http, url, make_kci(deliveredOn="soon")), 422, "INVALID_REQUEST")
    assert error["messages"][0].startswith("deliveredOn: ")


def test_wrong_method_and_content_type(serve: Serve, http: httpx.Client) -> None:
    url = serve(KciReceiver(verifier=NoAuth()))

    response = http.get(url)
    assert_error(response, 405, "MALFORMED_REQUEST")
    assert response.headers["allow"] == "POST"
    response = http.post(url, content=b"id=1", headers={"content-type": "text/plain"})
    assert_error(response, 415, "MALFORMED_REQUEST")


def test_wait_for_sync_while_the_server_runs_in_another_thread(
    serve: Serve, make_kci: KciFactory
) -> None:
    receiver = KciReceiver(verifier=NoAuth())
    url = serve(receiver)
    printed: list[str] = []
    receiver.subscribe(lambda kci: printed.append(str(kci.entity_status)))

    def gateway() -> None:
        with httpx.Client(timeout=10) as client:
            for sequence, status in enumerate(["SENT_TO_SUPPLIER", "IN_PROGRESS", "COMPLETED"]):
                doc = make_kci(entity_id=31, status=status, sequence_number=sequence + 1)
                post(client, url, doc)

    sender = threading.Thread(target=gateway)
    sender.start()
    final = receiver.wait_for_sync(31, timeout=10)
    sender.join(10)

    assert final.entity_status == "COMPLETED"
    assert printed == ["SENT_TO_SUPPLIER", "IN_PROGRESS", "COMPLETED"]
