"""Cheap imports and no credential in logs, reprs or answers."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from fibrecafe_client import (
    BasicAuthVerifier,
    BearerTokenVerifier,
    JwtVerifier,
    Kci,
    KciReceiver,
    KciVerifier,
)

from .conftest import KciFactory

CANARY_PASSWORD = "canary-pw-7Qz"
CANARY_TOKEN = "canary-token-3Jx"


def test_importing_the_sdk_does_not_load_the_jose_stack() -> None:
    code = (
        "import sys, fibrecafe_client\n"
        "from fibrecafe_client import KciReceiver, NoAuth, parse_kci\n"
        "KciReceiver(verifier=NoAuth())\n"
        "print(sorted(m for m in ('joserfc', 'cryptography', 'authlib.jose') if m in sys.modules))"
    )
    result = subprocess.run(  # noqa: S603 - a fixed command: this interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k"})


def _token(key: RSAKey, **claims: Any) -> str:
    base = {"iss": "iss", "aud": "aud", "exp": 2_000_000_000, **claims}
    return jwt.encode({"alg": "RS256", "kid": "k"}, base, key)


def test_no_credential_reaches_logs_reprs_or_answers(
    key: RSAKey, make_kci: KciFactory, caplog: pytest.LogCaptureFixture
) -> None:
    good_jwt = _token(key)
    bad_jwt = _token(key, iss="wrong")
    jwks = {"keys": [key.as_dict(private=False)]}
    cases: list[tuple[KciVerifier, str]] = [
        (BasicAuthVerifier("gw", CANARY_PASSWORD), _basic("gw", CANARY_PASSWORD)),
        (BearerTokenVerifier(CANARY_TOKEN), f"Bearer {CANARY_TOKEN}"),
        (JwtVerifier(jwks, issuer="iss", audience="aud"), f"Bearer {good_jwt}"),
    ]
    secrets = [CANARY_PASSWORD, CANARY_TOKEN, good_jwt, bad_jwt, good_jwt.split(".")[2]]
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for verifier, good_header in cases:
            receiver = KciReceiver(verifier=verifier)

            @receiver.on_any
            def explode(kci: Kci) -> None:
                raise RuntimeError("handler bug")

            texts.append(repr(receiver))
            for header in (
                good_header,
                good_header + "x",
                f"Bearer {bad_jwt}",
                _basic(CANARY_TOKEN, CANARY_PASSWORD),
            ):
                headers = {"Authorization": header, "Content-Type": "application/json"}
                for payload in (json.dumps(make_kci()).encode(), b"{"):
                    response = receiver.handle("POST", headers, payload)
                    texts.append(repr(response))
                    assert response.status in {400, 401, 500}
    texts.append(caplog.text)
    texts.extend(str(record.args) for record in caplog.records)
    everything = "\n".join(texts)
    assert "not authorised" in everything  # the refusals were really exercised
    assert "handling failed" in everything
    for secret in secrets:
        assert secret not in everything
    assert base64.b64encode(f"gw:{CANARY_PASSWORD}".encode()).decode() not in everything


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
