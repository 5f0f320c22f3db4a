"""pytest plugin: a running Fibre Cafe sandbox and clients for it, for tenants' own test suites.

Installed with the SDK as the ``fibrecafe`` pytest plugin, so the fixtures are simply there::

    def test_my_integration(fibrecafe_client, fibrecafe_kci_receiver):
        red = {"X-Scenario": "SERVICE_TEST_RED"}
        test = fibrecafe_client.service_tests.create(..., extra_headers=red)
        kci = fibrecafe_kci_receiver.wait_for_sync(test.id, timeout=10)
        assert kci.entity.test_result == "RED"

Fixtures:

- ``fibrecafe_sandbox``: a :class:`~fibrecafe_client.sandbox.Sandbox` on 127.0.0.1, shared by
  the session and reset before and after every test (no service tests, faults, extra webhooks
  or counts leak from one test to the next).
- ``fibrecafe_client`` / ``fibrecafe_async_client``: a ``FibreCafe`` / ``AsyncFibreCafe``
  configured for it (the async one needs pytest-asyncio).
- ``fibrecafe_kci_receiver``: a real :class:`~fibrecafe_client.KciReceiver` served on loopback
  and registered as the sandbox's webhook, to test KCI handlers end to end.
- ``fibrecafe_kci_capture``: a raw recorder of KCI deliveries (bodies, headers, attempts).
- ``fibrecafe_sandbox_options``: override it (session scope) to start the sandbox with other
  settings, e.g. ``{"kci_delay": 0.05}``.

Importing this module is cheap: the sandbox, uvicorn and the clients load only when a fixture is
used, and without uvicorn the fixtures fail with an explanation instead of breaking pytest.
"""

from __future__ import annotations

import importlib.util
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fibrecafe_client import AsyncFibreCafe, FibreCafe, KciReceiver
    from fibrecafe_client.sandbox import KciCapture, Sandbox

# The plugin's interface is its fixtures (fibrecafe_async_client is registered by name).
__all__ = [
    "fibrecafe_client",
    "fibrecafe_kci_capture",
    "fibrecafe_kci_receiver",
    "fibrecafe_sandbox",
    "fibrecafe_sandbox_options",
    "fibrecafe_sandbox_server",
]

_INSTALL_HINT = "pip install 'fibrecafe-client[sandbox]'"


def _require_uvicorn() -> None:
    """Fail the requesting test with a clear message when the sandbox cannot be served."""
    if importlib.util.find_spec("uvicorn") is None:
        pytest.fail(
            f"the fibrecafe sandbox fixtures need uvicorn, which is not installed: {_INSTALL_HINT}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def fibrecafe_sandbox_options() -> dict[str, Any]:
    """Keyword arguments for ``Sandbox.start`` (override this fixture to change them)."""
    return {}


@pytest.fixture(scope="session")
def fibrecafe_sandbox_server(fibrecafe_sandbox_options: dict[str, Any]) -> Iterator[Sandbox]:
    """The session's sandbox, started on first use (``fibrecafe_sandbox`` resets it per test)."""
    _require_uvicorn()
    from fibrecafe_client.sandbox import Sandbox  # noqa: PLC0415 - loaded only when used

    with Sandbox.start(**fibrecafe_sandbox_options) as sandbox:
        yield sandbox


@pytest.fixture
def fibrecafe_sandbox(fibrecafe_sandbox_server: Sandbox) -> Iterator[Sandbox]:
    """A running sandbox in a fresh state: reset before and after the test."""
    fibrecafe_sandbox_server.reset()
    yield fibrecafe_sandbox_server
    fibrecafe_sandbox_server.reset()


@pytest.fixture
def fibrecafe_client(fibrecafe_sandbox: Sandbox) -> Iterator[FibreCafe]:
    """A sync ``FibreCafe`` client for the sandbox, closed after the test."""
    from fibrecafe_client import FibreCafe  # noqa: PLC0415

    with FibreCafe(**fibrecafe_sandbox.client_kwargs()) as client:
        yield client


if importlib.util.find_spec("pytest_asyncio") is not None:
    import pytest_asyncio

    @pytest_asyncio.fixture(name="fibrecafe_async_client")
    async def _async_client(fibrecafe_sandbox: Sandbox) -> AsyncIterator[AsyncFibreCafe]:
        """An ``AsyncFibreCafe`` client for the sandbox, closed after the test."""
        from fibrecafe_client import AsyncFibreCafe  # noqa: PLC0415

        async with AsyncFibreCafe(**fibrecafe_sandbox.client_kwargs()) as client:
            yield client

else:  # pragma: no cover - depends on the tenant's test dependencies

    @pytest.fixture(name="fibrecafe_async_client")
    def _async_client_unavailable() -> None:
        """Stands in for the async client fixture when pytest-asyncio is missing."""
        pytest.fail(
            "the fibrecafe_async_client fixture needs pytest-asyncio: pip install pytest-asyncio",
            pytrace=False,
        )


@pytest.fixture
def fibrecafe_kci_receiver(fibrecafe_sandbox: Sandbox) -> Iterator[KciReceiver]:
    """A ``KciReceiver`` (Basic auth) served on loopback and registered with the sandbox.

    Register handlers with ``receiver.on(...)`` and wait with ``receiver.wait_for_sync(id)``
    (or ``await receiver.wait_for(id)``).
    """
    from fibrecafe_client import BasicAuthVerifier, KciReceiver  # noqa: PLC0415
    from fibrecafe_client._loopback import serve_asgi  # noqa: PLC0415

    user, password = "fibre-gateway", secrets.token_urlsafe(16)
    receiver = KciReceiver(verifier=BasicAuthVerifier(user, password))
    with serve_asgi(receiver.asgi_app()) as server:
        hook = fibrecafe_sandbox.add_webhook(f"{server.url}/kcis", username=user, password=password)
        try:
            yield receiver
        finally:
            fibrecafe_sandbox.remove_webhook(hook)


@pytest.fixture
def fibrecafe_kci_capture(fibrecafe_sandbox: Sandbox) -> Iterator[KciCapture]:
    """A raw recorder of the sandbox's KCI deliveries (every attempt, body and header)."""
    from fibrecafe_client.sandbox import KciCapture  # noqa: PLC0415

    with KciCapture() as capture:
        hook = fibrecafe_sandbox.add_webhook(capture.url)
        try:
            yield capture
        finally:
            fibrecafe_sandbox.remove_webhook(hook)
