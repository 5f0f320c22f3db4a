"""Construction: environments, environment variables, and clear errors for bad settings."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fibrecafe_client import AsyncFibreCafe, ConfigurationError, FibreCafe, RetryPolicy
from fibrecafe_client._config import DEFAULT_TIMEOUT

from .helpers import CANARY_SECRET, CLIENT_ID

CREDS: dict[str, Any] = {"client_id": CLIENT_ID, "client_secret": CANARY_SECRET}


@pytest.mark.parametrize("cls", [FibreCafe, AsyncFibreCafe])
@pytest.mark.parametrize(
    ("environment", "base"),
    [("prod", "https://prod.fibregateway.com/v1"), ("cvt", "https://cvt.fibregateway.com/v1")],
)
def test_environment_presets(
    cls: type[FibreCafe | AsyncFibreCafe], environment: Any, base: str
) -> None:
    client = cls(**CREDS, environment=environment)
    assert client.base_url == base
    assert client.environment == environment
    assert client._config.token_url == base + "/auth/tenant/access-token"
    assert client.timeout == DEFAULT_TIMEOUT
    assert client.max_retries == 2


def test_everything_from_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIBRECAFE_CLIENT_ID", "env-id")
    monkeypatch.setenv("FIBRECAFE_CLIENT_SECRET", CANARY_SECRET)
    monkeypatch.setenv("FIBRECAFE_BASE_URL", "http://127.0.0.1:8123/v1/")
    monkeypatch.setenv("FIBRECAFE_TOKEN_URL", "http://127.0.0.1:8123/oauth/token")
    monkeypatch.setenv("FIBRECAFE_SCOPE", "com.fibregateway.cvt/tenant.all.all")
    with FibreCafe() as client:
        config = client._config
    assert (config.client_id, config.client_secret.reveal()) == ("env-id", CANARY_SECRET)
    assert config.base_url == "http://127.0.0.1:8123/v1"  # trailing slash dropped
    assert config.token_url == "http://127.0.0.1:8123/oauth/token"
    assert config.scope == "com.fibregateway.cvt/tenant.all.all"
    assert config.environment is None


def test_environment_variable_chooses_the_preset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIBRECAFE_ENVIRONMENT", "CVT")
    assert FibreCafe(**CREDS).base_url == "https://cvt.fibregateway.com/v1"


def test_arguments_beat_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIBRECAFE_CLIENT_ID", "env-id")
    monkeypatch.setenv("FIBRECAFE_BASE_URL", "https://env.example/v1")
    monkeypatch.setenv("FIBRECAFE_SCOPE", "env-scope")
    client = FibreCafe("arg-id", CANARY_SECRET, environment="prod", scope="arg-scope")
    assert client._config.client_id == "arg-id"
    assert client.base_url == "https://prod.fibregateway.com/v1"
    assert client._config.scope == "arg-scope"


def test_max_retries_overrides_the_policy_count() -> None:
    policy = RetryPolicy(max_retries=5, initial_backoff=0.2)
    client = FibreCafe(**CREDS, environment="cvt", retry=policy, max_retries=1)
    assert client.retry == policy.replace(max_retries=1)
    assert FibreCafe(**CREDS, environment="cvt", retry=policy).max_retries == 5


def test_timeout_number_becomes_an_httpx_timeout() -> None:
    assert FibreCafe(**CREDS, environment="cvt", timeout=3).timeout == httpx.Timeout(3.0)


BAD: list[tuple[dict[str, Any], str]] = [
    ({"client_id": None}, "missing client_id: pass client_id=... or set FIBRECAFE_CLIENT_ID"),
    ({"client_secret": None}, "missing client_secret"),
    ({"client_secret": ""}, "client_secret is empty"),
    ({"client_secret": "   "}, "client_secret is empty"),
    ({"client_secret": CANARY_SECRET + "\n"}, "leading or trailing whitespace"),
    ({"client_id": 42}, "client_id must be a str, not int"),
    ({"environment": None, "base_url": None}, "no gateway chosen"),
    ({"environment": "staging"}, "unknown environment 'staging'"),
    ({"base_url": "https://x.example/v1"}, "either environment= or base_url="),
    ({"environment": None, "base_url": "ftp://x.example/v1"}, "absolute http(s) URL"),
    ({"environment": None, "base_url": "gateway/v1"}, "absolute http(s) URL"),
    ({"environment": None, "base_url": "http://gateway.example/v1"}, "non-loopback host"),
    ({"environment": None, "base_url": "https://x.example/v1?a=1"}, "query or fragment"),
    ({"environment": None, "base_url": "https://x.example:99999/v1"}, "invalid host or port"),
    ({"environment": None, "base_url": "https://x example/v1"}, "invalid host or port"),
    ({"environment": None, "base_url": f"https://id:{CANARY_SECRET}/x@h/v1"}, "not a valid URL"),
    ({"token_url": "http://auth.example/token"}, "token_url uses http://"),
    ({"token_auth_method": "private_key_jwt"}, "token_auth_method must be one of"),
    ({"timeout": None}, "would wait forever"),
    ({"timeout": 0}, "positive number of seconds"),
    ({"timeout": "5"}, "not str"),
    ({"max_retries": -1}, "max_retries must be an int >= 0"),
    ({"retry": 3}, "retry must be a RetryPolicy"),
    ({"default_headers": {"Authorization": "Bearer x"}}, "Authorization cannot be set here"),
    ({"default_headers": {"X-Conversation-ID": "c"}}, "pass conversation_id= instead"),
    ({"default_headers": {"X-Key": "a\r\nb"}}, "printable ASCII"),
    ({"default_headers": {"bad name": "v"}}, "not a valid header name"),
    ({"scope": 'a"b'}, "scope must be"),
    ({"http_client": httpx.AsyncClient()}, "http_client must be an httpx.Client"),
    ({"allow_insecure_http": "yes"}, "allow_insecure_http must be a bool"),
]


@pytest.mark.parametrize(("overrides", "expected"), BAD, ids=[e for _, e in BAD])
def test_bad_settings_fail_at_construction_without_the_secret(
    overrides: dict[str, Any], expected: str
) -> None:
    kwargs = {**CREDS, "environment": "cvt", **overrides}
    with pytest.raises(ConfigurationError) as info:
        FibreCafe(**kwargs)
    assert expected in str(info.value)
    assert CANARY_SECRET not in str(info.value)
    assert CANARY_SECRET not in repr(info.value)


def test_url_credentials_are_refused_and_not_echoed() -> None:
    with pytest.raises(ConfigurationError) as info:
        FibreCafe(**CREDS, base_url=f"https://user:{CANARY_SECRET}@gw.example/v1")
    assert "must not contain credentials" in str(info.value)
    assert CANARY_SECRET not in str(info.value)


def test_async_client_refuses_a_sync_http_client() -> None:
    with httpx.Client() as sync_client, pytest.raises(ConfigurationError, match="AsyncClient"):
        AsyncFibreCafe(**CREDS, environment="cvt", http_client=sync_client)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/v1", "http://localhost:9/v1", "http://[::1]:9/v1"]
)
def test_plain_http_is_allowed_to_loopback(url: str) -> None:
    assert FibreCafe(**CREDS, base_url=url).base_url == url


def test_plain_http_elsewhere_needs_explicit_consent() -> None:
    client = FibreCafe(**CREDS, base_url="http://gateway.lan/v1", allow_insecure_http=True)
    assert client.base_url == "http://gateway.lan/v1"


def test_both_gateway_environment_variables_are_ambiguous(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIBRECAFE_ENVIRONMENT", "cvt")
    monkeypatch.setenv("FIBRECAFE_BASE_URL", "https://x.example/v1")
    with pytest.raises(ConfigurationError, match="not both"):
        FibreCafe(**CREDS)
