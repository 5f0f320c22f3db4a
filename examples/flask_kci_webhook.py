"""A deployable KCI receiver on Flask: the Fibre Cafe gateway POSTs KCIs to ``/kcis``.

Configure the gateway's credentials (agreed at onboarding) with environment variables:

- ``FIBRECAFE_KCI_AUTH``: ``basic``, ``bearer``, ``jwt`` or ``none`` (``none`` only behind a
  proxy that already authenticates the gateway, e.g. with mutual TLS);
- basic: ``FIBRECAFE_KCI_USERNAME``, ``FIBRECAFE_KCI_PASSWORD``;
- bearer: ``FIBRECAFE_KCI_TOKEN`` (comma-separated to accept several while rotating);
- jwt: ``FIBRECAFE_KCI_JWKS`` (the key set as JSON) or ``FIBRECAFE_KCI_JWKS_FILE``, plus
  ``FIBRECAFE_KCI_ISSUER`` and ``FIBRECAFE_KCI_AUDIENCE``;
- ``FIBRECAFE_KCI_STORE_URL`` (``redis://host:6379/0``, the ``redis`` extra): share
  de-duplication and stale detection across workers and replicas. Unset: in memory, one
  process only.

Run it under any WSGI server::

    FIBRECAFE_KCI_AUTH=basic FIBRECAFE_KCI_USERNAME=gateway FIBRECAFE_KCI_PASSWORD=... \\
        gunicorn 'examples.flask_kci_webhook:create_app()' --bind 0.0.0.0:8080

or ``python examples/flask_kci_webhook.py`` (Flask's development server). Importing this module
starts nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from fibrecafe_client import (
    EntityType,
    Kci,
    KciReceiver,
    ServiceTestKci,
    ServiceTestStatus,
    store_from_env,
    verifier_from_env,
)

log = logging.getLogger("kci_webhook")


def build_receiver(env: Mapping[str, str]) -> KciReceiver:
    """The receiver and its handlers (sync: each runs in the WSGI worker thread)."""
    receiver = KciReceiver(verifier=verifier_from_env(env), store=store_from_env(env), stale="drop")

    @receiver.on(EntityType.SERVICE_TEST, status=ServiceTestStatus.COMPLETED)
    def test_completed(kci: ServiceTestKci) -> None:
        test = kci.entity
        log.info("service test %s completed: %s", test.id, test.test_result)

    @receiver.on_any
    def record(kci: Kci) -> None:
        # Stale KCIs are dropped by the receiver (stale="drop"), so this is always the newest.
        log.info("KCI %s: %s %s is %s", kci.id, kci.entity_type, kci.entity_id, kci.entity_status)

    return receiver


def create_app(env: Mapping[str, str] | None = None) -> Flask:
    """The Flask app: the receiver mounted at ``/kcis``, and ``GET /healthz``."""
    receiver = build_receiver(os.environ if env is None else env)
    app = Flask(__name__)
    app.extensions["kci_receiver"] = receiver
    app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, {"/kcis": receiver.wsgi_app()}
    )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _receiver_of(app: Any) -> KciReceiver:
    receiver: KciReceiver = app.extensions["kci_receiver"]
    return receiver


if __name__ == "__main__":
    if "FIBRECAFE_KCI_AUTH" not in os.environ:
        # Nothing configured: serve this receiver on loopback and let a local sandbox gateway
        # deliver a service test's KCIs to it, then exit.
        from _local_sandbox import exercise_receiver

        from fibrecafe_client.sandbox import serve_wsgi

        logging.basicConfig(level=logging.INFO)
        raise SystemExit(exercise_receiver(create_app, _receiver_of, serve_wsgi))
    logging.basicConfig(level=logging.INFO)
    create_app().run(
        host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8080"))
    )
