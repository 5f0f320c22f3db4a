"""The benchmarks run (quick mode) and measure what they claim: counts and results, never times."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmarks import Figure, Report
from benchmarks.__main__ import main
from benchmarks._harness import Samples, time_sync
from benchmarks.single_flight import COROUTINES, OUTAGE_POLICY, THREADS

BENCHMARKS = {
    "1. per-call overhead",
    "2. KCI parsing",
    "3. token single flight",
    "4. import time",
    "5. memory",
    "6. loopback throughput",
    "7. KCI receiver throughput",
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """One ``python -m benchmarks --quick`` run, in process: its JSON and its printed table."""
    import contextlib
    import io

    path = tmp_path_factory.mktemp("bench") / "quick.json"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--quick", "--json", str(path)]) == 0
    return json.loads(path.read_text(encoding="utf-8")), out.getvalue()


def _figures(run: dict[str, Any]) -> list[dict[str, Any]]:
    figures: list[dict[str, Any]] = run["figures"]
    return figures


@pytest.mark.network
def test_every_benchmark_reports_figures(quick_run: tuple[dict[str, Any], str]) -> None:
    run, table = quick_run
    assert run["mode"] == "quick"
    figures = _figures(run)
    assert {f["benchmark"] for f in figures} == BENCHMARKS
    for figure in figures:
        assert isinstance(figure["value"], int | float)
        assert math.isfinite(figure["value"])
        if figure["unit"] not in ("ms", "MB"):  # differences (time added, RSS growth) can dip
            assert figure["value"] >= 0  # below zero in quick mode; ratios and counts cannot
        assert figure["name"] in table
    machine = run["machine"]
    assert machine["nproc"] >= 1
    assert machine["packages"]["httpx"].startswith("0.28")


@pytest.mark.network
def test_single_flight_counts(quick_run: tuple[dict[str, Any], str]) -> None:
    run, _ = quick_run
    counts = {
        f["name"]: f["value"] for f in _figures(run) if f["benchmark"] == "3. token single flight"
    }
    for who in (f"{COROUTINES} coroutines", f"{THREADS} threads"):
        for phase in ("cold", "after expiry", "after revocation (401)"):
            assert counts[f"{who}, {phase}: token requests"] == 1
        outage = counts[f"{who}, token endpoint outage: token requests"]
        assert 1 <= outage <= OUTAGE_POLICY.max_attempts


@pytest.mark.network
def test_memory_and_ratios_are_measured(quick_run: tuple[dict[str, Any], str]) -> None:
    run, _ = quick_run
    by_unit: dict[str, list[dict[str, Any]]] = {}
    for figure in _figures(run):
        by_unit.setdefault(str(figure["unit"]), []).append(figure)
    assert len([f for f in by_unit["MB"] if f["benchmark"] == "5. memory"]) == 3
    ratios = [f for f in by_unit["x"] if f["target"]]
    # every timed target is a ratio against a yardstick run in the same process
    assert {f["benchmark"] for f in ratios} == BENCHMARKS - {"3. token single flight", "5. memory"}


@pytest.mark.network
def test_the_receiver_costs_three_redis_round_trips_per_kci(
    quick_run: tuple[dict[str, Any], str],
) -> None:
    run, _ = quick_run
    figures = {
        f["name"]: f["value"]
        for f in _figures(run)
        if f["benchmark"] == "7. KCI receiver throughput"
    }
    assert figures["Redis round trips per KCI (happy path)"] == 3.0  # claim, advance, commit
    assert 50 < figures["bytes Redis keeps per KCI (claim + entity sequence)"] < 1000


def test_figure_targets() -> None:
    assert Figure("b", "n", 1.2, "x", "<=", 1.25).met is True
    assert Figure("b", "n", 1.3, "x", "<=", 1.25).met is False
    assert Figure("b", "n", 0.95, "x", ">=", 0.9).met is True
    assert Figure("b", "n", 2, "requests", "==", 1).met is False
    assert Figure("b", "n", 3.0, "MB").met is None
    assert Figure("b", "n", 1, "requests", "==", 1).target == "== 1 requests"
    report = Report(mode="test", figures=[Figure("b", "n", 2, "x", "<", 1.0)])
    assert report.missed == report.figures
    assert "| b " in report.table()


def test_ratio_is_the_median_of_per_round_ratios() -> None:
    samples = Samples({"a": [2.0, 3.0, 10.0], "b": [1.0, 1.0, 1.0]})
    assert samples.ratio("a", "b") == 3.0
    assert samples.median_us("b") == 1e6


def test_time_sync_calls_every_case_the_same_number_of_times() -> None:
    calls = {"a": 0, "b": 0}

    def case(name: str) -> Callable[[], None]:
        def call() -> None:
            calls[name] += 1

        return call

    samples = time_sync({n: case(n) for n in calls}, rounds=3, number=5, warmup=2)
    assert calls == {"a": 17, "b": 17}
    assert all(len(v) == 3 for v in samples.per_call.values())


def test_results_dir_is_git_ignored() -> None:
    ignore = (Path(__file__).resolve().parents[2] / ".gitignore").read_text(encoding="utf-8")
    assert "benchmarks/results/*.json" in ignore
