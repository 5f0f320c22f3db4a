"""Benchmark 2: ``parse_kci`` on the published COMPLETED service-test KCI vs ``json.loads``.

``parse_kci`` gives a typed, validated event (datetimes, open enums, unknown fields kept);
``json.loads`` gives a dict and checks nothing. The second yardstick is a *bare* pydantic model
of the same shape (plain ``BaseModel`` classes, camelCase aliases, the same plain field types,
no open enums, validators or extra fields): what any typed parse of this body costs, so
``parse_kci / bare`` is what the SDK's guarantees add. ``orjson.loads`` is reported for
reference when orjson is installed (the ``bench`` extra). Everything is warmed up first, so
lazily built validators are not timed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from fibrecafe_client import ServiceTestKci, ServiceTestStatus, parse_kci

from ._gateway import COMPLETED_KCI
from ._harness import time_sync
from ._report import Figure

__all__ = ["run"]

NAME = "2. KCI parsing"
#: Issue 14: parse_kci within 1.4x json.loads and 1.1x the bare model of the same shape.
TARGET = 1.4
BARE_TARGET = 1.1


class _Bare(BaseModel):
    model_config: ClassVar[ConfigDict] = ConfigDict(alias_generator=to_camel)


class _BareInformation(_Bare):
    type: str | None = None
    code: str | None = None
    text: str | None = None
    supplier_code: str | None = None


class _BareError(_Bare):
    uuid: str | None = None
    code: str | None = None
    messages: list[str] = Field(default_factory=list)


class _BareNote(_Bare):
    note: str | None = None
    type: str | None = None
    created: datetime | None = None


class _BareCharacteristic(_Bare):
    name: str
    value: str


class _BareSpecification(_Bare):
    id: str
    name: str | None = None


class _BareMeasure(_Bare):
    metric_name: str | None = None
    capture_date_time: datetime | None = None
    metric_value: str | None = None
    unit_of_measure: str | None = None
    rule_violation: bool | None = None
    rule_severity: str | None = None


class _BareOutcome(_Bare):
    test_result: str | None = None
    code: str | None = None
    description: str | None = None
    supplier_codes: list[str] = Field(default_factory=list)
    supplier_text: str | None = None


class _BareResult(_Bare):
    test_validity: datetime | None = None
    test_measures: list[_BareMeasure] = Field(default_factory=list[_BareMeasure])
    test_outcome: _BareOutcome | None = None


class _BareServiceTest(_Bare):
    id: int
    status: str
    service_id: str
    problem_type: str
    service_specification: _BareSpecification
    created: datetime | None = None
    updated: datetime | None = None
    supplier_reference: str | None = None
    supplier: str | None = None
    characteristics: list[_BareCharacteristic] = Field(default_factory=list[_BareCharacteristic])
    result: _BareResult | None = None


class BareServiceTestKci(_Bare):
    """``ServiceTestKci``'s fields and nesting as plain pydantic: the typed-parse yardstick."""

    id: str
    supplier: str
    sequence_number: int
    issued_on: datetime | None = None
    received_on: datetime | None = None
    delivered_on: datetime
    delivery_status: str | None = None
    update_type: str
    information: _BareInformation | None = None
    action: _BareInformation | None = None
    error: _BareError | None = None
    supplier_notes: list[_BareNote] = Field(default_factory=list[_BareNote])
    entity_type: str
    entity: _BareServiceTest


def _check() -> None:
    kci = parse_kci(COMPLETED_KCI)
    if not isinstance(kci, ServiceTestKci) or kci.entity.status != ServiceTestStatus.COMPLETED:
        raise AssertionError(f"parse_kci gave {kci!r}")
    if json.loads(COMPLETED_KCI)["entity"]["id"] != kci.entity_id:
        raise AssertionError("parse_kci and json.loads disagree on the entity id")
    bare = BareServiceTestKci.model_validate_json(COMPLETED_KCI)
    outcome = bare.entity.result.test_outcome if bare.entity.result else None
    if (bare.entity.id, bare.delivered_on, outcome and outcome.supplier_codes) != (
        kci.entity_id,
        kci.delivered_on,
        ["ND510"],
    ):
        raise AssertionError(f"the bare model parsed the KCI differently: {bare!r}")


def run(*, quick: bool) -> list[Figure]:
    """Time the three parsers on the same bytes, interleaved."""
    _check()
    body = COMPLETED_KCI
    cases: dict[str, Callable[[], object]] = {
        "parse_kci": lambda: parse_kci(body),
        "model_validate_json": lambda: ServiceTestKci.model_validate_json(body),
        "bare model_validate_json": lambda: BareServiceTestKci.model_validate_json(body),
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
            "parse_kci / bare model_validate_json",
            samples.ratio("parse_kci", "bare model_validate_json"),
            "x",
            "<=",
            BARE_TARGET,
        ),
        Figure(
            NAME,
            "bare model_validate_json / json.loads",
            samples.ratio("bare model_validate_json", "json.loads"),
            "x",
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
