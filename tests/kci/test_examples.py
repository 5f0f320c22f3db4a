"""The two example receivers: importable without side effects, configured from the environment,
and answering real deliveries when served on 127.0.0.1."""

from __future__ import annotations

import base64
import importlib.util
import json
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from fibrecafe_client import (
    BasicAuthVerifier,
    BearerTokenVerifier,
    ConfigurationError,
    JwtVerifier,
    Kci,
    KciReceiver,
    NoAuth,
)
from fibrecafe_client._loopback import serve_asgi, serve_wsgi

from .conftest import KciFactory

pytestmark = pytest.mark.network

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BASIC_ENV = {
    "FIBRECAFE_KCI_AUTH": "basic",
    "FIBRECAFE_KCI_USERNAME": "gateway",
    "FIBRECAFE_KCI_PASSWORD": "pw-example",
}


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", params=["fastapi_kci_webhook", "flask_kci_webhook"])
def example(request: pytest.FixtureRequest) -> ModuleType:
    return load(request.param)


def test_importing_starts_nothing_and_needs_no_environment(example: ModuleType) -> None:
    assert callable(example.create_app)
    assert not hasattr(example, "app")


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        (BASIC_ENV, BasicAuthVerifier),
        ({"FIBRECAFE_KCI_AUTH": "bearer", "FIBRECAFE_KCI_TOKEN": "a,b"}, BearerTokenVerifier),
        ({"FIBRECAFE_KCI_AUTH": "none"}, NoAuth),
        (
            {
                "FIBRECAFE_KCI_AUTH": "JWT",
                "FIBRECAFE_KCI_JWKS": json.dumps(
                    {"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}]}
                ),
                "FIBRECAFE_KCI_ISSUER": "iss",
                "FIBRECAFE_KCI_AUDIENCE": "aud",
            },
            JwtVerifier,
        ),
    ],
)
def test_verifier_from_env(example: ModuleType, env: dict[str, str], kind: type) -> None:
    assert isinstance(example.verifier_from_env(env), kind)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "set FIBRECAFE_KCI_AUTH"),
        ({"FIBRECAFE_KCI_AUTH": "magic"}, "set FIBRECAFE_KCI_AUTH"),
        ({"FIBRECAFE_KCI_AUTH": "basic"}, "needs FIBRECAFE_KCI_USERNAME"),
        ({"FIBRECAFE_KCI_AUTH": "jwt", "FIBRECAFE_KCI_JWKS": "{}"}, "needs FIBRECAFE_KCI_ISSUER"),
    ],
)
def test_missing_configuration_is_a_clear_error(
    example: ModuleType, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        example.create_app(env)


def _receiver_of(app: Any) -> KciReceiver:
    state = getattr(app, "state", None)
    receiver = state.kci_receiver if state is not None else app.extensions["kci_receiver"]
    assert isinstance(receiver, KciReceiver)
    return receiver


def test_example_serves_kcis(
    example: ModuleType,
    make_kci: KciFactory,
    published: dict[str, bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = example.create_app(BASIC_ENV)
    seen: list[Kci] = []
    _receiver_of(app).subscribe(seen.append)
    serve = serve_asgi if example.__name__.endswith("fastapi_kci_webhook") else serve_wsgi
    credentials = base64.b64encode(b"gateway:pw-example").decode()
    headers = {"content-type": "application/json", "authorization": f"Basic {credentials}"}

    with (
        caplog.at_level(logging.INFO, logger="kci_webhook"),
        serve(app) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        accepted = http.post("/kcis", content=published["service-test-completed"], headers=headers)
        refused = http.post("/kcis", content=published["service-test-completed"])
        order = http.post("/kcis", content=json.dumps(make_kci("PROVIDE_ORDER")), headers=headers)
        health = http.get("/healthz")

    assert accepted.status_code == 204
    assert refused.status_code == 401
    assert refused.json()["code"] == "NOT_AUTHORISED"
    assert order.status_code == 204
    assert health.json() == {"status": "ok"}
    assert [kci.entity_id for kci in seen] == [123, "ORD-1001"]
    assert "service test 123 completed: RED" in caplog.text
    assert "pw-example" not in caplog.text
