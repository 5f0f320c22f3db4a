"""The token endpoint: client credentials by Basic or form, the OAuth errors, lifetimes."""

from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING

import httpx
import pytest

from fibrecafe_client.sandbox import DEFAULT_SCOPE, Sandbox

if TYPE_CHECKING:
    from conftest import Api


def _post(
    http: httpx.Client,
    sandbox: Sandbox,
    data: dict[str, str] | None = None,
    *,
    basic: tuple[str, str] | None = None,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    if content is not None:
        return http.post(sandbox.token_url, content=content, headers=headers)
    if basic is None:
        return http.post(sandbox.token_url, data=data, headers=headers)
    return http.post(sandbox.token_url, data=data, auth=basic, headers=headers)


def _claims(token: str) -> dict[str, object]:
    header, payload, signature = token.split(".")
    assert header
    assert signature
    padded = payload + "=" * (-len(payload) % 4)
    claims = json.loads(base64.urlsafe_b64decode(padded))
    assert isinstance(claims, dict)
    return claims


def test_basic_auth_issues_a_bearer_token(sandbox: Sandbox, http: httpx.Client) -> None:
    response = _post(
        http,
        sandbox,
        {"grant_type": "client_credentials"},
        basic=(sandbox.client_id, sandbox.client_secret),
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert isinstance(body["expires_in"], int)
    assert response.headers["cache-control"] == "no-store"
    claims = _claims(body["access_token"])
    assert claims["client_id"] == sandbox.client_id
    assert claims["scope"] == DEFAULT_SCOPE
    assert sandbox.stats.tokens_issued == 1


def test_form_auth_issues_a_token(sandbox: Sandbox, http: httpx.Client) -> None:
    response = _post(
        http,
        sandbox,
        {
            "grant_type": "client_credentials",
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
        },
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"


def test_basic_credentials_may_be_form_encoded(sandbox: Sandbox, http: httpx.Client) -> None:
    pair = f"{sandbox.client_id}:{sandbox.client_secret}".replace("-", "%2D")
    header = "Basic " + base64.b64encode(pair.encode()).decode()
    response = _post(
        http, sandbox, {"grant_type": "client_credentials"}, headers={"Authorization": header}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("data", "basic", "error"),
    [
        ({"grant_type": "client_credentials"}, ("sandbox-client", "wrong"), "invalid_client"),
        (
            {"grant_type": "client_credentials"},
            ("someone-else", "sandbox-secret"),
            "invalid_client",
        ),
        ({"grant_type": "client_credentials"}, None, "invalid_client"),
        (
            {"grant_type": "client_credentials", "client_id": "sandbox-client"},
            None,
            "invalid_client",
        ),
        (
            {"grant_type": "password"},
            ("sandbox-client", "sandbox-secret"),
            "unsupported_grant_type",
        ),
        ({}, ("sandbox-client", "sandbox-secret"), "invalid_request"),
        (
            {"grant_type": "client_credentials", "scope": "com.fibregateway.prod/tenant.all.all"},
            ("sandbox-client", "sandbox-secret"),
            "invalid_scope",
        ),
        (
            {"grant_type": "client_credentials", "client_secret": "sandbox-secret"},
            ("sandbox-client", "sandbox-secret"),
            "invalid_request",
        ),
    ],
    ids=[
        "wrong-secret",
        "unknown-client",
        "no-client-auth",
        "form-without-secret",
        "password-grant",
        "no-grant-type",
        "foreign-scope",
        "two-auth-methods",
    ],
)
def test_refusals_are_400_with_the_oauth_error(
    sandbox: Sandbox,
    http: httpx.Client,
    data: dict[str, str],
    basic: tuple[str, str] | None,
    error: str,
) -> None:
    response = _post(http, sandbox, data, basic=basic)
    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert sandbox.stats.tokens_issued == 0
    assert sandbox.stats.count("POST", "/v1/auth/tenant/access-token", 400) == 1


def test_malformed_basic_header_is_invalid_client(sandbox: Sandbox, http: httpx.Client) -> None:
    response = _post(
        http,
        sandbox,
        {"grant_type": "client_credentials"},
        headers={"Authorization": "Basic not*base64"},
    )
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_client"}


def test_json_body_is_invalid_request(sandbox: Sandbox, http: httpx.Client) -> None:
    response = _post(
        http,
        sandbox,
        content=b'{"grant_type": "client_credentials"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request"}


def test_repeated_parameter_is_invalid_request(sandbox: Sandbox, http: httpx.Client) -> None:
    pair = base64.b64encode(f"{sandbox.client_id}:{sandbox.client_secret}".encode()).decode()
    response = _post(
        http,
        sandbox,
        content=b"grant_type=client_credentials&grant_type=client_credentials",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"Basic {pair}",
        },
    )
    assert response.json() == {"error": "invalid_request"}


def test_allowed_scope_is_granted(sandbox: Sandbox, http: httpx.Client) -> None:
    response = _post(
        http,
        sandbox,
        {"grant_type": "client_credentials", "scope": DEFAULT_SCOPE},
        basic=(sandbox.client_id, sandbox.client_secret),
    )
    assert response.status_code == 200
    assert _claims(response.json()["access_token"])["scope"] == DEFAULT_SCOPE


def test_get_is_not_allowed(sandbox: Sandbox, http: httpx.Client) -> None:
    response = http.get(sandbox.token_url)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_lifetime_knob_sets_expires_in(sandbox: Sandbox, api: Api) -> None:
    sandbox.faults.token_lifetime = 90.5
    response = _post(
        api.http,
        sandbox,
        {"grant_type": "client_credentials"},
        basic=(sandbox.client_id, sandbox.client_secret),
    )
    assert response.json()["expires_in"] == 90.5


def test_advertised_expires_in_can_differ_from_the_real_lifetime(
    sandbox: Sandbox, api: Api
) -> None:
    sandbox.faults.token_expires_in = 3600
    sandbox.faults.token_lifetime = 0.2
    response = _post(
        api.http,
        sandbox,
        {"grant_type": "client_credentials"},
        basic=(sandbox.client_id, sandbox.client_secret),
    )
    # The client is told an hour; the token really dies within a fraction of a second.
    assert response.json()["expires_in"] == 3600
    api.token = response.json()["access_token"]
    assert _wait_for_status(api, 401) == 401


def _wait_for_status(api: Api, status: int, attempts: int = 200) -> int:
    """Poll an API call until it answers ``status`` (bounded)."""
    code = 0
    for _ in range(attempts):
        code = api.get(1).status_code
        if code == status:
            break
        time.sleep(0.025)
    return code


def test_expired_token_gets_401(sandbox: Sandbox, api: Api) -> None:
    sandbox.faults.token_lifetime = 0.2
    api.token = api.fetch_token()
    assert _wait_for_status(api, 401) == 401
    body = api.get(1).json()
    assert body["code"] == "NOT_AUTHORISED"
    assert body["messages"] == ["the access token has expired"]


def test_expire_tokens_knob(sandbox: Sandbox, api: Api) -> None:
    assert api.get(999).status_code == 404
    assert sandbox.expire_tokens() >= 1
    assert api.get(999).status_code == 401
    api.token = api.fetch_token()
    assert api.get(999).status_code == 404


def test_revoked_token_gets_401_and_a_new_one_works(sandbox: Sandbox, api: Api) -> None:
    assert api.get(999).status_code == 404
    assert sandbox.revoke_tokens() >= 1
    response = api.get(999)
    assert response.status_code == 401
    assert response.json()["messages"] == ["the access token is not valid"]
    api.token = api.fetch_token()
    assert api.get(999).status_code == 404


def test_custom_credentials_and_scopes(http: httpx.Client) -> None:
    with Sandbox.start(client_id="tenant-a", client_secret="s3cr+t", scopes=["a/x", "a/y"]) as sb:
        response = _post(
            http,
            sb,
            {"grant_type": "client_credentials", "scope": "a/y"},
            basic=("tenant-a", "s3cr+t"),
        )
        assert response.status_code == 200
        assert _claims(response.json()["access_token"])["scope"] == "a/y"
        everything = _post(
            http, sb, {"grant_type": "client_credentials"}, basic=("tenant-a", "s3cr+t")
        )
        assert _claims(everything.json()["access_token"])["scope"] == "a/x a/y"
        refused = _post(
            http,
            sb,
            {"grant_type": "client_credentials"},
            basic=("sandbox-client", "sandbox-secret"),
        )
        assert refused.json() == {"error": "invalid_client"}
