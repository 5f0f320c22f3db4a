"""Benchmark 2: ``parse_kci`` on the published COMPLETED service-test KCI vs ``json.loads``.

``parse_kci`` gives a typed, validated event (datetimes, open enums, unknown fields kept);
``json.loads`` gives a dict and checks nothing. ``orjson.loads`` is reported for reference when
orjson is installed (the ``bench`` extra). Everything is warmed up first, so lazily built
validators are not timed.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from fibrecafe_client import ServiceTestKci, ServiceTestStatus, parse_kci

from ._gateway import COMPLETED_KCI
from ._harness import time_sync
from ._report import Figure

__all__ = ["run"]

NAME = "2. KCI parsing"
TARGET = 1.3


def _check() -> None:
    kci = parse_kci(COMPLETED_KCI)
    if not isinstance(kci, ServiceTestKci) or kci.entity.status != ServiceTestStatus.COMPLETED:
        raise AssertionError(f"parse_kci gave {kci!r}")
    if json.loads(COMPLETED_KCI)["entity"]["id"] != kci.entity_id:
        raise AssertionError("parse_kci and json.loads disagree on the entity id")


def run(*, quick: bool) -> list[Figure]:
    """Time the three parsers on the same bytes, interleaved."""
    _check()
    body = COMPLETED_KCI
    cases: dict[str, Callable[[], object]] = {
        "parse_kci": lambda: parse_kci(body),
        "model_validate_json": lambda: ServiceTestKci.model_validate_json(body),
        "json.loads": lambda: json.loads(body),
    }
    try:
        import orjson
    except ImportError:  # the bench extra is not installed
        has_orjson = False
    else:
        has_orjson = True
        cases["orjson.loads"] = lambda: orjson.loads(body)
    rounds, number, warmup = (3, 200, 200) if quick else (21, 5000, 5000)
    samples = time_sync(cases, rounds=rounds, number=number, warmup=warmup)
    us = {name: samples.median_us(name) for name in cases}
    note = ", ".join(f"{name} {value:.1f} us" for name, value in us.items())
    figures = [
        Figure(
            NAME,
            f"parse_kci / json.loads ({len(body)}-byte KCI)",
            samples.ratio("parse_kci", "json.loads"),
            "x",
            "<=",
            TARGET,
            note,
        ),
        Figure(
            NAME,
            "ServiceTestKci.model_validate_json / json.loads",
            samples.ratio("model_validate_json", "json.loads"),
            "x",
        ),
    ]
    if has_orjson:
        figures.append(
            Figure(
                NAME, "parse_kci / orjson.loads", samples.ratio("parse_kci", "orjson.loads"), "x"
            )
        )
    return figures
