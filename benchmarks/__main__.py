"""``python -m benchmarks [--quick] [--json PATH] [--only NAME ...]``: run, print, save."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ._report import Figure, Report

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


def _benchmarks() -> dict[str, Callable[..., list[Figure]]]:
    from . import (
        import_time,
        kci_parse,
        loopback,
        memory,
        overhead,
        receiver,
        single_flight,
        telemetry,
    )

    return {
        "overhead": overhead.run,
        "telemetry": telemetry.run,
        "kci": kci_parse.run,
        "single-flight": single_flight.run,
        "import": import_time.run,
        "memory": memory.run,
        "loopback": loopback.run,
        "receiver": receiver.run,
    }


def run(
    *, quick: bool, only: Sequence[str] = (), log: Callable[[str], None] | None = None
) -> Report:
    """Run the chosen benchmarks (all by default) and return their figures."""
    report = Report(mode="quick" if quick else "full")
    for name, bench in _benchmarks().items():
        if only and name not in only:
            continue
        start = time.perf_counter()
        report.add(bench(quick=quick))
        if log is not None:
            log(f"{name}: {time.perf_counter() - start:.1f}s")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point. Exits 0 even when a target is missed (the table says which); 2 on misuse."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs, for CI")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write figures")
    parser.add_argument(
        "--only", action="append", default=[], choices=sorted(_benchmarks()), help="repeatable"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    report = run(quick=args.quick, only=args.only, log=log)
    print(report.table())
    report.write_json(args.json)
    machine = report.machine
    print(
        f"\n{report.mode} run on {machine['nproc']} CPUs ({machine['cpu_model']}), "
        f"Python {machine['python']}; figures written to {args.json}"
    )
    return 1 if args.strict and report.missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
