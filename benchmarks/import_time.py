"""Benchmark 4: ``import fibrecafe_client`` in a fresh interpreter vs its own dependencies.

Each sample is one new interpreter timing its import statement with ``perf_counter`` (so the
interpreter's own start-up is not counted); the SDK and the baselines alternate, and the ratio
is the median over the rounds. Byte-code caching is switched on for the children (a pip install
compiles ``.pyc`` files too) and a first unmeasured import writes the caches.

Two baselines: ``import httpx, pydantic, tenacity`` exactly, where ``import pydantic`` is lazy
and loads little more than pydantic-core; and the same plus ``from pydantic import BaseModel``,
which every pydantic user pays before their first model.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

from ._report import Figure

__all__ = ["run"]

NAME = "4. import time"
TARGET = 1.3
_ROOT = Path(__file__).resolve().parents[1]

SNIPPETS = {
    "sdk": "import fibrecafe_client",
    "deps": "import httpx, pydantic, tenacity",
    "deps+BaseModel": "import httpx, pydantic, tenacity; from pydantic import BaseModel",
}
_TIMER = (
    "import time; _t = time.perf_counter(); {stmt}; print(round((time.perf_counter() - _t) * 1e6))"
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONDONTWRITEBYTECODE"}}
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def import_us(statement: str) -> float:
    """Microseconds that ``statement`` takes in a fresh interpreter."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and a fixed snippet
        [sys.executable, "-c", _TIMER.format(stmt=statement)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=_env(),
        cwd=_ROOT,
    )
    return float(done.stdout.strip().splitlines()[-1])


def run(*, quick: bool) -> list[Figure]:
    """Alternate the three imports for several rounds; report the ratios of the medians."""
    rounds = 3 if quick else 21
    for statement in SNIPPETS.values():
        import_us(statement)  # write the byte-code caches
    samples: dict[str, list[float]] = {name: [] for name in SNIPPETS}
    names = list(SNIPPETS)
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(import_us(SNIPPETS[name]))
    ms = {name: statistics.median(values) / 1000 for name, values in samples.items()}
    note = ", ".join(f"{name} {value:.0f} ms" for name, value in ms.items())
    return [
        Figure(
            NAME,
            "import fibrecafe_client / import httpx, pydantic, tenacity + BaseModel",
            ms["sdk"] / ms["deps+BaseModel"],
            "x",
            "<=",
            TARGET,
            note,
        ),
        Figure(
            NAME,
            "import fibrecafe_client / import httpx, pydantic, tenacity (lazy pydantic)",
            ms["sdk"] / ms["deps"],
            "x",
        ),
        Figure(
            NAME, "time the SDK adds to its dependencies", ms["sdk"] - ms["deps+BaseModel"], "ms"
        ),
    ]
