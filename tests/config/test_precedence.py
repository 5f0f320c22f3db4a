"""Which setting wins: an argument, else its variable; the gateway's variables never mix in.

Every ``FIBRECAFE_*`` variable is tried against its argument, and every way of choosing a
gateway against a leftover ``FIBRECAFE_TOKEN_URL``. The environment is passed explicitly
(``environ=``) where the resolver is called directly, and through ``os.environ`` where the
client is built, so both paths are covered.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from fibrecafe_client import AsyncFibreCafe, ConfigurationError, FibreCafe
from fibrecafe_client._config import ClientConfig, resolve_config
from fibrecafe_client._secret import Secret

ID, SECRET = "arg-id", "arg-secret-0xC0FFEE"
LEFTOVER_TOKEN_URL = "http://127.0.0.1:8123/v1/auth/tenant/access-token"
PROD = "https://prod.fibregateway.com/v1"
CVT = "https://cvt.fibregateway.com/v1"
TOKEN_PATH = "/auth/tenant/access-token"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FIBRECAFE_"):
            monkeypatch.delenv(name)


def resolve(environ: dict[str, str], **arguments: Any) -> ClientConfig:
    settings: dict[str, Any] = {
        "environment": None,
        "base_url": None,
        "token_url": None,
        "scope": None,
        "token_auth_method": "client_secret_basic",
        "timeout": 5.0,
        "max_retries": None,
        "retry": None,
        "default_headers": None,
        "allow_insecure_http": False,
    }
    settings.update(arguments)
    client_id = settings.pop("client_id", None)
    client_secret = settings.pop("client_secret", None)
    return resolve_config(client_id, client_secret, environ=environ, **settings)


FULL_ENV = {
    "FIBRECAFE_CLIENT_ID": "env-id",
    "FIBRECAFE_CLIENT_SECRET": "env-secret",
    "FIBRECAFE_BASE_URL": "http://127.0.0.1:8123/v1",
    "FIBRECAFE_TOKEN_URL": LEFTOVER_TOKEN_URL,
    "FIBRECAFE_SCOPE": "env.scope",
}


@pytest.mark.parametrize(
    ("argument", "value", "attribute", "expected"),
    [
        ("client_id", ID, "client_id", ID),
        ("client_secret", SECRET, "client_secret", SECRET),
        ("scope", "arg.scope", "scope", "arg.scope"),
        ("scope", "", "scope", None),  # an explicit empty scope means "ask for none"
        ("token_url", "https://auth.example/token", "token_url", "https://auth.example/token"),
        ("base_url", "https://gw.example/v1", "base_url", "https://gw.example/v1"),
        ("environment", "cvt", "base_url", CVT),
    ],
)
def test_each_argument_beats_its_variable(
    argument: str, value: str, attribute: str, expected: str | None
) -> None:
    config = resolve(FULL_ENV, **{argument: value})
    found = getattr(config, attribute)
    if isinstance(found, Secret):  # the client secret is held concealed
        found = found.reveal()
    assert found == expected


@pytest.mark.parametrize(
    ("argument", "value", "attribute", "from_env"),
    [
        ("client_secret", SECRET, "client_id", "env-id"),
        ("client_id", ID, "client_secret", "env-secret"),
        ("client_id", ID, "scope", "env.scope"),
        ("scope", "arg.scope", "client_id", "env-id"),
        ("token_url", "https://auth.example/token", "base_url", "http://127.0.0.1:8123/v1"),
    ],
)
def test_a_variable_fills_only_what_is_not_passed(
    argument: str, value: str, attribute: str, from_env: str
) -> None:
    config = resolve(FULL_ENV, **{argument: value})
    found = getattr(config, attribute)
    assert (found.reveal() if isinstance(found, Secret) else found) == from_env


def test_everything_from_the_environment_keeps_the_variables_token_url() -> None:
    config = resolve(FULL_ENV)
    assert (config.base_url, config.token_url) == ("http://127.0.0.1:8123/v1", LEFTOVER_TOKEN_URL)


@pytest.mark.parametrize(
    ("gateway", "base"),
    [
        ({"environment": "prod"}, PROD),
        ({"environment": "cvt"}, CVT),
        ({"base_url": "https://gw.example/v1"}, "https://gw.example/v1"),
    ],
)
@pytest.mark.parametrize(
    "leftovers",
    [
        {"FIBRECAFE_TOKEN_URL": LEFTOVER_TOKEN_URL},
        {"FIBRECAFE_TOKEN_URL": LEFTOVER_TOKEN_URL, "FIBRECAFE_BASE_URL": "http://127.0.0.1:1/v1"},
        {"FIBRECAFE_TOKEN_URL": LEFTOVER_TOKEN_URL, "FIBRECAFE_ENVIRONMENT": "cvt"},
    ],
)
def test_an_explicit_gateway_ignores_every_gateway_variable(
    gateway: dict[str, str], base: str, leftovers: dict[str, str]
) -> None:
    config = resolve(leftovers, client_id=ID, client_secret=SECRET, **gateway)
    assert config.base_url == base
    assert config.token_url == base + TOKEN_PATH


def test_an_explicit_gateway_keeps_an_explicit_token_url() -> None:
    config = resolve(
        {"FIBRECAFE_TOKEN_URL": LEFTOVER_TOKEN_URL},
        client_id=ID,
        client_secret=SECRET,
        environment="cvt",
        token_url="https://auth.example/token",
    )
    assert config.token_url == "https://auth.example/token"


def test_a_token_url_variable_beside_a_named_environment_variable_is_refused() -> None:
    environ = {"FIBRECAFE_ENVIRONMENT": "prod", "FIBRECAFE_TOKEN_URL": LEFTOVER_TOKEN_URL}
    with pytest.raises(ConfigurationError, match="FIBRECAFE_TOKEN_URL is set beside") as info:
        resolve(environ, client_id=ID, client_secret=SECRET)
    assert SECRET not in str(info.value)
    # An explicit token URL is a choice, not a leftover: then the variable is not read at all.
    config = resolve(
        environ, client_id=ID, client_secret=SECRET, token_url="https://auth.example/t"
    )
    assert (config.base_url, config.token_url) == (PROD, "https://auth.example/t")


def test_an_empty_variable_counts_as_unset() -> None:
    config = resolve(
        {"FIBRECAFE_ENVIRONMENT": "cvt", "FIBRECAFE_TOKEN_URL": "", "FIBRECAFE_SCOPE": ""},
        client_id=ID,
        client_secret=SECRET,
    )
    assert (config.base_url, config.token_url, config.scope) == (CVT, CVT + TOKEN_PATH, None)


@pytest.mark.parametrize("cls", [FibreCafe, AsyncFibreCafe])
def test_the_client_reads_os_environ_and_its_repr_shows_the_token_host(
    cls: type[FibreCafe | AsyncFibreCafe], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's case: a leftover FIBRECAFE_TOKEN_URL and environment="prod"."""
    monkeypatch.setenv("FIBRECAFE_TOKEN_URL", "https://leftover.example/token")
    client = cls(ID, SECRET, environment="prod")
    assert client.token_url == PROD + TOKEN_PATH
    assert "token_host='prod.fibregateway.com'" in repr(client)
    assert "leftover" not in repr(client)
    assert SECRET not in repr(client)

    monkeypatch.setenv("FIBRECAFE_BASE_URL", "http://127.0.0.1:8123/v1")
    from_env = cls(ID, SECRET)
    assert from_env.token_url == "https://leftover.example/token"
    assert "token_host='leftover.example'" in repr(from_env)


def test_the_repr_shows_a_token_port() -> None:
    client = FibreCafe(ID, SECRET, base_url="http://127.0.0.1:8123/v1")
    assert "token_host='127.0.0.1:8123'" in repr(client)
