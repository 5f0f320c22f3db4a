"""A deployable KCI receiver on FastAPI: the Fibre Cafe gateway POSTs KCIs to ``/kcis``.

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

Run it::

    FIBRECAFE_KCI_AUTH=bearer FIBRECAFE_KCI_TOKEN=... \\
        uvicorn examples.fastapi_kci_webhook:create_app --factory --host 0.0.0.0 --port 8080

or ``python examples/fastapi_kci_webhook.py``. Importing this module starts nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from starlette.routing import Route

from fibrecafe_client import (
    EntityType,
    GenericKci,
    Kci,
    KciReceiver,
    ServiceTestKci,
    ServiceTestStatus,
    store_from_env,
    verifier_from_env,
)

log = logging.getLogger("kci_webhook")


def build_receiver(env: Mapping[str, str]) -> KciReceiver:
    """The receiver and its handlers. Handlers must be idempotent: delivery is at least once."""
    receiver = KciReceiver(verifier=verifier_from_env(env), store=store_from_env(env))

    @receiver.on(EntityType.SERVICE_TEST, status=ServiceTestStatus.COMPLETED)
    async def test_completed(kci: ServiceTestKci) -> None:
        test = kci.entity
        log.info("service test %s completed: %s", test.id, test.test_result)
        if test.may_raise_problem():
            log.info("service test %s: a service problem may be raised", test.id)

    @receiver.on(EntityType.SERVICE_TEST, status=["REJECTED", "FAILED_TO_SEND", "FAILED"])
    async def test_failed(kci: ServiceTestKci) -> None:
        reason = kci.error.messages if kci.error else kci.information
        log.warning("service test %s ended %s: %s", kci.entity_id, kci.entity_status, reason)

    @receiver.on_any
    async def record(kci: Kci) -> None:
        if kci.is_stale:  # an older update arriving late: the entity already moved on
            return
        if isinstance(kci, GenericKci) and kci.is_action_required:
            log.warning("%s %s needs action: %s", kci.entity_type, kci.entity_id, kci.action)
        log.info(
            "KCI %s: %s %s is %s (conversation %s)",
            kci.id,
            kci.entity_type,
            kci.entity_id,
            kci.entity_status,
            kci.conversation_id,
        )

    return receiver


def create_app(env: Mapping[str, str] | None = None) -> FastAPI:
    """The FastAPI app: ``POST /kcis`` for the gateway and ``GET /healthz``."""
    receiver = build_receiver(os.environ if env is None else env)
    app = FastAPI(title="Fibre Cafe KCI receiver")
    # A route, not a mount: the gateway POSTs to /kcis exactly (a mount would redirect to /kcis/).
    app.router.routes.append(Route("/kcis", receiver.asgi_app()))
    app.state.kci_receiver = receiver

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _receiver_of(app: Any) -> KciReceiver:
    receiver: KciReceiver = app.state.kci_receiver
    return receiver


if __name__ == "__main__":
    if "FIBRECAFE_KCI_AUTH" not in os.environ:
        # Nothing configured: serve this receiver on loopback and let a local sandbox gateway
        # deliver a service test's KCIs to it, then exit.
        from _local_sandbox import exercise_receiver

        from fibrecafe_client.sandbox import serve_asgi

        logging.basicConfig(level=logging.INFO)
        raise SystemExit(exercise_receiver(create_app, _receiver_of, serve_asgi))
    import uvicorn

    logging.basicConfig(level=logging.INFO)
    uvicorn.run(
        create_app(),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8080")),
    )
