"""OAuth2 client-credentials token issuing and checking, like the gateway's token endpoint.

Tokens look like the gateway's (signed JWTs: ``header.payload.signature``), so code that peeks at
them behaves as it would against Fibre Cafe, but the sandbox checks them by lookup: a token is
valid while it is known, unexpired and not revoked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs, unquote_plus

from ._config import SandboxConfig
from ._faults import Faults

__all__ = ["OAuthFailure", "TokenGrant", "TokenIssuer"]

_FORM_TYPE: Final = "application/x-www-form-urlencoded"
_ISSUER: Final = "fibrecafe-sandbox"


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """A successful token response."""

    access_token: str
    expires_in: float
    scope: str

    def __repr__(self) -> str:
        return f"TokenGrant(expires_in={self.expires_in!r}, scope={self.scope!r})"

    def body(self) -> dict[str, object]:
        """The documented 200 body: ``{access_token, expires_in, token_type}``."""
        seconds = self.expires_in
        return {
            "access_token": self.access_token,
            "expires_in": int(seconds) if float(seconds).is_integer() else seconds,
            "token_type": "Bearer",
        }


@dataclass(frozen=True, slots=True)
class OAuthFailure:
    """A refused token request: the RFC 6749 ``error`` code (the gateway answers 400)."""

    error: str
    reason: str  # for the sandbox's own log; never sent (the gateway sends only ``error``)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json_part(value: Mapping[str, object]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


class TokenIssuer:
    """Issues bearer tokens to the configured client and answers whether a token is usable."""

    def __init__(
        self,
        config: SandboxConfig,
        faults: Faults,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._faults = faults
        self._clock = clock
        self._wall_clock = wall_clock
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}  # token -> monotonic expiry

    def issue(
        self, *, body: bytes, content_type: str | None, authorization: str | None
    ) -> TokenGrant | OAuthFailure:
        """Handle one ``POST /auth/tenant/access-token`` request body and headers."""
        if content_type is None or content_type.split(";")[0].strip().lower() != _FORM_TYPE:
            return OAuthFailure("invalid_request", f"content type must be {_FORM_TYPE}")
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            return OAuthFailure("invalid_request", "form body is not valid")
        if any(len(values) > 1 for values in form.values()):
            return OAuthFailure("invalid_request", "a parameter was repeated")
        params = {name: values[0] for name, values in form.items()}

        grant_type = params.get("grant_type")
        if not grant_type:
            return OAuthFailure("invalid_request", "grant_type is missing")
        client = self._authenticate(params, authorization)
        if isinstance(client, OAuthFailure):
            return client
        if grant_type != "client_credentials":
            return OAuthFailure("unsupported_grant_type", "only client_credentials is supported")
        scope = self._grant_scope(params.get("scope"))
        if scope is None:
            return OAuthFailure("invalid_scope", "a requested scope is not allowed")
        return self._mint(scope)

    def _authenticate(
        self, params: dict[str, str], authorization: str | None
    ) -> OAuthFailure | None:
        form_id, form_secret = params.get("client_id"), params.get("client_secret")
        if authorization is not None:
            if form_secret is not None:
                return OAuthFailure("invalid_request", "two client authentication methods used")
            candidates = _parse_basic(authorization)
            if not candidates:
                return OAuthFailure("invalid_client", "malformed Basic authorization")
            if form_id is not None and all(form_id != cid for cid, _ in candidates):
                return OAuthFailure("invalid_request", "client_id differs from the Basic one")
        elif form_id is not None and form_secret is not None:
            candidates = [(form_id, form_secret)]
        else:
            return OAuthFailure("invalid_client", "no client authentication")
        if not any(self._is_client(cid, secret) for cid, secret in candidates):
            return OAuthFailure("invalid_client", "unknown client or wrong secret")
        return None

    def _is_client(self, client_id: str, client_secret: str) -> bool:
        id_ok = hmac.compare_digest(client_id.encode(), self._config.client_id.encode())
        secret_ok = hmac.compare_digest(client_secret.encode(), self._config.client_secret.encode())
        return id_ok and secret_ok

    def _grant_scope(self, requested: str | None) -> str | None:
        allowed = self._config.scopes
        if requested is None or not requested.strip():
            return " ".join(allowed)
        wanted = requested.split()
        if any(s not in allowed for s in wanted):
            return None
        return " ".join(dict.fromkeys(wanted))

    def _mint(self, scope: str) -> TokenGrant:
        lifetime = self._faults.token_lifetime
        advertised = self._faults.token_expires_in
        now_wall = int(self._wall_clock())
        header = {"alg": "HS256", "typ": "JWT", "kid": "sandbox"}
        claims: dict[str, object] = {
            "iss": _ISSUER,
            "sub": self._config.client_id,
            "client_id": self._config.client_id,
            "token_use": "access",
            "scope": scope,
            "iat": now_wall,
            "exp": now_wall + int(lifetime),
            "jti": str(uuid.uuid4()),
        }
        signing_input = f"{_json_part(header)}.{_json_part(claims)}"
        signature = hmac.new(self._key, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{_b64url(signature)}"
        now = self._clock()
        with self._lock:
            self._expiry = {t: exp for t, exp in self._expiry.items() if exp > now}
            self._expiry[token] = now + lifetime
        return TokenGrant(token, lifetime if advertised is None else advertised, scope)

    def check(self, authorization: str | None) -> str | None:
        """None if ``authorization`` carries a usable bearer token, else why not."""
        if authorization is None:
            return "the Authorization header is missing"
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "the Authorization header is not a Bearer token"
        with self._lock:
            expiry = self._expiry.get(token.strip())
        if expiry is None:
            return "the access token is not valid"
        if expiry <= self._clock():
            return "the access token has expired"
        return None

    def revoke_all(self) -> int:
        """Forget every issued token (requests with them get 401); returns how many."""
        with self._lock:
            count = len(self._expiry)
            self._expiry.clear()
        return count

    def expire_all(self) -> int:
        """Make every issued token expired now; returns how many were still valid."""
        now = self._clock()
        with self._lock:
            live = [t for t, exp in self._expiry.items() if exp > now]
            for token in live:
                self._expiry[token] = now
        return len(live)


def _parse_basic(authorization: str) -> list[tuple[str, str]]:
    """The ``(client_id, client_secret)`` readings of a Basic header (none if malformed)."""
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return []
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return []
    client_id, sep, client_secret = decoded.partition(":")
    if not sep:
        return []
    # RFC 6749 2.3.1 form-encodes both parts before base64; many clients do not. Accept both.
    readings = [(client_id, client_secret)]
    unquoted = (unquote_plus(client_id), unquote_plus(client_secret))
    if unquoted != readings[0]:
        readings.append(unquoted)
    return readings
