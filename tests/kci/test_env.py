"""verifier_from_env: each mode, and clear errors that never echo a secret."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from joserfc.jwk import RSAKey

from fibrecafe_client import (
    BasicAuthVerifier,
    BearerTokenVerifier,
    ConfigurationError,
    JwtVerifier,
    NoAuth,
    verifier_from_env,
)

SECRET = "canary-kci-secret-7f3a"


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def test_basic_mode_accepts_only_the_configured_pair() -> None:
    verifier = verifier_from_env(
        {
            "FIBRECAFE_KCI_AUTH": "Basic",
            "FIBRECAFE_KCI_USERNAME": "gw",
            "FIBRECAFE_KCI_PASSWORD": SECRET,
        }
    )
    assert isinstance(verifier, BasicAuthVerifier)
    assert verifier.verify(basic("gw", SECRET)) is None
    assert verifier.verify(basic("gw", "wrong")) is not None


def test_bearer_mode_accepts_each_rotated_token() -> None:
    verifier = verifier_from_env(
        {"FIBRECAFE_KCI_AUTH": "bearer", "FIBRECAFE_KCI_TOKEN": f"old, {SECRET}"}
    )
    assert isinstance(verifier, BearerTokenVerifier)
    assert verifier.verify({"authorization": f"Bearer {SECRET}"}) is None
    assert verifier.verify({"authorization": "Bearer old"}) is None
    assert verifier.verify({"authorization": "Bearer other"}) is not None


def test_jwt_mode_reads_the_key_set_from_a_file(tmp_path: Path) -> None:
    key = RSAKey.generate_key(2048, private=False)
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    verifier = verifier_from_env(
        {
            "FIBRECAFE_KCI_AUTH": "jwt",
            "FIBRECAFE_KCI_JWKS_FILE": str(path),
            "FIBRECAFE_KCI_ISSUER": "https://auth.example",
            "FIBRECAFE_KCI_AUDIENCE": "kcis, other",
        }
    )
    assert isinstance(verifier, JwtVerifier)
    assert verifier.verify({}) is not None


def test_none_mode_is_explicit_and_a_custom_prefix_works() -> None:
    assert isinstance(verifier_from_env({"HOOK_AUTH": "none"}, prefix="HOOK_"), NoAuth)


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIBRECAFE_KCI_AUTH", "bearer")
    monkeypatch.setenv("FIBRECAFE_KCI_TOKEN", SECRET)
    assert isinstance(verifier_from_env(), BearerTokenVerifier)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "set FIBRECAFE_KCI_AUTH to basic, bearer, jwt or none"),
        ({"FIBRECAFE_KCI_AUTH": "digest"}, "set FIBRECAFE_KCI_AUTH"),
        (
            {"FIBRECAFE_KCI_AUTH": "basic", "FIBRECAFE_KCI_PASSWORD": SECRET},
            "needs FIBRECAFE_KCI_USERNAME",
        ),
        (
            {"FIBRECAFE_KCI_AUTH": "basic", "FIBRECAFE_KCI_USERNAME": "gw"},
            "needs FIBRECAFE_KCI_PASSWORD",
        ),
        (
            {"FIBRECAFE_KCI_AUTH": "bearer", "FIBRECAFE_KCI_TOKEN": " , "},
            "needs at least one|secret",
        ),
        ({"FIBRECAFE_KCI_AUTH": "jwt"}, "needs FIBRECAFE_KCI_JWKS_FILE"),
        ({"FIBRECAFE_KCI_AUTH": "jwt", "FIBRECAFE_KCI_JWKS": SECRET}, "not valid JSON"),
        (
            {"FIBRECAFE_KCI_AUTH": "jwt", "FIBRECAFE_KCI_JWKS_FILE": "/nonexistent/jwks.json"},
            "cannot read FIBRECAFE_KCI_JWKS_FILE",
        ),
        (
            {
                "FIBRECAFE_KCI_AUTH": "jwt",
                "FIBRECAFE_KCI_JWKS": json.dumps({"keys": [{"kty": "nope"}]}),
                "FIBRECAFE_KCI_ISSUER": "i",
                "FIBRECAFE_KCI_AUDIENCE": "a",
            },
            "not a usable key set",
        ),
    ],
)
def test_bad_settings_name_the_variable_never_the_secret(env: dict[str, str], message: str) -> None:
    with pytest.raises((ConfigurationError, ValueError), match=message) as caught:
        verifier_from_env(env)
    assert SECRET not in str(caught.value)
