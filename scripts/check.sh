#!/usr/bin/env bash
# The whole test suite: lint, strict typing, then pytest. Run from the repository root after
# installing the dev extra (see README). Uses the interpreter of .venv when there is one.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=".venv/bin"
[ -x "$bin/python" ] || bin="$(dirname "$(command -v python3)")"
echo "== ruff"
"$bin/ruff" check .
"$bin/ruff" format --check .
echo "== mypy --strict"
"$bin/mypy" --strict
echo "== pyright --strict (fibrecafe_client; see [tool.pyright])"
"$bin/pyright" --pythonpath "$bin/python"
echo "== pytest"
"$bin/python" -m pytest "$@"
