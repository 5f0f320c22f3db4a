"""Where ``parse_kci``'s time goes, step by step: ``python -m benchmarks.kci_parse_steps``.

cProfile is too coarse at microseconds, so each step is timed on its own and also added to the
validation it precedes: a byte scan costs more next to a parse than alone (it evicts what the
parse had in the CPU's caches and branch predictor), and the parse_kci figure pays the latter.
Not part of ``python -m benchmarks``: it explains benchmark 2, it does not hold it to a target.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from fibrecafe_client import ServiceTestKci, parse_kci
from fibrecafe_client.kci import _parse

from ._gateway import COMPLETED_KCI
from ._harness import time_sync
from .kci_parse import BareServiceTestKci


def main() -> None:
    """Print the median µs of each step and its ratio to the bare model."""
    body = COMPLETED_KCI
    parse_kci(body)  # builds the fast union
    ServiceTestKci.model_validate_json(body)  # builds the model's own validator
    fast = _parse._build_fast_validator()  # pyright: ignore[reportPrivateUsage] - profiled
    typed = ServiceTestKci.__pydantic_validator__
    not_openers = _parse._NOT_OPENERS  # pyright: ignore[reportPrivateUsage]

    def bound() -> int:
        return len(body.translate(None, not_openers))

    def typed_and_bound() -> object:
        bound()
        return typed.validate_json(body)

    def fast_and_bound() -> object:
        bound()
        return fast(body)

    cases: dict[str, Callable[[], object]] = {
        "json.loads": lambda: json.loads(body),
        "bare model_validate_json": lambda: BareServiceTestKci.model_validate_json(body),
        "ServiceTestKci.model_validate_json": lambda: ServiceTestKci.model_validate_json(body),
        "ServiceTestKci validator, called directly": lambda: typed.validate_json(body),
        "fast union validator (tag read in Rust)": lambda: fast(body),
        "nesting bound alone": bound,
        "nesting bound + ServiceTestKci validator": typed_and_bound,
        "nesting bound + fast union validator": fast_and_bound,
        "_validate_json (fast union + class check)": lambda: _parse._validate_json(body),  # pyright: ignore[reportPrivateUsage]
        "_parse_bytes (size, bound, _validate_json)": lambda: _parse._parse_bytes(
            body, 1 << 20, 64
        ),  # pyright: ignore[reportPrivateUsage]
        "parse_kci": lambda: parse_kci(body),
    }
    samples = time_sync(cases, rounds=21, number=5000, warmup=5000)
    for name in cases:
        ratio = samples.ratio(name, "bare model_validate_json")
        print(f"{name:45s} {samples.median_us(name):6.2f} us  {ratio:5.3f}x bare")


if __name__ == "__main__":
    main()
