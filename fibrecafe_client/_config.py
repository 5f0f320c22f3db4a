"""Client settings: environments, environment variables, defaults and their validation.

Everything a client needs is resolved and checked once, at construction, into a frozen
:class:`ClientConfig`; a bad setting fails there with a :class:`ConfigurationError` that says
what to do. No message ever contains the client secret (nor a URL's userinfo).

Precedence: an explicit argument beats its environment variable, and a variable fills only a
setting that was not passed. ``environment`` and ``base_url`` choose the gateway; giving both at
the same level is ambiguous and refused. There is no default gateway: a tenant always says
whether it means production or CVT.

The gateway's variables travel together: when ``environment=`` or ``base_url=`` is passed, none
of ``FIBRECAFE_ENVIRONMENT``, ``FIBRECAFE_BASE_URL`` and ``FIBRECAFE_TOKEN_URL`` is read (a
leftover token URL would otherwise receive the credentials meant for the gateway just chosen),
and the token endpoint is ``token_url=`` or the chosen gateway's own. ``FIBRECAFE_TOKEN_URL``
goes with ``FIBRECAFE_BASE_URL``; beside ``FIBRECAFE_ENVIRONMENT`` it is refused, because a
named environment has its own token endpoint and the pair is most likely a leftover.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias, cast

import httpx

from ._retry import RetryPolicy
from ._secret import Secret, conceal
from .errors import ConfigurationError

__all__ = [
    "DEFAULT_TIMEOUT",
    "ENVIRONMENTS",
    "ENV_BASE_URL",
    "ENV_CLIENT_ID",
    "ENV_CLIENT_SECRET",
    "ENV_ENVIRONMENT",
    "ENV_SCOPE",
    "ENV_TOKEN_URL",
    "TOKEN_PATH",
    "ClientConfig",
    "Environment",
    "TokenAuthMethod",
    "check_headers",
    "check_timeout",
    "resolve_config",
]

Environment: TypeAlias = Literal["prod", "cvt"]
TokenAuthMethod: TypeAlias = Literal["client_secret_basic", "client_secret_post"]

#: The documented gateway base URLs.
ENVIRONMENTS: Final[Mapping[str, str]] = {
    "prod": "https://prod.fibregateway.com/v1",
    "cvt": "https://cvt.fibregateway.com/v1",
}
#: The tenant token endpoint, under the same ``/v1`` base as the API.
TOKEN_PATH: Final = "/auth/tenant/access-token"  # noqa: S105 - a path
#: Generous read timeout: a POST that times out has an unknown outcome and is never resent.
DEFAULT_TIMEOUT: Final = httpx.Timeout(60.0, connect=10.0)

ENV_CLIENT_ID: Final = "FIBRECAFE_CLIENT_ID"
ENV_CLIENT_SECRET: Final = "FIBRECAFE_CLIENT_SECRET"  # noqa: S105 - a variable name
ENV_ENVIRONMENT: Final = "FIBRECAFE_ENVIRONMENT"
ENV_BASE_URL: Final = "FIBRECAFE_BASE_URL"
ENV_TOKEN_URL: Final = "FIBRECAFE_TOKEN_URL"  # noqa: S105 - a variable name
ENV_SCOPE: Final = "FIBRECAFE_SCOPE"

_AUTH_METHODS: Final = ("client_secret_basic", "client_secret_post")
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")
_HOST = re.compile(r"^[A-Za-z0-9._~\-:\[\]]+$")  # a name, an IPv4 or an IPv6 address
_SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$")
# Headers the SDK owns; setting them by hand would break auth or request correlation.
_RESERVED_HEADERS: Final[Mapping[str, str]] = {
    "authorization": "the SDK sets it from the OAuth2 token",
    "x-request-id": "the SDK sets a fresh one on every attempt",
    "x-conversation-id": "pass conversation_id= instead",
    "host": "it comes from the base URL",
    "content-length": "httpx computes it",
}


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """The validated settings of one client. ``client_secret`` is kept out of the repr."""

    client_id: str
    client_secret: Secret = field(repr=False)
    base_url: str
    token_url: str
    scope: str | None
    token_auth_method: TokenAuthMethod
    timeout: httpx.Timeout
    retry: RetryPolicy
    default_headers: Mapping[str, str]
    environment: str | None
    allow_insecure_http: bool

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> ClientConfig:
        """A validated copy; ``default_headers`` are merged over the current ones."""
        policy = _resolve_retry(self.retry if retry is None else retry, max_retries)
        headers = dict(self.default_headers)
        if default_headers is not None:
            headers.update(check_headers("default_headers", default_headers))
        return ClientConfig(
            client_id=self.client_id,
            client_secret=self.client_secret,
            base_url=self.base_url,
            token_url=self.token_url,
            scope=self.scope,
            token_auth_method=self.token_auth_method,
            timeout=self.timeout if timeout is None else check_timeout("timeout", timeout),
            retry=policy,
            default_headers=headers,
            environment=self.environment,
            allow_insecure_http=self.allow_insecure_http,
        )


def _from_env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value if value else None


def _credential(name: str, value: object, env: Mapping[str, str], var: str) -> str:
    if value is None:
        value = _from_env(env, var)
    if value is None:
        raise ConfigurationError(f"missing {name}: pass {name}=... or set {var}")
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a str, not {type(value).__name__}")
    problem = _credential_problem(name, value)
    if problem is not None:
        raise ConfigurationError(problem)
    return value


def _secret_credential(value: object, env: Mapping[str, str]) -> Secret:
    """The client secret as a :class:`Secret`; no frame on the error path holds its text."""
    if value is None:
        value = conceal(_from_env(env, ENV_CLIENT_SECRET))
    if value is None:
        raise ConfigurationError(
            f"missing client_secret: pass client_secret=... or set {ENV_CLIENT_SECRET}"
        )
    if not isinstance(value, Secret):
        value = conceal(value)
    if not isinstance(value, Secret):
        raise ConfigurationError(f"client_secret must be a str, not {type(value).__name__}")
    problem = _credential_problem("client_secret", value.reveal())
    if problem is not None:
        raise ConfigurationError(problem)
    return value


def _credential_problem(name: str, value: str) -> str | None:
    """What is wrong with a credential's text (never quoting it), or None."""
    if not value.strip():
        return f"{name} is empty"
    if value != value.strip():
        return f"{name} has leading or trailing whitespace (a stray newline from a file?)"
    if not _HEADER_VALUE.match(value):
        return f"{name} contains control or non-ASCII characters"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(name: str, value: object, *, allow_insecure_http: bool) -> str:
    if not isinstance(value, str | httpx.URL):
        raise ConfigurationError(f"{name} must be a str or httpx.URL, not {type(value).__name__}")
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        # httpx quotes URL parts in its messages: never echo them when userinfo may be there.
        detail = "" if "@" in str(value) else f" ({exc})"
        raise ConfigurationError(f"{name} is not a valid URL{detail}") from None
    # Never echo a URL that carries credentials: show it without its userinfo.
    shown = str(url.copy_with(username=None, password=None)) if url.userinfo else str(url)
    if url.scheme not in ("https", "http") or not url.host:
        raise ConfigurationError(f"{name} must be an absolute http(s) URL, got {shown!r}")
    if not _HOST.match(url.raw_host.decode("ascii")) or not 0 < (url.port or 443) < 65536:
        raise ConfigurationError(f"{name} has an invalid host or port, got {shown!r}")
    if url.userinfo:
        raise ConfigurationError(
            f"{name} must not contain credentials ({shown!r}); pass client_id and client_secret"
        )
    if url.query or url.fragment:
        raise ConfigurationError(f"{name} must not have a query or fragment, got {shown!r}")
    if url.scheme == "http" and not allow_insecure_http and not _is_loopback(url.host):
        raise ConfigurationError(
            f"{name} uses http:// to {url.host}, a non-loopback host: the client secret and "
            "tokens would travel in clear text. Use https://, or pass allow_insecure_http=True "
            "if you really mean it"
        )
    return shown.rstrip("/")


def _resolve_gateway(
    environment: object, base_url: object, token_url: object, env: Mapping[str, str]
) -> tuple[str | None, object, object]:
    """(environment name, raw base URL, raw token URL or None) from the arguments, else the
    environment variables: never a mix of the two (see the module docstring)."""
    if environment is not None and base_url is not None:
        raise ConfigurationError("pass either environment= or base_url=, not both")
    if environment is None and base_url is None:
        environment = _from_env(env, ENV_ENVIRONMENT)
        base_url = _from_env(env, ENV_BASE_URL)
        if environment is not None and base_url is not None:
            raise ConfigurationError(f"set either {ENV_ENVIRONMENT} or {ENV_BASE_URL}, not both")
        if token_url is None:
            token_url = _from_env(env, ENV_TOKEN_URL)
            if token_url is not None and environment is not None:
                raise ConfigurationError(
                    f"{ENV_TOKEN_URL} is set beside {ENV_ENVIRONMENT}: a named environment has "
                    f"its own token endpoint. Unset {ENV_TOKEN_URL} (a leftover?), or set "
                    f"{ENV_BASE_URL} instead of {ENV_ENVIRONMENT}"
                )
    name, base = _resolve_base_url(environment, base_url)
    return name, base, token_url


def _resolve_base_url(environment: object, base_url: object) -> tuple[str | None, object]:
    if base_url is not None:
        return None, base_url
    if environment is None:
        raise ConfigurationError(
            "no gateway chosen: pass environment='prod' or 'cvt' (or base_url=...), "
            f"or set {ENV_ENVIRONMENT} or {ENV_BASE_URL}"
        )
    if not isinstance(environment, str) or environment.strip().lower() not in ENVIRONMENTS:
        raise ConfigurationError(
            f"unknown environment {environment!r}: expected one of "
            + ", ".join(repr(e) for e in ENVIRONMENTS)
        )
    name = environment.strip().lower()
    return name, ENVIRONMENTS[name]


def check_timeout(name: str, value: object) -> httpx.Timeout:
    """A positive number of seconds or an ``httpx.Timeout``, as an ``httpx.Timeout``."""
    if isinstance(value, httpx.Timeout):
        return value
    if value is None:
        raise ConfigurationError(
            f"{name}=None would wait forever: pass a number of seconds or an httpx.Timeout"
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(
            f"{name} must be a number of seconds or an httpx.Timeout, not {type(value).__name__}"
        )
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {value}")
    return httpx.Timeout(float(value))


def check_headers(name: str, headers: object) -> dict[str, str]:
    """Validate header names and values (values are never echoed: they may be secrets)."""
    if not isinstance(headers, Mapping):
        raise ConfigurationError(f"{name} must be a mapping of str to str")
    checked: dict[str, str] = {}
    for key, value in cast("Mapping[object, object]", headers).items():
        if not isinstance(key, str) or not _HEADER_NAME.match(key):
            raise ConfigurationError(f"{name}: {key!r} is not a valid header name")
        reason = _RESERVED_HEADERS.get(key.lower())
        if reason is not None:
            raise ConfigurationError(f"{name}: {key} cannot be set here ({reason})")
        if not isinstance(value, str) or not _HEADER_VALUE.match(value):
            raise ConfigurationError(
                f"{name}: the value of {key} must be a str of printable ASCII (no newlines)"
            )
        checked[key] = value
    return checked


def _resolve_retry(retry: object, max_retries: object) -> RetryPolicy:
    if not isinstance(retry, RetryPolicy):
        raise ConfigurationError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
    if max_retries is None:
        return retry
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ConfigurationError("max_retries must be an int >= 0")
    return retry.replace(max_retries=max_retries)


def _resolve_scope(scope: object, env: Mapping[str, str]) -> str | None:
    if scope is None:
        scope = _from_env(env, ENV_SCOPE)
    if scope is None:
        return None
    if not isinstance(scope, str):
        raise ConfigurationError(f"scope must be a str, not {type(scope).__name__}")
    scope = scope.strip()
    if not scope:
        return None
    if not _SCOPE.match(scope):
        raise ConfigurationError(
            "scope must be space-separated scope tokens of printable ASCII (no quotes or "
            "backslashes)"
        )
    return scope


def resolve_config(
    client_id: object,
    client_secret: object,
    *,
    environment: object,
    base_url: object,
    token_url: object,
    scope: object,
    token_auth_method: object,
    timeout: object,
    max_retries: object,
    retry: object,
    default_headers: object,
    allow_insecure_http: object,
    environ: Mapping[str, str] | None = None,
) -> ClientConfig:
    """Resolve constructor arguments and environment variables into a :class:`ClientConfig`."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    if not isinstance(allow_insecure_http, bool):
        raise ConfigurationError("allow_insecure_http must be a bool")
    cid = _credential("client_id", client_id, env, ENV_CLIENT_ID)
    secret = _secret_credential(client_secret, env)
    env_name, raw_base, raw_token_url = _resolve_gateway(environment, base_url, token_url, env)
    base = _check_url(
        "base_url" if env_name is None else "environment",
        raw_base,
        allow_insecure_http=allow_insecure_http,
    )
    token = _check_url(
        "token_url",
        raw_token_url if raw_token_url is not None else base + TOKEN_PATH,
        allow_insecure_http=allow_insecure_http,
    )
    if token_auth_method not in _AUTH_METHODS:
        raise ConfigurationError(
            f"token_auth_method must be one of {', '.join(_AUTH_METHODS)}, "
            f"got {token_auth_method!r}"
        )
    return ClientConfig(
        client_id=cid,
        client_secret=secret,
        base_url=base,
        token_url=token,
        scope=_resolve_scope(scope, env),
        token_auth_method=token_auth_method,
        timeout=check_timeout("timeout", timeout),
        retry=_resolve_retry(RetryPolicy() if retry is None else retry, max_retries),
        default_headers=check_headers(
            "default_headers", {} if default_headers is None else default_headers
        ),
        environment=env_name,
        allow_insecure_http=allow_insecure_http,
    )
