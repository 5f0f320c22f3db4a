"""A session sandbox with a KCI capture for the service-problem tests (real loopback sockets)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fibrecafe_client import FibreCafe, RetryPolicy
from fibrecafe_client.sandbox import KciCapture, Sandbox


@pytest.fixture(scope="session")
def problem_capture() -> Iterator[KciCapture]:
    with KciCapture() as capture:
        yield capture


@pytest.fixture(scope="session")
def problem_sandbox_server(problem_capture: KciCapture) -> Iterator[Sandbox]:
    with Sandbox.start(
        webhooks=[problem_capture.webhook()],
        kci_delay=0.01,
        kci_max_attempts=3,
        kci_retry_backoff=0.01,
        kci_retry_max_backoff=0.05,
    ) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(problem_sandbox_server: Sandbox, problem_capture: KciCapture) -> Iterator[Sandbox]:
    """The session sandbox, reset, with its capture emptied."""
    problem_sandbox_server.reset()
    problem_capture.clear()
    yield problem_sandbox_server
    problem_sandbox_server.reset()


@pytest.fixture
def capture(sandbox: Sandbox, problem_capture: KciCapture) -> KciCapture:
    return problem_capture


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[FibreCafe]:
    retry = RetryPolicy(max_retries=2, initial_backoff=0, max_backoff=0, max_retry_after=0)
    with FibreCafe(**sandbox.client_kwargs(), retry=retry) as made:
        yield made
