"""Run the code of README.md and docs/*.md against a sandbox, so the docs never rot.

See ``blocks.py`` for the conventions. The blocks run as written: the placeholder credentials
``"..."`` are the ones this sandbox accepts, ``FIBRECAFE_CLIENT_ID`` / ``FIBRECAFE_CLIENT_SECRET``
hold them too, and both named environments (``"cvt"``, ``"prod"``) are pointed at the sandbox,
so a block can never reach a real gateway.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import linecache
import logging
import os
import shutil
import subprocess
import sys
import time
import tokenize
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from fibrecafe_client import _client, _config
from fibrecafe_client.cli import main as cli_main
from fibrecafe_client.sandbox import Sandbox

from .blocks import ROOT, Block, cli_commands, markdown_pages, read_blocks

pytestmark = pytest.mark.network

PLACEHOLDER = "..."  # the client id and secret the docs write
RUNNABLE = frozenset({"python", "console"})
FIXTURES = ROOT / "tests" / "fixtures" / "kcis"
# Environment variables the docs' examples read, besides the client's own.
SHORT_WAIT = 0.02
# DOCS_SHOW_OUTPUT=1 pytest -s tests/docs: see what the blocks print, to check their comments.
SHOW_OUTPUT = bool(os.environ.get("DOCS_SHOW_OUTPUT"))
EXAMPLE_ENV = {
    "FIBRECAFE_KCI_AUTH": "basic",
    "FIBRECAFE_KCI_USERNAME": "fibre-gateway",
    "FIBRECAFE_KCI_PASSWORD": "docs-kci-password",
}


def _pages_with_code() -> list[Path]:
    return [p for p in markdown_pages() if any(b.lang in RUNNABLE for b in read_blocks(p))]


@pytest.fixture
def docs_sandbox() -> Iterator[Sandbox]:
    """A new sandbox per page (test ids start at 1, as the pages show), that accepts the docs'
    placeholder credentials and moves at once."""
    with Sandbox.start(client_id=PLACEHOLDER, client_secret=PLACEHOLDER, kci_delay=0) as sb:
        yield sb


@pytest.fixture
def docs_env(
    docs_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Sandbox]:
    """The environment of a reader who followed Getting started: credentials set, in a fresh
    directory holding a published KCI as ``kci.json``."""
    for name in list(os.environ):
        if name.startswith("FIBRECAFE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FIBRECAFE_CLIENT_ID", PLACEHOLDER)
    monkeypatch.setenv("FIBRECAFE_CLIENT_SECRET", PLACEHOLDER)
    monkeypatch.setenv("FIBRECAFE_ENVIRONMENT", "cvt")
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("cvt", "prod"):
        monkeypatch.setitem(_config.ENVIRONMENTS, name, docs_sandbox.base_url)
    # Polls and retry waits the docs write for a real gateway (seconds) are cut short here;
    # the clock stays real, so every deadline still holds.
    monkeypatch.setattr(_client, "time", SimpleNamespace(monotonic=time.monotonic, sleep=_short))
    monkeypatch.setattr(_client, "anyio", SimpleNamespace(sleep=_ashort))
    shutil.copy(FIXTURES / "service-test-completed.json", tmp_path / "kci.json")
    monkeypatch.chdir(tmp_path)
    # The logging page configures logging: leave it as it was for the rest of the suite.
    root, sdk = logging.getLogger(), logging.getLogger("fibrecafe_client")
    saved = (root.level, root.handlers[:], sdk.level, sdk.handlers[:])
    yield docs_sandbox
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    sdk.setLevel(saved[2])
    sdk.handlers[:] = saved[3]


def _short(seconds: float) -> None:
    time.sleep(min(seconds, SHORT_WAIT))


async def _ashort(seconds: float) -> None:
    await asyncio.sleep(min(seconds, SHORT_WAIT))


def _run_python(block: Block, namespace: dict[str, object]) -> None:
    # Pad so that tracebacks point at the line of the Markdown file.
    source = "\n" * (block.line - 1) + block.code
    linecache.cache[block.where] = (len(source), None, source.splitlines(True), block.where)
    code = compile(source, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if code.co_flags & inspect.CO_COROUTINE:
        asyncio.run(eval(code, namespace))  # noqa: S307 - our own docs
    else:
        exec(code, namespace)  # noqa: S102 - our own docs


def _run_console(block: Block) -> int:
    commands = cli_commands(block)
    assert commands, f"{block.where}: a console block without a `$ fibrecafe` line"
    for argv in commands:
        out = io.StringIO()
        try:
            code = cli_main(argv, out=out)
        except SystemExit as exc:  # argparse refuses the command line
            code = exc.code if isinstance(exc.code, int) else 2
        assert code == 0, f"{block.where}: `fibrecafe {' '.join(argv)}` exited {code}"
    return len(commands)


def _run_pytest_module(block: Block, directory: Path) -> None:
    module = directory / "test_docs_example.py"
    module.write_text(block.code, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIBRECAFE_")}
    done = subprocess.run(  # noqa: S603 - our interpreter, our file
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(module)],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{block.where}: the example test failed:\n{done.stdout}"


@pytest.mark.parametrize("page", _pages_with_code(), ids=lambda p: str(Path(p).relative_to(ROOT)))
def test_page_code_runs(page: Path, docs_env: Sandbox, tmp_path: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__docs__"}
    ran = 0
    for block in read_blocks(page):
        if block.lang not in RUNNABLE or block.directive == "skip":
            continue
        if block.directive == "pytest":
            _run_pytest_module(block, tmp_path)
        elif block.lang == "console":
            _run_console(block)
        else:
            quiet = contextlib.redirect_stdout(io.StringIO())
            with contextlib.nullcontext() if SHOW_OUTPUT else quiet:
                _run_python(block, namespace)
        ran += 1
    assert ran > 0


def test_every_block_not_run_says_why() -> None:
    blocks = [b for p in markdown_pages() for b in read_blocks(p)]
    unexplained = [b.where for b in blocks if b.directive == "skip" and not (b.reason or "")]
    assert unexplained == []
    # Code meant for a reader to run is Python or a console session; a Python-looking block
    # under another fence would silently escape the run.
    disguised = [b.where for b in blocks if b.lang in {"py", "python3", "pycon", "sh"}]
    assert disguised == []


def test_docs_never_name_a_real_gateway_in_runnable_code() -> None:
    runnable = [
        b
        for p in markdown_pages()
        for b in read_blocks(p)
        if b.lang in RUNNABLE and b.directive != "skip"
    ]
    assert len(runnable) >= 20
    assert [b.where for b in runnable if _names_a_real_gateway(b)] == []


def _names_a_real_gateway(block: Block) -> bool:
    """A real gateway host in the code itself (comments showing output may name one)."""
    if block.lang != "python":
        return any("fibregateway.com" in " ".join(argv) for argv in cli_commands(block))
    tokens = tokenize.generate_tokens(io.StringIO(block.code).readline)
    return any(t.type == tokenize.STRING and "fibregateway.com" in t.string for t in tokens)
