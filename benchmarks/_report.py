"""Figures, the printed table and the JSON file."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

Op = Literal["<=", ">=", "==", "<"]

_PACKAGES = ("httpx", "pydantic", "pydantic-core", "tenacity", "anyio", "authlib", "orjson")


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured number, with the target it is held to (if any).

    ``unit`` is ``x`` for ratios (SDK / yardstick: lower is cheaper, except throughput where
    higher is better), ``us`` for informational per-call times, ``requests``, ``MB`` or ``ms``.
    """

    benchmark: str
    name: str
    value: float
    unit: str
    op: Op | None = None
    bound: float | None = None
    note: str = ""

    @property
    def met(self) -> bool | None:
        """Whether the target is met (None when the figure has no target)."""
        if self.op is None or self.bound is None:
            return None
        checks = {
            "<=": self.value <= self.bound,
            ">=": self.value >= self.bound,
            "==": self.value == self.bound,
            "<": self.value < self.bound,
        }
        return checks[self.op]

    @property
    def target(self) -> str:
        """The target as text, e.g. ``<= 1.25x``."""
        if self.op is None or self.bound is None:
            return ""
        return f"{self.op} {_number(self.bound, self.unit)}{_suffix(self.unit)}"

    def as_dict(self) -> dict[str, Any]:
        """The figure for the JSON file."""
        return {**asdict(self), "target": self.target, "met": self.met}


def _number(value: float, unit: str = "x") -> str:
    if value == int(value) and (unit != "x" or abs(value) >= 10):
        return f"{int(value)}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _suffix(unit: str) -> str:
    return "x" if unit == "x" else f" {unit}"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, Any]:
    """What the figures depend on: CPUs, Python and the versions of the stack."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "nproc": usable,
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "packages": {name: _version(name) for name in ("fibrecafe-client", *_PACKAGES)},
    }


@dataclass(slots=True)
class Report:
    """Every figure of one run, and the machine it ran on."""

    mode: str
    figures: list[Figure] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=machine_info)
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def add(self, figures: Iterable[Figure]) -> None:
        """Append the figures of one benchmark."""
        self.figures.extend(figures)

    def get(self, benchmark: str, name: str) -> Figure:
        """The figure with this benchmark and name (KeyError if absent)."""
        for figure in self.figures:
            if figure.benchmark == benchmark and figure.name == name:
                return figure
        raise KeyError(f"{benchmark}: {name}")

    @property
    def missed(self) -> list[Figure]:
        """Figures whose target is not met."""
        return [f for f in self.figures if f.met is False]

    def table(self) -> str:
        """The figures as a Markdown table."""
        rows = [("Benchmark", "Figure", "Value", "Target", "Met")]
        for f in self.figures:
            met = {True: "yes", False: "NO", None: ""}[f.met]
            value = f"{_number(f.value, f.unit)}{_suffix(f.unit)}"
            rows.append((f.benchmark, f.name, value, f.target, met))
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines = []
        for index, row in enumerate(rows):
            cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
            lines.append("| " + " | ".join(cells) + " |")
            if index == 0:
                lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """The whole run for the JSON file."""
        return {
            "mode": self.mode,
            "started": self.started,
            "machine": self.machine,
            "figures": [f.as_dict() for f in self.figures],
        }

    def write_json(self, path: Path) -> None:
        """Write :meth:`as_dict` to ``path`` (parents created)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_dict(), indent=2) + "\n", encoding="utf-8")
