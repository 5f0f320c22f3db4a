"""A local fake of the Fibre Cafe gateway, for developing and testing without credentials.

It speaks the documented Tenant API over real HTTP on loopback: the OAuth2 token endpoint,
``POST``/``GET /v1/service-tests`` with the gateway's validation and error bodies, CVT-style
scenarios chosen with ``X-Scenario``, KCI webhooks delivered in order with redelivery, and fault
knobs for tests. Serving it needs uvicorn (``pip install 'fibrecafe-client[sandbox]'``)::

    from fibrecafe_client.sandbox import Sandbox

    with Sandbox.start(webhooks=["http://127.0.0.1:9000/kcis"]) as sb:
        print(sb.base_url, sb.client_id, sb.client_secret)

``serve_asgi`` / ``serve_wsgi`` run your own app (a KCI receiver, say) on loopback beside it.
See ``docs/sandbox.md``.
"""

from fibrecafe_client._loopback import LoopbackServer, serve_asgi, serve_wsgi

from ._app import SandboxApp
from ._capture import CapturedKci, KciCapture
from ._config import (
    CVT_KCI_DELAY,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_KCI_DELAY,
    DEFAULT_SCOPE,
    FANOUT_MODES,
    FanoutMode,
    SandboxConfig,
    Webhook,
)
from ._delivery import REORDER_HOLD, DeliveryKnobs
from ._faults import DROPPED, Faults, FaultTarget, SandboxStats
from ._scenarios import DEFAULT_PROBLEM_CODE, DEFAULT_SCENARIO, Scenario
from ._server import DEFAULT_PORT, ClientKwargs, Sandbox, run_forever

__all__ = [
    "CVT_KCI_DELAY",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_KCI_DELAY",
    "DEFAULT_PORT",
    "DEFAULT_PROBLEM_CODE",
    "DEFAULT_SCENARIO",
    "DEFAULT_SCOPE",
    "DROPPED",
    "FANOUT_MODES",
    "REORDER_HOLD",
    "CapturedKci",
    "ClientKwargs",
    "DeliveryKnobs",
    "FanoutMode",
    "FaultTarget",
    "Faults",
    "KciCapture",
    "LoopbackServer",
    "Sandbox",
    "SandboxApp",
    "SandboxConfig",
    "SandboxStats",
    "Scenario",
    "Webhook",
    "create_app",
    "run_forever",
    "serve_asgi",
    "serve_wsgi",
]


def create_app(config: SandboxConfig | None = None) -> SandboxApp:
    """A new sandbox ASGI application, for mounting in your own ASGI server."""
    return SandboxApp(config)
