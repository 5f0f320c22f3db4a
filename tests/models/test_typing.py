"""Open enums give type checkers two disjoint types, so they narrow and check exhaustiveness.

``ServiceTestStatus | str`` collapses to ``str`` (every member is a str): no narrowing, no
``assert_never``. The cases file is checked by mypy and pyright; each must report an error on
exactly the lines marked ``# E`` (issue 11.17).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

CASE = Path(__file__).parent / "typing_cases" / "open_enums.py"
BIN = Path(sys.executable).parent


def _marked_lines() -> set[int]:
    lines = CASE.read_text().splitlines()
    return {
        number
        for number, line in enumerate(lines, 1)
        if line.rstrip().endswith("# E") or "# E:" in line
    }


def _run(command: list[str]) -> str:
    result = subprocess.run(  # noqa: S603 - this environment's checkers, a fixed file
        command, capture_output=True, text=True, timeout=300, check=False
    )
    return result.stdout + result.stderr


def test_mypy_narrows_open_enums_and_checks_exhaustiveness(tmp_path: Path) -> None:
    output = _run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(tmp_path),
            "--no-error-summary",
            str(CASE),
        ]
    )
    errors = {int(m) for m in re.findall(r"open_enums\.py:(\d+): error", output)}
    assert errors == _marked_lines(), output


def test_pyright_narrows_open_enums_and_checks_exhaustiveness() -> None:
    pyright = BIN / "pyright"
    if not pyright.exists():
        pytest.skip("pyright is not installed (the docs extra)")
    output = _run([str(pyright), "--pythonpath", sys.executable, str(CASE)])
    errors = {int(m) for m in re.findall(r"open_enums\.py:(\d+):\d+ - error", output)}
    assert errors == _marked_lines(), output
