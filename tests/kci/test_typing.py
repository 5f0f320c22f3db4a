"""``receiver.on(entity_type)`` tells a type checker which KCI class the handler gets (11.17)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CASES = Path(__file__).parent / "typing_cases"


def test_a_handler_typed_for_the_wrong_kci_class_is_a_type_error(tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: S603 - this interpreter's mypy, a fixed file
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(tmp_path),
            "--no-error-summary",
            str(CASES / "receiver_on.py"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    lines = (CASES / "receiver_on.py").read_text().splitlines()
    wrong = next(i for i, line in enumerate(lines, 1) if line.startswith("def wrong"))
    assert len(errors) == 1, result.stdout
    assert f"receiver_on.py:{wrong - 1}: error" in errors[0] or f":{wrong}: error" in errors[0]
    assert "_GenericHandler" in errors[0]
