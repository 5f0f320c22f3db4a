"""Find the fenced code blocks of the Markdown docs and decide which of them run.

Conventions (for whoever writes the docs):

- A ```` ```python ```` block runs. The blocks of one page run in order in one namespace, like a
  reader typing them into one session, so a later block may use what an earlier one defined.
  Top-level ``await`` is allowed (the block then runs in its own event loop).
- A ```` ```console ```` block runs its ``$ fibrecafe ...`` lines (``\\`` continues a line)
  through the CLI's ``main()``; each must exit 0. Its other lines are the expected output and
  are not compared (ids and times vary).
- ``<!-- skip: why -->`` on the line before a block keeps it from running; the reason is
  required. ``<!-- pytest -->`` runs a Python block as a pytest test module instead, in a
  subprocess, with the ``fibrecafe`` plugin loaded as a tenant's suite would have it.
- Every other fence (``bash``, ``text``, ``mermaid``...) is text.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Block", "cli_commands", "markdown_pages", "read_blocks"]

ROOT = Path(__file__).resolve().parents[2]

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
_DIRECTIVE = re.compile(r"^<!--\s*(?P<name>skip|pytest)\s*(?::\s*(?P<arg>.*?))?\s*-->$")


@dataclass(frozen=True, slots=True)
class Block:
    """One fenced block: where it is, its language, its text and its directive (if any)."""

    path: Path
    line: int  # 1-based line of the first line of code
    lang: str
    code: str
    directive: str | None = None
    reason: str | None = None

    @property
    def where(self) -> str:
        """``docs/page.md:LINE``, for messages."""
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def markdown_pages() -> list[Path]:
    """README.md and every page of the docs site."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def read_blocks(path: Path) -> list[Block]:
    """The fenced blocks of ``path`` in order. Raises ValueError on an unclosed fence."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        fence, info = match["fence"], match["info"].strip()
        start = index + 1
        end = start
        while end < len(lines) and not lines[end].startswith(fence):
            end += 1
        if end == len(lines):
            raise ValueError(f"{path}:{index + 1}: unclosed code fence")
        directive, reason = _directive_before(lines, index)
        blocks.append(
            Block(
                path=path,
                line=start + 1,
                lang=info.split()[0].lower() if info else "",
                code="\n".join(lines[start:end]) + "\n",
                directive=directive,
                reason=reason,
            )
        )
        index = end + 1
    return blocks


def _directive_before(lines: list[str], fence_index: int) -> tuple[str | None, str | None]:
    previous = fence_index - 1
    while previous >= 0 and not lines[previous].strip():
        previous -= 1
    if previous < 0:
        return None, None
    match = _DIRECTIVE.match(lines[previous].strip())
    if match is None:
        return None, None
    return match["name"], match["arg"]


def cli_commands(block: Block) -> list[list[str]]:
    """The ``fibrecafe`` command lines of a console block, as argv lists (without the name)."""
    commands: list[list[str]] = []
    pending = ""
    for raw in block.code.splitlines():
        line = raw.rstrip()
        if pending:
            pending += " " + line.rstrip("\\").strip()
        elif line.startswith("$ "):
            pending = line[2:].rstrip("\\").strip()
        else:
            continue
        if not line.endswith("\\"):
            argv = shlex.split(pending, comments=True)
            if argv and argv[0] == "fibrecafe":
                commands.append(argv[1:])
            pending = ""
    return commands
