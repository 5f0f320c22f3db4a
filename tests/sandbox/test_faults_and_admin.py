"""Fault knobs (in-process and through the admin API), counters and reset."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from fibrecafe_client.sandbox import DROPPED, KciCapture, Sandbox

if TYPE_CHECKING:
    from conftest import Api

TOKEN = "/v1/auth/tenant/access-token"
TESTS = "/v1/service-tests"
ONE_TEST = "/v1/service-tests/{id}"


def _token_response(sandbox: Sandbox, http: httpx.Client) -> httpx.Response:
    return http.post(
        sandbox.token_url,
        data={"grant_type": "client_credentials"},
        auth=(sandbox.client_id, sandbox.client_secret),
    )


@pytest.mark.parametrize("status", [503, 429])
def test_throttling_statuses_have_no_body_and_retry_after(
    sandbox: Sandbox, api: Api, status: int
) -> None:
    sandbox.faults.fail_next(2, status, retry_after=3)
    for _ in range(2):
        response = api.get(1)
        assert response.status_code == status
        assert response.content == b""
        assert response.headers["retry-after"] == "3"
    assert api.get(1).status_code == 404  # the fault is used up
    assert sandbox.stats.count("GET", ONE_TEST, status) == 2
    assert sandbox.faults.pending() == 0


def test_server_errors_carry_the_error_body(sandbox: Sandbox, api: Api) -> None:
    sandbox.faults.fail_next(1, 500)
    sandbox.faults.fail_next(1, 502, retry_after=0.5)
    first, second = api.create(), api.create()
    assert first.status_code == 500
    assert first.json()["code"] == "GATEWAY_FAULT"
    assert set(first.json()) == {"uuid", "code", "messages"}
    assert second.status_code == 502
    assert second.headers["retry-after"] == "0.5"
    assert sandbox.stats.service_tests_created == 0  # a faulted create creates nothing
    assert api.create().status_code == 201


def test_faults_only_hit_their_target(sandbox: Sandbox, api: Api) -> None:
    sandbox.faults.fail_next(1, 503, target="token")
    assert api.get(1).status_code == 404  # the API is not affected
    assert _token_response(sandbox, api.http).status_code == 503
    assert _token_response(sandbox, api.http).status_code == 200


def test_token_endpoint_server_error_is_oauth_shaped(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.fail_next(1, 500, target="token")
    response = _token_response(sandbox, http)
    assert response.status_code == 500
    assert response.json() == {"error": "server_error"}


def test_target_any_hits_whichever_comes_first(sandbox: Sandbox, api: Api) -> None:
    sandbox.faults.fail_next(2, 503, target="any")
    assert _token_response(sandbox, api.http).status_code == 503
    assert api.get(1).status_code == 503
    assert api.get(1).status_code == 404


def test_dropped_connections_get_no_response(sandbox: Sandbox, api: Api) -> None:
    sandbox.faults.drop_next(2)
    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError):
            api.create()
    assert api.create().status_code == 201
    stats = sandbox.stats
    assert stats.count("POST", TESTS, DROPPED) == 2
    assert stats.count("POST", TESTS) == 3
    assert stats.service_tests_created == 1


def test_dropped_token_request(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.drop_next(1, target="token")
    with pytest.raises(httpx.RemoteProtocolError):
        _token_response(sandbox, http)
    assert _token_response(sandbox, http).status_code == 200


def test_api_latency_delays_answers(sandbox: Sandbox, api: Api) -> None:
    sandbox.faults.api_latency = 1.0
    with pytest.raises(httpx.ReadTimeout):
        api.http.get(f"{sandbox.base_url}/service-tests/1", headers=api.headers(), timeout=0.05)
    sandbox.faults.api_latency = 0
    assert api.get(1).status_code == 404


def test_token_latency_delays_only_the_token_endpoint(sandbox: Sandbox, api: Api) -> None:
    sandbox.faults.token_latency = 1.0
    with pytest.raises(httpx.ReadTimeout):
        api.http.post(
            sandbox.token_url,
            data={"grant_type": "client_credentials"},
            auth=(sandbox.client_id, sandbox.client_secret),
            timeout=0.05,
        )
    assert (
        api.http.get(
            f"{sandbox.base_url}/service-tests/1", headers=api.headers(), timeout=5
        ).status_code
        == 404
    )


def test_token_down_and_garbage(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.token_down = True
    down = _token_response(sandbox, http)
    assert (down.status_code, down.content) == (503, b"")
    sandbox.faults.token_down = False
    sandbox.faults.token_garbage = True
    garbage = _token_response(sandbox, http)
    assert garbage.status_code == 200
    assert garbage.headers["content-type"] == "text/html"
    with pytest.raises(ValueError, match="Expecting value"):
        garbage.json()
    assert sandbox.stats.tokens_issued == 0


def test_knobs_validate_their_values(sandbox: Sandbox) -> None:
    faults = sandbox.faults
    with pytest.raises(ValueError, match="api_latency"):
        faults.api_latency = -1
    with pytest.raises(ValueError, match="token_lifetime"):
        faults.token_lifetime = 0
    with pytest.raises(ValueError, match="status"):
        faults.fail_next(1, 200)
    with pytest.raises(ValueError, match="target"):
        faults.fail_next(1, 503, target="everything")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="count"):
        faults.drop_next(-1)
    with pytest.raises(ValueError, match="unknown fault knob"):
        faults.update({"latency": 1})
    with pytest.raises(ValueError, match="token_down"):
        faults.update({"token_down": "yes"})
    with pytest.raises(ValueError, match="api_latency"):
        faults.update({"token_latency": 1, "api_latency": "slow"})
    assert faults.token_latency == 0  # nothing was applied from the refused update


def test_reset_restores_everything(sandbox: Sandbox, api: Api, capture: KciCapture) -> None:
    test_id = api.create(headers={"X-Kci-Delay": "30"}).json()["id"]
    faults = sandbox.faults
    faults.api_latency = 0.5
    faults.token_down = True
    faults.token_lifetime = 5
    faults.fail_next(3, 503)
    faults.drop_next(1)
    sandbox.add_webhook("http://127.0.0.1:9/never")
    sandbox.reset()
    assert faults.describe() == {
        "api_latency": 0.0,
        "token_latency": 0.0,
        "token_down": False,
        "token_garbage": False,
        "token_lifetime": 3600.0,
        "token_expires_in": None,
        "queued": [],
    }
    assert [w.url for w in sandbox.webhooks] == [capture.url]
    assert sandbox.stats.count() == 0
    assert sandbox.service_test(test_id) is None
    assert api.get(test_id).status_code == 404  # and tokens survive a reset
    assert api.create().json()["id"] > test_id  # ids are never reused


def test_counters_by_route_method_and_status(sandbox: Sandbox, api: Api) -> None:
    api.create()
    api.create({})
    api.get(1)
    stats = sandbox.stats
    assert stats.count("POST", TOKEN, 200) == 1
    assert stats.count("POST", TESTS, 201) == 1
    assert stats.count("POST", TESTS, 400) == 1
    assert stats.count("post", TESTS) == 2
    assert stats.count(route=ONE_TEST) == 1
    assert stats.count() == 4
    as_dict = stats.to_dict()
    assert {"method": "POST", "route": TESTS, "status": 201, "count": 1} in as_dict["requests"]
    assert as_dict["service_tests_created"] == 1


# --- the admin API (a sandbox steered from another process) ---


def _admin(http: httpx.Client, sandbox: Sandbox, path: str, body: object = None) -> httpx.Response:
    url = f"{sandbox.admin_url}/{path}"
    return http.get(url) if body is None else http.post(url, json=body)


def test_admin_faults(sandbox: Sandbox, api: Api) -> None:
    http = api.http
    response = _admin(http, sandbox, "faults", {"api_latency": 0, "token_lifetime": 60})
    assert response.status_code == 200
    assert response.json()["token_lifetime"] == 60
    assert sandbox.faults.token_lifetime == 60
    described = _admin(
        http, sandbox, "faults/fail-next", {"count": 1, "status": 429, "retry_after": 2}
    ).json()
    assert described["queued"] == [
        {"remaining": 1, "target": "api", "kind": "fail", "status": 429, "retry_after": "2"}
    ]
    assert api.get(1).status_code == 429
    assert _admin(http, sandbox, "faults/drop-next", {"count": 1}).status_code == 200
    with pytest.raises(httpx.RemoteProtocolError):
        api.get(1)
    assert _admin(http, sandbox, "faults").json()["queued"] == []


def test_admin_tokens_stats_and_reset(sandbox: Sandbox, api: Api) -> None:
    http = api.http
    api.create()
    stats = _admin(http, sandbox, "stats").json()
    assert stats["service_tests_created"] == 1
    assert _admin(http, sandbox, "tokens/expire", {}).json()["expired"] >= 1
    assert api.get(1).status_code == 401
    api.token = api.fetch_token()
    assert _admin(http, sandbox, "tokens/revoke", {}).json()["revoked"] >= 1
    assert api.get(1).status_code == 401
    assert _admin(http, sandbox, "reset", {}).json() == {"ok": True}
    assert sandbox.stats.service_tests_created == 0
    # admin calls are neither counted nor faulted
    sandbox.faults.fail_next(5, 503, target="any")
    assert _admin(http, sandbox, "stats").status_code == 200
    assert sandbox.stats.count() == 0


def test_admin_webhooks_and_service_tests(sandbox: Sandbox, api: Api, capture: KciCapture) -> None:
    http = api.http
    with KciCapture(bearer_token="t0k") as extra:
        added = _admin(http, sandbox, "webhooks", {"url": extra.url, "bearer_token": "t0k"})
        assert added.json() == {"url": extra.url, "auth": "bearer"}
        listed = _admin(http, sandbox, "webhooks").json()["webhooks"]
        assert listed == [
            {"url": capture.url, "auth": "basic"},
            {"url": extra.url, "auth": "bearer"},
        ]
        assert "t0k" not in str(listed)
        assert "hook-password" not in str(listed)
        test_id = api.create().json()["id"]
        assert len(extra.wait_for_terminal(test_id)) == 3
    state = _admin(http, sandbox, f"service-tests/{test_id}")
    assert state.json()["status"] == "COMPLETED"
    assert _admin(http, sandbox, "service-tests/12345678").status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("nothing-here", None, 404),
        ("faults", {"warp": 9}, 400),
        ("faults/fail-next", {"count": "two"}, 400),
        ("faults/fail-next", {"status": 200}, 400),
        ("faults/drop-next", {"target": "moon"}, 400),
        ("webhooks", {"url": "ftp://x"}, 400),
        ("webhooks", {"username": "only"}, 400),
        ("webhooks", {"url": "http://127.0.0.1:1/", "password": 5}, 400),
    ],
)
def test_admin_mistakes_are_explained(
    sandbox: Sandbox, http: httpx.Client, path: str, body: object, status: int
) -> None:
    response = _admin(http, sandbox, path, body)
    assert response.status_code == status
    assert response.json()["error"]


def test_admin_refuses_non_json(sandbox: Sandbox, http: httpx.Client) -> None:
    response = http.post(f"{sandbox.admin_url}/faults", content=b"latency=1")
    assert response.status_code == 400
    assert response.json() == {"error": "the body must be JSON"}
