"""Every example runs as a script on a fresh machine: no credentials means the local sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXPECTED = {
    "create_service_test.py": "final: COMPLETED, GREEN",
    "async_service_tests.py": "COMPLETED, GREEN",
    "raise_service_problem.py": "final: COMPLETED",
    "fastapi_kci_webhook.py": "receiver handled service test",
    "flask_kci_webhook.py": "receiver handled service test",
}


def test_every_example_is_covered() -> None:
    scripts = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(EXPECTED)


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs_against_the_sandbox_without_credentials(script: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIBRECAFE_")}
    done = subprocess.run(  # noqa: S603 - our own example scripts
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        cwd=EXAMPLES.parent,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "using a local sandbox gateway" in done.stderr
    assert EXPECTED[script] in done.stdout
