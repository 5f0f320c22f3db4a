"""Who may deliver KCIs: pluggable verifiers of the gateway's credentials.

The gateway authenticates to the tenant's endpoint with OAuth2 (a bearer JWT), HTTP Basic or
mutual TLS, as agreed at onboarding. A verifier looks at the request headers only and answers
None (accepted) or a short reason for refusing, which is logged and never contains the
credential. Secrets are kept only as SHA-256 digests and compared with
:func:`hmac.compare_digest`, so neither their value nor their length leaks through timing.

Mutual TLS is checked by whatever terminates TLS; behind such a proxy use :class:`NoAuth`
explicitly (or a verifier that checks a header the proxy sets).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol, cast, runtime_checkable

__all__ = [
    "DEFAULT_JWT_ALGORITHMS",
    "BasicAuthVerifier",
    "BearerTokenVerifier",
    "JwtVerifier",
    "KciVerifier",
    "NoAuth",
]

#: Asymmetric JWS algorithms accepted by default. HMAC (HS256...) only when asked for.
DEFAULT_JWT_ALGORITHMS: Final = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


@runtime_checkable
class KciVerifier(Protocol):
    """Decides whether a delivery comes from the gateway, from its headers alone."""

    def verify(self, headers: Mapping[str, str]) -> str | None:
        """None to accept; otherwise why the request is refused (without the credential).

        ``headers`` has lower-case names.
        """
        ...


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def _credentials(headers: Mapping[str, str], scheme: str) -> str | None:
    """The credentials after ``<scheme> `` in Authorization (scheme case-insensitive)."""
    value = headers.get("authorization")
    if value is None:
        return None
    given_scheme, _, credentials = value.strip().partition(" ")
    if given_scheme.lower() != scheme:
        return None
    return credentials.strip() or None


class NoAuth:
    """Accept every delivery. Only for a receiver behind something that already authenticates
    the gateway (mutual TLS at a proxy, a private network); it must be chosen explicitly.
    """

    def verify(self, headers: Mapping[str, str]) -> str | None:
        """Accept every request (None: no refusal reason); the proxy in front checked it."""
        return None

    def __repr__(self) -> str:
        return "NoAuth()"


class BasicAuthVerifier:
    """HTTP Basic: ``Authorization: Basic base64(username:password)`` must match exactly."""

    def __init__(self, username: str, password: str) -> None:
        if not username or not password:
            raise ValueError("username and password must not be empty")
        if ":" in username:
            raise ValueError("a Basic username cannot contain ':'")
        self._expected = _digest(f"{username}:{password}".encode())

    def verify(self, headers: Mapping[str, str]) -> str | None:
        """Accept when the Basic credentials match."""
        credentials = _credentials(headers, "basic")
        if credentials is None:
            return "no Basic credentials"
        try:
            given = base64.b64decode(credentials, validate=True)
        except (binascii.Error, ValueError):
            return "malformed Basic credentials"
        if not hmac.compare_digest(_digest(given), self._expected):
            return "wrong Basic credentials"
        return None

    def __repr__(self) -> str:
        return "BasicAuthVerifier(username=***, password=***)"


class BearerTokenVerifier:
    """A static shared secret sent as ``Authorization: Bearer <secret>``.

    Several secrets may be given, to rotate one without refusing deliveries.
    """

    def __init__(self, secret: str | Sequence[str]) -> None:
        secrets = [secret] if isinstance(secret, str) else list(secret)
        if not secrets or not all(isinstance(s, str) and s for s in secrets):
            raise ValueError("at least one non-empty secret is required")
        self._expected = tuple(_digest(s.encode()) for s in secrets)

    def verify(self, headers: Mapping[str, str]) -> str | None:
        """Accept when the bearer token equals one of the secrets."""
        token = _credentials(headers, "bearer")
        if token is None:
            return "no bearer token"
        given = _digest(token.encode("utf-8", "surrogateescape"))
        matched = False
        for expected in self._expected:  # no early exit: the time does not say which matched
            matched |= hmac.compare_digest(given, expected)
        return None if matched else "wrong bearer token"

    def __repr__(self) -> str:
        return f"BearerTokenVerifier(secrets=*** x{len(self._expected)})"


class JwtVerifier:
    """A bearer JWT (the gateway's OAuth2 option), verified against a key set.

    ``keys`` is a JWKS mapping (``{"keys": [...]}``), a single JWK mapping, or a joserfc
    ``KeySet`` / key. The signature must verify with one of them using one of ``algorithms``;
    ``iss`` must equal ``issuer``; ``aud`` must contain one of ``audience``; ``exp`` is required
    and, like ``nbf`` and ``iat``, checked with ``leeway`` seconds of clock skew. ``now`` (a
    callable returning Unix seconds) is for tests.

    authlib's JOSE layer (joserfc) is imported when the verifier is built, not when the SDK is.
    """

    def __init__(
        self,
        keys: Any,
        *,
        issuer: str,
        audience: str | Sequence[str],
        leeway: int = 30,
        algorithms: Sequence[str] = DEFAULT_JWT_ALGORITHMS,
        now: Callable[[], int] | None = None,
    ) -> None:
        from joserfc import jwt  # noqa: PLC0415 - heavy (cryptography); only when JWTs are used

        if not issuer:
            raise ValueError("issuer is required")
        audiences = [audience] if isinstance(audience, str) else list(audience)
        if not audiences or not all(audiences):
            raise ValueError("audience is required")
        if leeway < 0:
            raise ValueError("leeway must not be negative")
        if not algorithms or "none" in {a.lower() for a in algorithms}:
            raise ValueError("algorithms must list real signature algorithms")
        self._keys = _import_keys(keys)
        self._algorithms = list(algorithms)
        self._claims = jwt.JWTClaimsRegistry(
            now=now,
            leeway=leeway,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "values": audiences},
            exp={"essential": True},
        )

    def verify(self, headers: Mapping[str, str]) -> str | None:
        """Accept when the token's signature and its iss/aud/exp/nbf/iat claims are valid."""
        from joserfc import jwt  # noqa: PLC0415 - already loaded by __init__
        from joserfc.errors import JoseError  # noqa: PLC0415

        token = _credentials(headers, "bearer")
        if token is None:
            return "no bearer token"
        try:
            decoded = jwt.decode(token, self._keys, algorithms=self._algorithms)
            self._claims.validate(decoded.claims)
        except JoseError as exc:
            return f"JWT refused ({exc.error})"
        except Exception:
            return "JWT refused (malformed token)"
        return None

    def __repr__(self) -> str:
        return f"JwtVerifier(algorithms={self._algorithms!r})"


def _import_keys(keys: Any) -> Any:
    """Import a JWKS or JWK mapping; an unusable one is a ValueError, not a joserfc error."""
    from joserfc.errors import JoseError  # noqa: PLC0415 - see JwtVerifier
    from joserfc.jwk import KeySet, import_key  # noqa: PLC0415

    if not isinstance(keys, Mapping):
        return keys
    fields = dict(cast("Mapping[str, Any]", keys))
    try:
        if "keys" in fields:
            return KeySet.import_key_set(fields)  # type: ignore[arg-type]
        return import_key(fields)
    except (JoseError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"keys is not a usable JWK or JWKS ({type(exc).__name__})") from None
