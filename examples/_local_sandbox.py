"""Shared by the examples: run against a local sandbox gateway when no credentials are set.

With ``FIBRECAFE_CLIENT_ID`` (or ``FIBRECAFE_CLIENT_SECRET``) in the environment the examples use
the real gateway those variables describe; without them they start the SDK's sandbox on
127.0.0.1, so every example runs as it is on a fresh machine. Needs the ``sandbox`` extra.
"""

from __future__ import annotations

import atexit
import os
import secrets
import sys
from collections.abc import Callable, Mapping
from typing import Any

from fibrecafe_client import FibreCafe, KciReceiver
from fibrecafe_client.sandbox import LoopbackServer, Sandbox, Webhook


def credentials_configured() -> bool:
    """True when the environment names gateway credentials."""
    return bool(os.environ.get("FIBRECAFE_CLIENT_ID") or os.environ.get("FIBRECAFE_CLIENT_SECRET"))


def start_sandbox(**settings: Any) -> Sandbox:
    """A sandbox for the rest of this process (stopped at exit), announced on stderr."""
    sandbox = Sandbox.start(**settings)
    atexit.register(sandbox.stop)
    print(
        f"FIBRECAFE_CLIENT_ID is not set: using a local sandbox gateway at {sandbox.base_url}",
        file=sys.stderr,
    )
    return sandbox


def exercise_receiver(
    create_app: Callable[[Mapping[str, str]], Any],
    receiver_of: Callable[[Any], KciReceiver],
    serve: Callable[[Any], LoopbackServer],
) -> int:
    """Serve a receiver example on loopback and let a sandbox deliver one test's KCIs to it.

    Returns 0 once the receiver has handled the test's terminal KCI.
    """
    password = secrets.token_urlsafe(16)
    env = {
        "FIBRECAFE_KCI_AUTH": "basic",
        "FIBRECAFE_KCI_USERNAME": "fibre-gateway",
        "FIBRECAFE_KCI_PASSWORD": password,
    }
    app = create_app(env)
    with serve(app) as server:
        webhook = Webhook(f"{server.url}/kcis", username="fibre-gateway", password=password)
        sandbox = start_sandbox(webhooks=[webhook], kci_delay=0.1)
        with FibreCafe(**sandbox.client_kwargs()) as client:
            test = client.service_tests.create(
                service_id="BBEU00537760",
                problem_type="OUTAGE",
                service_specification="FTTP",
                supplier="FIBRECO",
                characteristics={"SERVICE_HAS_WORKED": "false"},
                extra_headers={"X-Scenario": "SERVICE_TEST_RED"},
            )
        final = receiver_of(app).wait_for_sync(test.id, timeout=30)
        print(f"receiver handled service test {final.entity_id}: {final.entity_status}")
    return 0
