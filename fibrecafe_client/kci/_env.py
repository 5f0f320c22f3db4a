"""Choose the KCI receiver's verifier and shared store from environment variables
(twelve-factor deployments)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from fibrecafe_client.errors import ConfigurationError

from ._auth import BasicAuthVerifier, BearerTokenVerifier, JwtVerifier, KciVerifier, NoAuth
from ._redis_store import RedisKciStore

__all__ = ["store_from_env", "verifier_from_env"]


def verifier_from_env(
    env: Mapping[str, str] | None = None, *, prefix: str = "FIBRECAFE_KCI_"
) -> KciVerifier:
    """The verifier described by ``<prefix>AUTH`` and its settings (default: ``os.environ``).

    - ``AUTH=basic``: ``USERNAME`` and ``PASSWORD``;
    - ``AUTH=bearer``: ``TOKEN`` (comma-separated to accept several while rotating);
    - ``AUTH=jwt``: ``JWKS`` (the key set as JSON) or ``JWKS_FILE``, plus ``ISSUER`` and
      ``AUDIENCE`` (comma-separated);
    - ``AUTH=none``: no check, for a receiver behind a proxy that already authenticates the
      gateway (e.g. with mutual TLS).

    Raises :class:`~fibrecafe_client.ConfigurationError` naming the missing or invalid setting
    (never its value).

    Examples:
        >>> from fibrecafe_client import verifier_from_env
        >>> env = {"FIBRECAFE_KCI_AUTH": "bearer", "FIBRECAFE_KCI_TOKEN": "old-secret,new-secret"}
        >>> type(verifier_from_env(env)).__name__
        'BearerTokenVerifier'
        >>> verifier_from_env({"FIBRECAFE_KCI_AUTH": "basic"})
        Traceback (most recent call last):
        ...
        fibrecafe_client.errors.ConfigurationError: FIBRECAFE_KCI_AUTH=basic needs ..._USERNAME
    """
    source = os.environ if env is None else env
    mode = source.get(f"{prefix}AUTH", "").strip().lower()

    def need(name: str) -> str:
        value = source.get(prefix + name, "")
        if not value:
            raise ConfigurationError(f"{prefix}AUTH={mode} needs {prefix}{name}")
        return value

    if mode == "basic":
        return BasicAuthVerifier(need("USERNAME"), need("PASSWORD"))
    if mode == "bearer":
        return BearerTokenVerifier([t.strip() for t in need("TOKEN").split(",") if t.strip()])
    if mode == "jwt":
        text = source.get(prefix + "JWKS") or _read(need("JWKS_FILE"), prefix)
        try:
            keys = json.loads(text)
        except ValueError:
            raise ConfigurationError(f"{prefix}JWKS is not valid JSON") from None
        issuer = need("ISSUER")
        audience = [a.strip() for a in need("AUDIENCE").split(",") if a.strip()]
        try:
            return JwtVerifier(keys, issuer=issuer, audience=audience)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{prefix}JWKS is not a usable key set: {exc}") from None
    if mode == "none":
        return NoAuth()
    raise ConfigurationError(f"set {prefix}AUTH to basic, bearer, jwt or none")


def _read(path: str, prefix: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {prefix}JWKS_FILE: {exc.strerror}") from None


def store_from_env(
    env: Mapping[str, str] | None = None, *, prefix: str = "FIBRECAFE_KCI_"
) -> RedisKciStore | None:
    """The shared KCI store named by ``<prefix>STORE_URL`` (default: ``os.environ``), or None
    (the receiver then keeps its in-memory store) when it is unset or empty.

    ``FIBRECAFE_KCI_STORE_URL=redis://host:6379/0`` (or ``rediss://`` with TLS, a password in
    the URL) gives a :class:`RedisKciStore` shared by every worker and replica; with it,
    ``<prefix>STORE_PREFIX`` sets its key prefix. Raises
    :class:`~fibrecafe_client.ConfigurationError` for a URL that is not a Redis one or when
    the ``redis`` extra is missing (never showing the URL's password).

    Examples:
        >>> from fibrecafe_client import store_from_env
        >>> store_from_env({}) is None
        True
    """
    source = os.environ if env is None else env
    url = source.get(f"{prefix}STORE_URL", "").strip()
    if not url:
        return None
    key_prefix = source.get(f"{prefix}STORE_PREFIX", "").strip()
    if key_prefix:
        return RedisKciStore(url, prefix=key_prefix)
    return RedisKciStore(url)
