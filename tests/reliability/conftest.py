"""Fixtures of the reliability suite: the bad gateway, a sandbox, a dead port, the fault matrix.

Set ``FIBRECAFE_FAULT_MATRIX=path.md`` to have the fault suite write the matrix of observed
outcomes (the table in ``docs/reliability.md`` comes from it).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from fibrecafe_client._logging import remove_env_handler
from fibrecafe_client.sandbox import Sandbox

from .badserver import BadGateway
from .canaries import CANARY_SECRET, CLIENT_ID

MATRIX_ENV = "FIBRECAFE_FAULT_MATRIX"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No FIBRECAFE_* variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("FIBRECAFE_") and name != MATRIX_ENV:
            monkeypatch.delenv(name)
    yield
    remove_env_handler()


@pytest.fixture(scope="session")
def bad_server() -> Iterator[BadGateway]:
    with BadGateway() as server:
        yield server


@pytest.fixture
def bad(bad_server: BadGateway) -> Iterator[BadGateway]:
    """The bad gateway, with empty queues and records (and held connections freed after)."""
    bad_server.reset()
    yield bad_server
    bad_server.reset()


@pytest.fixture
def dead_url() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a bound socket that does not listen: connections refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as dead:
        dead.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{dead.getsockname()[1]}"


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Sandbox]:
    # Tests never progress (kci_delay is long): only the API and token endpoint matter here.
    with Sandbox.start(
        client_id=CLIENT_ID, client_secret=CANARY_SECRET, kci_delay=3600.0
    ) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: Sandbox) -> Iterator[Sandbox]:
    sandbox_server.reset()
    yield sandbox_server
    sandbox_server.reset()


class Matrix:
    """Observed outcomes of the fault suite, written as Markdown when asked for."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, str]] = {}
        self.titles: dict[str, str] = {}
        self.slowest = 0.0

    def add(self, fault: str, title: str, column: str, text: str, elapsed: float) -> None:
        self.titles[fault] = title
        self.rows.setdefault(fault, {})[column] = text
        self.slowest = max(self.slowest, elapsed)

    def markdown(self) -> str:
        lines = [
            "| Fault | `create()` | `get()` |",
            "|---|---|---|",
        ]
        for fault, title in self.titles.items():
            cells = self.rows[fault]
            lines.append(f"| {title} | {cells.get('create', '')} | {cells.get('get', '')} |")
        lines.append("")
        lines.append(f"Slowest call: {self.slowest:.2f} s.")
        return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def matrix() -> Iterator[Matrix]:
    collected = Matrix()
    yield collected
    target = os.environ.get(MATRIX_ENV)
    if target and collected.rows:
        Path(target).write_text(collected.markdown(), encoding="utf-8")
