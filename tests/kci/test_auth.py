"""The verifiers: Basic, static bearer, JWT (keys generated here with joserfc), NoAuth."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from fibrecafe_client import (
    BasicAuthVerifier,
    BearerTokenVerifier,
    JwtVerifier,
    KciVerifier,
    NoAuth,
)

NOW = 1_714_000_000
ISSUER = "https://auth.fibregateway.example/"
AUDIENCE = "tenant-kcis"


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def signing_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "gw-1"})


@pytest.fixture(scope="module")
def other_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "gw-1"})  # same kid, other key


@pytest.fixture(scope="module")
def ec_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "gw-2"})


@pytest.fixture(scope="module")
def jwks(signing_key: RSAKey, ec_key: ECKey) -> dict[str, Any]:
    """The gateway's published key set (public halves only)."""
    return {"keys": [signing_key.as_dict(private=False), ec_key.as_dict(private=False)]}


def make_jwt(key: Any, *, alg: str = "RS256", kid: str = "gw-1", **overrides: Any) -> str:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "fibre-gateway",
        "iat": NOW - 5,
        "exp": NOW + 300,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": alg, "kid": kid}, claims, key, algorithms=[alg])


@pytest.fixture
def verifier(jwks: dict[str, Any]) -> JwtVerifier:
    return JwtVerifier(jwks, issuer=ISSUER, audience=AUDIENCE, leeway=30, now=lambda: NOW)


def test_every_verifier_fits_the_protocol(jwks: dict[str, Any]) -> None:
    verifiers: list[object] = [
        NoAuth(),
        BasicAuthVerifier("gw", "pw"),
        BearerTokenVerifier("s"),
        JwtVerifier(jwks, issuer=ISSUER, audience=AUDIENCE),
    ]
    assert all(isinstance(v, KciVerifier) for v in verifiers)


def test_no_auth_accepts_anything() -> None:
    assert NoAuth().verify({}) is None


class TestBasic:
    def test_accepts_the_right_credentials(self) -> None:
        verifier = BasicAuthVerifier("gateway", "pa:ss word")
        assert verifier.verify(basic("gateway", "pa:ss word")) is None
        lower = {"authorization": basic("gateway", "pa:ss word")["authorization"].lower()[:6]}
        lower["authorization"] += basic("gateway", "pa:ss word")["authorization"][6:]
        assert verifier.verify(lower) is None  # the scheme is case-insensitive

    @pytest.mark.parametrize(
        ("headers", "reason"),
        [
            ({}, "no Basic credentials"),
            (bearer("gateway:secret"), "no Basic credentials"),
            ({"authorization": "Basic"}, "no Basic credentials"),
            ({"authorization": "Basic !!!not-base64"}, "malformed Basic credentials"),
            (basic("gateway", "wrong"), "wrong Basic credentials"),
            (basic("someone", "secret"), "wrong Basic credentials"),
            (basic("gateway", "secret "), "wrong Basic credentials"),
        ],
    )
    def test_refuses(self, headers: dict[str, str], reason: str) -> None:
        assert BasicAuthVerifier("gateway", "secret").verify(headers) == reason

    def test_settings_and_repr(self) -> None:
        with pytest.raises(ValueError, match="must not be empty"):
            BasicAuthVerifier("", "x")
        with pytest.raises(ValueError, match="cannot contain"):
            BasicAuthVerifier("a:b", "x")
        text = repr(BasicAuthVerifier("canary-user", "canary-pass"))
        assert "canary" not in text


class TestBearer:
    def test_accepts_any_configured_secret(self) -> None:
        verifier = BearerTokenVerifier(["old-secret", "new-secret"])
        assert verifier.verify(bearer("old-secret")) is None
        assert verifier.verify(bearer("new-secret")) is None
        assert verifier.verify(bearer("other")) == "wrong bearer token"
        assert verifier.verify(bearer("new-secre")) == "wrong bearer token"

    @pytest.mark.parametrize(
        "headers",
        [{}, basic("a", "b"), {"authorization": "Bearer "}, {"authorization": "Token s3"}],
    )
    def test_refuses_without_a_token(self, headers: dict[str, str]) -> None:
        assert BearerTokenVerifier("s3").verify(headers) == "no bearer token"

    def test_non_ascii_tokens_are_compared_not_crashed(self) -> None:
        assert BearerTokenVerifier("s3").verify(bearer("s\udcff3")) == "wrong bearer token"
        assert BearerTokenVerifier("sé").verify(bearer("sé")) is None

    def test_settings_and_repr(self) -> None:
        with pytest.raises(ValueError, match="non-empty secret"):
            BearerTokenVerifier([])
        with pytest.raises(ValueError, match="non-empty secret"):
            BearerTokenVerifier("")
        assert "canary" not in repr(BearerTokenVerifier("canary-secret"))


class TestJwt:
    def test_accepts_a_valid_token(self, verifier: JwtVerifier, signing_key: RSAKey) -> None:
        assert verifier.verify(bearer(make_jwt(signing_key))) is None

    def test_accepts_an_audience_list_and_any_key_of_the_set(
        self, verifier: JwtVerifier, ec_key: ECKey
    ) -> None:
        token = make_jwt(ec_key, alg="ES256", kid="gw-2", aud=["other", AUDIENCE])
        assert verifier.verify(bearer(token)) is None

    def test_leeway_allows_small_clock_skew(
        self, verifier: JwtVerifier, signing_key: RSAKey
    ) -> None:
        assert verifier.verify(bearer(make_jwt(signing_key, exp=NOW - 20))) is None
        assert verifier.verify(bearer(make_jwt(signing_key, nbf=NOW + 20))) is None

    @pytest.mark.parametrize(
        ("overrides", "error"),
        [
            ({"iss": "https://evil.example/"}, "invalid_claim"),
            ({"aud": "someone-else"}, "invalid_claim"),
            ({"aud": ["a", "b"]}, "invalid_claim"),
            ({"exp": NOW - 31}, "expired_token"),
            ({"nbf": NOW + 60}, "invalid_claim"),
            ({"iat": NOW + 60}, "invalid_claim"),
            ({"exp": None}, "missing_claim"),
            ({"iss": None}, "missing_claim"),
            ({"aud": None}, "missing_claim"),
        ],
    )
    def test_refuses_bad_claims(
        self,
        verifier: JwtVerifier,
        signing_key: RSAKey,
        overrides: dict[str, Any],
        error: str,
    ) -> None:
        assert verifier.verify(bearer(make_jwt(signing_key, **overrides))) == (
            f"JWT refused ({error})"
        )

    def test_refuses_a_bad_signature(self, verifier: JwtVerifier, other_key: RSAKey) -> None:
        assert verifier.verify(bearer(make_jwt(other_key))) == "JWT refused (bad_signature)"

    def test_refuses_an_unknown_key_id(self, verifier: JwtVerifier, signing_key: RSAKey) -> None:
        reason = verifier.verify(bearer(make_jwt(signing_key, kid="gw-9")))
        assert reason == "JWT refused (invalid_key_id)"

    def test_refuses_unsigned_and_algorithm_confused_tokens(
        self, verifier: JwtVerifier, signing_key: RSAKey
    ) -> None:
        claims = json.dumps({"iss": ISSUER, "aud": AUDIENCE, "exp": NOW + 60}).encode()
        payload = _b64(claims)
        unsigned = _b64(b'{"alg":"none","kid":"gw-1"}') + "." + payload + "."
        assert verifier.verify(bearer(unsigned)) == "JWT refused (unsupported_algorithm)"
        # HS256 keyed with the public key's PEM: the classic RS/HS confusion.
        signing_input = _b64(b'{"alg":"HS256","kid":"gw-1"}') + "." + payload
        pem = signing_key.as_pem(private=False)
        mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
        confused = signing_input + "." + _b64(mac)
        assert verifier.verify(bearer(confused)) == "JWT refused (unsupported_algorithm)"

    @pytest.mark.parametrize(
        "token",
        ["abc", "a.b.c", "....", "eyJ.eyJ.sig", "\udcff.x.y", "a" * 5000],
    )
    def test_refuses_malformed_tokens(self, verifier: JwtVerifier, token: str) -> None:
        reason = verifier.verify(bearer(token))
        assert reason is not None
        assert reason.startswith("JWT refused")
        assert token not in reason

    def test_refuses_without_a_bearer_token(
        self, verifier: JwtVerifier, signing_key: RSAKey
    ) -> None:
        assert verifier.verify({}) == "no bearer token"
        assert verifier.verify(basic("a", make_jwt(signing_key))) == "no bearer token"

    def test_accepts_a_single_jwk_or_a_key_set_object(self, signing_key: RSAKey) -> None:
        token = bearer(make_jwt(signing_key))
        public = signing_key.as_dict(private=False)
        for keys in (public, KeySet([RSAKey.import_key(public)])):
            verifier = JwtVerifier(keys, issuer=ISSUER, audience=[AUDIENCE], now=lambda: NOW)
            assert verifier.verify(token) is None

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"issuer": ""}, "issuer"),
            ({"audience": []}, "audience"),
            ({"leeway": -1}, "leeway"),
            ({"algorithms": ["none"]}, "algorithms"),
        ],
    )
    def test_settings_are_checked(
        self, jwks: dict[str, Any], kwargs: dict[str, Any], message: str
    ) -> None:
        settings: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, **kwargs}
        with pytest.raises(ValueError, match=message):
            JwtVerifier(jwks, **settings)

    def test_repr_shows_no_key_material(self, verifier: JwtVerifier) -> None:
        assert repr(verifier) == f"JwtVerifier(algorithms={list(verifier._algorithms)!r})"
