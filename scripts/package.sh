#!/usr/bin/env bash
# Release readiness: build the sdist and wheel, `twine check` them, check what the wheel holds
# (py.typed, the license, no tests, the single-sourced version) and import the built wheel.
# Run from anywhere after installing the dev extra; writes only to a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=".venv/bin"
[ -x "$bin/python" ] || bin="$(dirname "$(command -v python3)")"
bin="$(cd "$bin" && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "== build"
"$bin/python" -m build --outdir "$out/dist" . >"$out/build.log" 2>&1 || { cat "$out/build.log"; exit 1; }
ls "$out/dist"

echo "== twine check"
"$bin/twine" check --strict "$out"/dist/*

echo "== wheel contents"
"$bin/python" - "$out/dist" <<'PY'
import re
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

dist = Path(sys.argv[1])
version = re.search(
    r'__version__\s*=\s*"([^"]+)"', Path("fibrecafe_client/_version.py").read_text()
).group(1)
wheels = list(dist.glob("*.whl"))
sdists = list(dist.glob("*.tar.gz"))
assert len(wheels) == 1 and len(sdists) == 1, (wheels, sdists)
wheel, sdist = wheels[0], sdists[0]
assert wheel.name == f"fibrecafe_client-{version}-py3-none-any.whl", wheel.name
assert sdist.name == f"fibrecafe_client-{version}.tar.gz", sdist.name

names = zipfile.ZipFile(wheel).namelist()
info = f"fibrecafe_client-{version}.dist-info"
problems = []
for required in (
    "fibrecafe_client/py.typed",
    "fibrecafe_client/__init__.py",
    "fibrecafe_client/kci/__init__.py",
    "fibrecafe_client/sandbox/__init__.py",
    "fibrecafe_client/testing.py",
    f"{info}/licenses/LICENSE",
    f"{info}/entry_points.txt",
):
    if required not in names:
        problems.append(f"missing from the wheel: {required}")
strays = [n for n in names if not n.startswith(("fibrecafe_client/", info + "/"))]
tests = [n for n in names if "/tests/" in f"/{n}" or Path(n).name.startswith("test_")]
problems += [f"not part of the package: {n}" for n in strays]
problems += [f"a test in the wheel: {n}" for n in tests]
problems += [f"bytecode in the wheel: {n}" for n in names if n.endswith(".pyc")]

meta = Parser().parsestr(zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode())
expect = {"Name": "fibrecafe-client", "Version": version, "License-Expression": "MIT"}
for field, value in expect.items():
    if meta.get(field) != value:
        problems.append(f"METADATA {field}: {meta.get(field)!r}, expected {value!r}")
if not meta.get("Requires-Python", "").startswith(">=3.11"):
    problems.append(f"METADATA Requires-Python: {meta.get('Requires-Python')!r}")
urls = meta.get_all("Project-URL") or []
for label in ("Homepage", "Documentation", "Changelog", "Issues"):
    if not any(u.startswith(f"{label}, ") for u in urls):
        problems.append(f"METADATA has no {label} project URL")
if "Typing :: Typed" not in (meta.get_all("Classifier") or []):
    problems.append("METADATA lacks the Typing :: Typed classifier")
entry_points = zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
for line in ("fibrecafe = fibrecafe_client.cli:main", "fibrecafe = fibrecafe_client.testing"):
    if line not in entry_points:
        problems.append(f"entry point missing: {line}")

with tarfile.open(sdist) as tar:
    members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
for required in ("LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "fibrecafe_client/py.typed"):
    if required not in members:
        problems.append(f"missing from the sdist: {required}")

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"{wheel.name}: {len(names)} files, py.typed, LICENSE, no tests; version {version}")
PY

echo "== import the built wheel"
"$bin/python" -m pip install --quiet --no-deps --no-compile --target "$out/site" "$out"/dist/*.whl
py="$bin/python"
# From the temporary directory, so that the checkout is not on sys.path.
(cd "$out" && PYTHONPATH="$out/site" "$py" - "$out/site") <<'PY'
import sys
from pathlib import Path

import fibrecafe_client
import fibrecafe_client.kci
import fibrecafe_client.sandbox
import fibrecafe_client.testing
from fibrecafe_client.cli import main  # noqa: F401 - importable

site = Path(sys.argv[1]).resolve()
assert Path(fibrecafe_client.__file__).resolve().is_relative_to(site), fibrecafe_client.__file__
assert (Path(fibrecafe_client.__file__).parent / "py.typed").is_file()
print("imported", fibrecafe_client.__version__, "from the wheel")
PY
(cd "$out" && PYTHONPATH="$out/site" "$py" -m fibrecafe_client.cli --version)

echo "== pyright --verifytypes (the public API as a type checker sees the installed wheel)"
(cd "$out" && PYTHONPATH="$out/site" "$bin/pyright" --pythonpath "$py" \
    --verifytypes fibrecafe_client --ignoreexternal >"$out/verifytypes.txt") \
    || { cat "$out/verifytypes.txt"; exit 1; }
grep "completeness score" "$out/verifytypes.txt"
echo "package OK"
