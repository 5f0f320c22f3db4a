"""Secrets: canaries never leak; TLS and plain-HTTP defaults; inbound KCI authentication.

The canary client secret and the canary tokens the bad gateway issues are looked for in:
logs at DEBUG (``FIBRECAFE_LOG=debug`` on stderr, and the root logger with httpx's and
httpcore's records), the reprs of every object that holds a credential, and the output of the
``fibrecafe`` command (text and ``--json``) run as a subprocess with the secret in its
environment, against a healthy and a failing token endpoint. (Every exception of the fault
matrix is checked in ``test_faults.py``.)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import ssl
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from fibrecafe_client import (
    AsyncFibreCafe,
    BasicAuthVerifier,
    BearerTokenVerifier,
    ConfigurationError,
    FibreCafe,
    FibreCafeError,
    JwtVerifier,
    KciReceiver,
    KciVerifier,
    RetryPolicy,
)
from fibrecafe_client.sandbox import SandboxConfig, Webhook

from .badserver import BadGateway, Behaviour, json_answer
from .canaries import CANARY_SECRET, CLIENT_ID, assert_clean, assert_clean_logs
from .runner import run_in_thread

pytestmark = pytest.mark.network

RETRY = RetryPolicy(max_retries=1, initial_backoff=0.01, max_backoff=0.02, deadline=5.0)
TIMEOUT = httpx.Timeout(5.0, read=0.5)
LIMIT = 30.0
CREATE_ARGS: dict[str, Any] = {
    "service_id": "BBEU00537760",
    "problem_type": "OUTAGE",
    "service_specification": "FTTP",
    "supplier": "FIBRECO",
    "characteristics": {"SERVICE_HAS_WORKED": "false"},
}
ECHO_401 = Behaviour(
    "401 echo", status=401, body=b'{"messages": ["refused {authorization}"]}', echo=True
)
ECHO_TOKEN_400 = json_answer(
    "400 echo", 400, {"error": "invalid_client", "error_description": "{authorization}"}, echo=True
)


def kwargs(bad: BadGateway) -> dict[str, Any]:
    return {
        "client_id": CLIENT_ID,
        "client_secret": CANARY_SECRET,
        "base_url": bad.base_url,
        "token_url": bad.token_url,
        "retry": RETRY,
        "timeout": TIMEOUT,
    }


#: The journey through every path that handles a credential: (API script, token script,
#: call). The kinds of what each step returns are checked, so it cannot quietly go elsewhere.
STEPS: list[tuple[tuple[Behaviour, ...], tuple[Behaviour, ...], str]] = [
    ((), (), "create"),
    ((ECHO_401,), (), "get"),  # refused once: a new token and a replay
    ((Behaviour("reset", after_read="reset"),), (), "create"),  # a broken connection
    ((ECHO_401, ECHO_401), (), "get"),  # refused twice: an error whose body echoes the token
    ((), (), "check"),  # a fresh token
    ((ECHO_401,), (ECHO_TOKEN_400,), "get"),  # the refresh refused, echoing the Basic header
]
EXPECTED_KINDS = [
    "ServiceTest",
    "ServiceTest",
    "APIConnectionError",
    "AuthenticationError",
    "TokenInfo",
    "TokenError",
]


def journey(bad: BadGateway, client: FibreCafe) -> list[object]:
    """Run :data:`STEPS` with a sync client; returns what each step returned or raised."""
    seen: list[object] = []
    for api, token, call in STEPS:
        bad.script("api", *api)
        bad.script("token", *token)
        try:
            if call == "create":
                seen.append(client.service_tests.create(**CREATE_ARGS))
            elif call == "get":
                seen.append(client.service_tests.get(7))
            else:
                seen.append(client.check_credentials())
        except FibreCafeError as exc:
            seen.append(exc)
    return seen


async def ajourney(bad: BadGateway, client: AsyncFibreCafe) -> list[object]:
    """Run :data:`STEPS` with an async client."""
    seen: list[object] = []
    for api, token, call in STEPS:
        bad.script("api", *api)
        bad.script("token", *token)
        try:
            if call == "create":
                seen.append(await client.service_tests.create(**CREATE_ARGS))
            elif call == "get":
                seen.append(await client.service_tests.get(7))
            else:
                seen.append(await client.check_credentials())
        except FibreCafeError as exc:
            seen.append(exc)
    return seen


@pytest.fixture
def debug_everywhere(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """FIBRECAFE_LOG=debug, and the root, httpx and httpcore loggers at DEBUG."""
    monkeypatch.setenv("FIBRECAFE_LOG", "debug")
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "fibrecafe_client"):
        caplog.set_level(logging.DEBUG, logger=name)


@pytest.mark.usefixtures("debug_everywhere")
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_no_canary_in_debug_logs_or_reprs(
    kind: str,
    bad: BadGateway,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    def sync_run() -> tuple[list[object], list[str]]:
        with FibreCafe(**kwargs(bad)) as client:
            seen = journey(bad, client)
            copy = client.with_options(max_retries=0)
            return seen, [repr(client), repr(copy), repr(client._auth), repr(client._config)]

    async def async_run() -> tuple[list[object], list[str]]:
        async with AsyncFibreCafe(**kwargs(bad)) as client:
            seen = await ajourney(bad, client)
            token = client._auth._token
            return seen, [repr(client), repr(client._auth), repr(client._config), repr(token)]

    work = sync_run if kind == "sync" else (lambda: asyncio.run(async_run()))
    outcome = run_in_thread(work, LIMIT, f"the {kind} journey")
    assert outcome.error is None, repr(outcome.error)
    seen, reprs = outcome.result
    assert [type(s).__name__ for s in seen] == EXPECTED_KINDS
    for thing in seen:
        assert_clean(repr(thing), f"repr of a {type(thing).__name__}")
        assert_clean(str(thing), f"str of a {type(thing).__name__}")
    for text in reprs:
        assert_clean(text, "a repr")
    assert_clean_logs(caplog.records, caplog.text)
    err = capfd.readouterr().err  # the FIBRECAFE_LOG=debug handler writes to stderr
    assert "fibrecafe_client" in err  # it was on
    assert_clean(err, "FIBRECAFE_LOG=debug output")
    # httpx and httpcore were logging too, and were checked.
    assert {"httpx", "httpcore.http11"} <= {r.name for r in caplog.records}


def test_no_secret_in_reprs_of_kci_and_sandbox_objects() -> None:
    rsa = RSAKey.generate_key(2048)
    reprs = [
        repr(BasicAuthVerifier("gateway", CANARY_SECRET)),
        repr(BearerTokenVerifier([CANARY_SECRET, "other-secret-2"])),
        repr(
            JwtVerifier(
                OctKey.import_key(CANARY_SECRET), issuer="i", audience="a", algorithms=["HS256"]
            )
        ),
        repr(JwtVerifier({"keys": [rsa.as_dict(private=False)]}, issuer="i", audience="a")),
        repr(KciReceiver(verifier=BearerTokenVerifier(CANARY_SECRET))),
        repr(Webhook("http://127.0.0.1:9/kcis", username="gw", password=CANARY_SECRET)),
        repr(Webhook("http://127.0.0.1:9/kcis", bearer_token=CANARY_SECRET)),
        repr(SandboxConfig(client_secret=CANARY_SECRET)),
        str(Webhook("http://127.0.0.1:9/kcis", bearer_token=CANARY_SECRET).describe()),
    ]
    for text in reprs:
        assert_clean(text, "a repr")


@pytest.mark.parametrize("make", [FibreCafe, AsyncFibreCafe])
def test_clients_refuse_pickling_without_echoing_the_secret(make: Callable[..., Any]) -> None:
    import pickle

    client = make(CLIENT_ID, CANARY_SECRET, base_url="https://gateway.example/v1")
    with pytest.raises(TypeError) as info:
        pickle.dumps(client)
    assert_clean(str(info.value), "the pickling refusal")


# -- the CLI ----------------------------------------------------------------------------------


def run_cli(bad: BadGateway, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIBRECAFE_")}
    env |= {
        "FIBRECAFE_CLIENT_ID": CLIENT_ID,
        "FIBRECAFE_CLIENT_SECRET": CANARY_SECRET,
        "FIBRECAFE_BASE_URL": bad.base_url,
        "FIBRECAFE_TOKEN_URL": bad.token_url,
        "FIBRECAFE_LOG": "debug",
    }
    return subprocess.run(  # noqa: S603 - this interpreter and our own module
        [sys.executable, "-m", "fibrecafe_client.cli", *args, "--timeout", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


TOKEN_FAILURES: dict[str, tuple[Behaviour, ...]] = {
    "healthy": (),
    "refused-with-echo": (ECHO_TOKEN_400,),
    "down": (Behaviour("503", status=503, body=b""),) * 3,
    "garbage": (Behaviour("html", body=b"<html>{authorization}</html>", echo=True),),
}


@pytest.mark.parametrize("failure", list(TOKEN_FAILURES))
@pytest.mark.parametrize(
    "command",
    [
        ["token"],
        ["token", "--json"],
        ["service-tests", "get", "42", "--json"],
        [
            "service-tests",
            "create",
            "--service-id",
            "BBEU00537760",
            "--problem-type",
            "OUTAGE",
            "--spec",
            "FTTP",
            "--supplier",
            "FIBRECO",
            "--characteristic",
            "SERVICE_HAS_WORKED=false",
            "--json",
        ],
    ],
    ids=["token", "token-json", "get-json", "create-json"],
)
def test_cli_output_never_shows_a_credential(
    bad: BadGateway, failure: str, command: list[str]
) -> None:
    bad.script("token", *TOKEN_FAILURES[failure])
    if failure == "healthy" and command[0] == "service-tests":
        bad.script("api", ECHO_401, ECHO_401)  # and the API echoes the token back, twice
    result = run_cli(bad, *command)
    assert_clean(result.stdout, f"stdout of fibrecafe {' '.join(command)}")
    assert_clean(result.stderr, f"stderr of fibrecafe {' '.join(command)}")
    assert "Traceback" not in result.stderr
    if failure == "healthy" and command[0] == "token":
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 1, result.stderr
        assert "error:" in result.stderr
    assert bad.seen("token") >= 1  # the command really went to the token endpoint


# -- TLS and plain HTTP -----------------------------------------------------------------------


def _ssl_context(client: FibreCafe | AsyncFibreCafe) -> ssl.SSLContext:
    transport: Any = client._pool.get()._transport
    context: ssl.SSLContext = transport._pool._ssl_context
    return context


@pytest.mark.parametrize("make", [FibreCafe, AsyncFibreCafe])
def test_tls_verification_is_on_by_default(make: Callable[..., Any]) -> None:
    client = make(CLIENT_ID, CANARY_SECRET, environment="cvt")
    context = _ssl_context(client)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert client.base_url.startswith("https://")
    assert client._config.token_url.startswith("https://")


@pytest.mark.parametrize(
    "url",
    [
        "http://gateway.example/v1",
        "http://10.0.0.8/v1",
        "http://0.0.0.0:8080/v1",
        "http://127.0.0.1.example.com/v1",
        "http://localhost.example.com/v1",
        "http://[::ffff:8.8.8.8]/v1",
    ],
)
@pytest.mark.parametrize("where", ["base_url", "token_url", "env"])
def test_plain_http_to_a_non_loopback_host_is_refused(
    url: str, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    options: dict[str, Any] = {"client_id": CLIENT_ID, "client_secret": CANARY_SECRET}
    if where == "env":
        monkeypatch.setenv("FIBRECAFE_BASE_URL", url)
    elif where == "token_url":
        options |= {"base_url": "https://gateway.example/v1", "token_url": url}
    else:
        options["base_url"] = url
    with pytest.raises(ConfigurationError, match="clear text") as info:
        FibreCafe(**options)
    assert_clean(str(info.value), "the refusal")
    # Only an explicit opt-in lets it through.
    FibreCafe(**options, allow_insecure_http=True).close()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8123/v1", "http://localhost:8123/v1", "http://[::1]:8123/v1"]
)
def test_plain_http_to_loopback_is_allowed(url: str) -> None:
    FibreCafe(CLIENT_ID, CANARY_SECRET, base_url=url).close()


def test_a_redirect_is_not_followed(bad: BadGateway) -> None:
    """A 3xx could send the bearer token elsewhere (or downgrade to http): never followed."""
    target = bad.url("token") + "/elsewhere"
    bad.script("api", Behaviour("302", status=302, body=b"", headers=(("location", target),)))
    with FibreCafe(**kwargs(bad)) as client, pytest.raises(FibreCafeError) as info:
        client.service_tests.get(1)
    assert getattr(info.value, "status_code", None) == 302
    assert [r.path for r in bad.records if r.listener == "token"] == [
        "/v1/auth/tenant/access-token"
    ]


# -- inbound KCI authentication ---------------------------------------------------------------


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "gw"})


NOW = 1_714_000_000


def signed(key: Any, alg: str = "RS256", **claims: Any) -> str:
    body = {"iss": "gw", "aud": "tenant", "iat": NOW, "exp": NOW + 300, **claims}
    return jwt.encode({"alg": alg, "kid": "gw"}, body, key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(**claims: Any) -> str:
    body = {"iss": "gw", "aud": "tenant", "exp": NOW + 300, **claims}
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(body).encode())}."


def verifiers(rsa_key: RSAKey) -> dict[str, tuple[KciVerifier, str, list[tuple[str, str | None]]]]:
    """Each verifier, a header it accepts, and the headers it must refuse (with why)."""
    jwks = {"keys": [rsa_key.as_dict(private=False)]}
    public_pem = rsa_key.as_pem(private=False)
    jwt_verifier = JwtVerifier(jwks, issuer="gw", audience="tenant", now=lambda: NOW)
    no_exp = jwt.encode({"alg": "RS256", "kid": "gw"}, {"iss": "gw", "aud": "tenant"}, rsa_key)
    impostor = RSAKey.generate_key(2048, parameters={"kid": "gw"})
    run_together = base64.b64encode(b"gateway" + CANARY_SECRET.encode()).decode()
    return {
        "basic": (
            BasicAuthVerifier("gateway", CANARY_SECRET),
            basic("gateway", CANARY_SECRET),
            [
                ("missing", None),
                ("empty", "Basic "),
                ("another scheme", f"Bearer {CANARY_SECRET}"),
                ("not base64", "Basic !!!not-base64!!!"),
                ("no colon", f"Basic {run_together}"),
                ("wrong password", basic("gateway", CANARY_SECRET + "x")),
                ("password prefix", basic("gateway", CANARY_SECRET[:-1])),
                ("wrong user", basic("gateway2", CANARY_SECRET)),
                ("non-ASCII", "Basic " + base64.b64encode("gatéway:ü".encode()).decode()),
            ],
        ),
        "bearer": (
            BearerTokenVerifier([CANARY_SECRET, "rotated-secret-2"]),
            f"Bearer {CANARY_SECRET}",
            [
                ("missing", None),
                ("empty", "Bearer "),
                ("another scheme", basic(CANARY_SECRET, "x")),
                ("wrong", "Bearer wrong-secret"),
                ("prefix", f"Bearer {CANARY_SECRET[:-1]}"),
                ("suffix", f"Bearer {CANARY_SECRET}x"),
                ("non-ASCII", "Bearer s\u00e9cret"),
            ],
        ),
        "jwt": (
            jwt_verifier,
            f"Bearer {signed(rsa_key)}",
            [
                ("missing", None),
                ("empty", "Bearer "),
                ("malformed", "Bearer not.a.jwt"),
                ("two parts", "Bearer abc.def"),
                ("garbage", "Bearer " + "A" * 500),
                ("expired", f"Bearer {signed(rsa_key, exp=NOW - 3600)}"),
                ("not yet valid", f"Bearer {signed(rsa_key, nbf=NOW + 3600)}"),
                ("no exp", f"Bearer {no_exp}"),
                ("wrong issuer", f"Bearer {signed(rsa_key, iss='evil')}"),
                ("wrong audience", f"Bearer {signed(rsa_key, aud='other')}"),
                ("alg none", f"Bearer {unsigned()}"),
                ("HS256 with the public key", f"Bearer {hs256_with(public_pem)}"),
                ("another key", f"Bearer {signed(impostor)}"),
            ],
        ),
    }


def hs256_with(secret: bytes) -> str:
    """The classic algorithm-confusion forgery: HMAC keyed with the public key."""
    header = _b64(json.dumps({"alg": "HS256", "kid": "gw"}).encode())
    claims = _b64(json.dumps({"iss": "gw", "aud": "tenant", "exp": NOW + 300}).encode())
    signature = hmac.new(secret, f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{_b64(signature)}"


def test_verifiers_reject_missing_malformed_and_expired_credentials(rsa_key: RSAKey) -> None:
    for name, (verifier, good, bad_headers) in verifiers(rsa_key).items():
        assert verifier.verify({"authorization": good}) is None, name
        for why, header in bad_headers:
            headers = {} if header is None else {"authorization": header}
            reason = verifier.verify(headers)
            assert reason is not None, f"{name} accepted {why}"
            assert_clean(reason, f"the {name} refusal reason")
            response = KciReceiver(verifier=verifier).handle(
                "POST", {**headers, "content-type": "application/json"}, b"{}"
            )
            assert response.status == 401, (name, why)
            assert_clean(response.body, f"the {name} 401 body")


def test_secret_comparisons_are_constant_time(
    rsa_key: RSAKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every credential check goes through hmac.compare_digest, with no early exit."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    basic_verifier = BasicAuthVerifier("gateway", CANARY_SECRET)
    assert basic_verifier.verify({"authorization": basic("gateway", "wrong")}) is not None
    assert len(calls) == 1
    # Several bearer secrets: every one is compared, match or not (the time says nothing).
    bearer = BearerTokenVerifier(["secret-one-1", "secret-two-2", "secret-three-3"])
    for token in ("secret-one-1", "secret-three-3", "nope"):
        calls.clear()
        bearer.verify({"authorization": f"Bearer {token}"})
        assert len(calls) == 3
        # Digests of equal length are compared: the length of a secret does not leak either.
        assert {len(a) for a, _ in calls} == {len(b) for _, b in calls} == {32}
    # An HMAC-signed JWT is checked with compare_digest too (inside joserfc).
    calls.clear()
    secret = OctKey.import_key(b"k" * 32)
    hs = JwtVerifier(secret, issuer="gw", audience="tenant", algorithms=["HS256"], now=lambda: NOW)
    assert hs.verify({"authorization": f"Bearer {signed(secret, alg='HS256')}"}) is None
    assert calls
