"""Fixtures for the KCI tests: published and hand-written KCIs, and real loopback servers.

One uvicorn server and one WSGI server run for the whole session; each test plugs its own
``KciReceiver`` into them through a switch, so no server is started per test.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from fibrecafe_client._loopback import LoopbackServer, serve_asgi, serve_wsgi
from fibrecafe_client.kci import KciReceiver

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "kcis"
PUBLISHED = (
    "service-test-sent-to-supplier",
    "service-test-in-progress",
    "service-test-completed",
    "service-test-rejected",
    "service-test-failed-to-send",
)

_SERVICE_TEST_ENTITY: dict[str, Any] = {
    "id": 777,
    "status": "IN_PROGRESS",
    "serviceId": "BBEU00537760",
    "serviceSpecification": {"id": "FTTP"},
    "supplier": "FIBRECO",
    "problemType": "OUTAGE",
    "characteristics": [{"name": "SERVICE_HAS_WORKED", "value": "false"}],
}

#: A plausible entity per documented entity type (the gateway publishes orders and problems
#: only as examples; the SDK keeps them as mappings).
ENTITIES: dict[str, dict[str, Any]] = {
    "SERVICE_TEST": _SERVICE_TEST_ENTITY,
    "PROVIDE_ORDER": {
        "id": "ORD-1001",
        "status": "ACKNOWLEDGED",
        "orderType": "PROVIDE",
        "serviceSpecification": {"id": "FTTP-GIGABIT"},
        "appointment": {"start": "2024-05-01T08:00:00+01:00", "slot": "WEEKDAY_AM"},
    },
    "MODIFY_ORDER": {"id": "ORD-1002", "status": "COMMITTED", "orderType": "MODIFY"},
    "CEASE_ORDER": {"id": "ORD-1003", "status": "COMPLETED", "orderType": "CEASE"},
    "UNSOLICITED_CEASE_ORDER": {
        "id": "ORD-1004",
        "status": "CREATED",
        "orderType": "UNSOLICITED_CEASE",
    },
    "SERVICE_PROBLEM": {
        "id": 4567,
        "status": "IN_PROGRESS",
        "serviceTestId": 777,
        "problemType": "OUTAGE",
    },
    "ETHERNET_PROVIDE_ORDER": {"id": "ETH-1", "status": "ACKNOWLEDGED", "bandwidth": 1000},
}


class KciFactory(Protocol):
    """Builds a hand-written KCI document."""

    def __call__(
        self,
        entity_type: str = "SERVICE_TEST",
        *,
        update_type: str = "INFORMATIONAL",
        sequence_number: int = 1,
        status: str | None = None,
        entity_id: int | str | None = None,
        kci_id: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]: ...


def build_kci(
    entity_type: str = "SERVICE_TEST",
    *,
    update_type: str = "INFORMATIONAL",
    sequence_number: int = 1,
    status: str | None = None,
    entity_id: int | str | None = None,
    kci_id: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A valid KCI: envelope fields, the matching update object, an entity of ``entity_type``."""
    entity = copy.deepcopy(ENTITIES.get(entity_type, ENTITIES["ETHERNET_PROVIDE_ORDER"]))
    if status is not None:
        entity["status"] = status
    if entity_id is not None:
        entity["id"] = entity_id
    doc: dict[str, Any] = {
        "id": kci_id or str(uuid.uuid4()),
        "supplier": "FIBRECO",
        "sequenceNumber": sequence_number,
        "issuedOn": "2024-04-23T10:25:54.000Z",
        "receivedOn": "2024-04-23T10:25:24.000Z",
        "deliveredOn": "2024-04-23T10:26:54.000Z",
        "updateType": update_type,
        "entityType": entity_type,
        "entity": entity,
    }
    if update_type == "ERROR":
        doc["error"] = {
            "uuid": str(uuid.uuid4()),
            "code": "SUPPLIER_FAULT",
            "messages": ["The supplier API returned the following message: 500"],
        }
    elif update_type == "ACTION_REQUIRED":
        doc["action"] = {
            "type": "INFORMATION_REQUIRED",
            "code": "MISSING_CONTACT",
            "text": "Please provide an on-site contact.",
            "supplierCode": "AR12",
        }
    else:
        doc["information"] = {"type": "UPDATE"}
    doc.update(fields)
    return doc


@pytest.fixture(scope="session")
def make_kci() -> KciFactory:
    """The hand-written KCI builder."""
    return build_kci


@pytest.fixture(scope="session")
def published() -> dict[str, bytes]:
    """The five published service-test KCIs, by name, as raw bytes."""
    return {name: (FIXTURES / f"{name}.json").read_bytes() for name in PUBLISHED}


@pytest.fixture(scope="session")
def published_docs(published: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    """The five published KCIs decoded."""
    return {name: json.loads(body) for name, body in published.items()}


class ReceiverSwitch:
    """Forwards to whichever receiver the current test plugged in (ASGI or WSGI side)."""

    def __init__(self) -> None:
        self.receiver: KciReceiver | None = None

    def target(self) -> KciReceiver:
        if self.receiver is None:
            raise RuntimeError("no receiver plugged in")
        return self.receiver


class AsgiSwitch(ReceiverSwitch):
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.target().asgi_app()(scope, receive, send)


class WsgiSwitch(ReceiverSwitch):
    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.target().wsgi_app()(environ, start_response)


@pytest.fixture(scope="session")
def switches() -> Iterator[dict[str, tuple[ReceiverSwitch, LoopbackServer]]]:
    """A uvicorn server and a WSGI server on 127.0.0.1 for the whole session."""
    asgi_switch, wsgi_switch = AsgiSwitch(), WsgiSwitch()
    with serve_asgi(asgi_switch) as asgi_server, serve_wsgi(wsgi_switch) as wsgi_server:
        yield {"asgi": (asgi_switch, asgi_server), "wsgi": (wsgi_switch, wsgi_server)}


Serve = Callable[[KciReceiver], str]


@pytest.fixture(params=["asgi", "wsgi"])
def serve(
    request: pytest.FixtureRequest,
    switches: dict[str, tuple[ReceiverSwitch, LoopbackServer]],
) -> Iterator[Serve]:
    """Plug a receiver into the ASGI or the WSGI server (both, by parametrisation); returns the
    ``/kcis`` URL."""
    switch, server = switches[request.param]

    def plug(receiver: KciReceiver) -> str:
        switch.receiver = receiver
        return f"{server.url}/kcis"

    yield plug
    switch.receiver = None


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A plain HTTP client for loopback servers."""
    with httpx.Client(timeout=10.0) as client:
        yield client
