"""The guides name every setting, variable, fixture and command there is, so none goes unmentioned
when one is added."""

from __future__ import annotations

import inspect
import re

import pytest

from fibrecafe_client import AsyncFibreCafe, FibreCafe, _config, _logging, testing
from fibrecafe_client.cli import _build_parser

from .blocks import ROOT

DOCS = ROOT / "docs"


def _page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("client", [FibreCafe, AsyncFibreCafe])
def test_configuration_page_lists_every_constructor_keyword(client: type) -> None:
    page = _page("configuration.md")
    keywords = [p for p in inspect.signature(client).parameters if p != "self"]
    assert len(keywords) >= 15
    missing = [k for k in keywords if f"`{k}`" not in page]
    assert missing == []


def test_configuration_page_lists_every_environment_variable() -> None:
    page = _page("configuration.md")
    names = [v for k, v in vars(_config).items() if k.startswith("ENV_")] + [_logging.ENV_LOG]
    assert len(names) == 7
    assert [n for n in names if f"`{n}`" not in page] == []
    for name, url in _config.ENVIRONMENTS.items():
        assert f'`"{name}"`' in page
        assert url in page


def test_testing_page_lists_every_fixture() -> None:
    page = _page("testing.md")
    fixtures = [n for n in testing.__all__ if n != "fibrecafe_sandbox_server"]
    fixtures.append("fibrecafe_async_client")  # registered by name
    assert [f for f in fixtures if f"`{f}`" not in page] == []


def test_cli_page_covers_every_command_and_option() -> None:
    page = _page("cli.md")
    parser = _build_parser()
    seen: list[str] = []

    def walk(p: object, path: str) -> None:
        for action in getattr(p, "_actions", []):
            for option in action.option_strings:
                if option.startswith("--") and option not in ("--help", "--version"):
                    seen.append(option)
            choices = getattr(action, "choices", None)
            if not isinstance(choices, dict):
                continue
            for name, sub in choices.items():
                if hasattr(sub, "_actions"):
                    seen.append(f"{path} {name}".strip())
                    walk(sub, f"{path} {name}".strip())

    walk(parser, "")
    assert "service-tests create" in seen
    assert "--wait" in seen
    missing = [s for s in dict.fromkeys(seen) if not re.search(rf"{re.escape(s)}\b", page)]
    assert missing == []
