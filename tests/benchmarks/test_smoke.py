"""A tiny run of every benchmark, so the benchmark code cannot rot. No timing is asserted."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from benchmarks.common import sqlite_database
from benchmarks.run import table

from benchmarks import (
    bench_console,
    bench_failover,
    bench_jasmin_http,
    bench_list,
    bench_memory,
    bench_sdk,
    bench_send,
    bench_topology,
    bench_wakeup,
)

pytestmark = pytest.mark.slow


def _check(rows: list) -> None:  # type: ignore[type-arg]
    assert rows
    for row in rows:
        assert row.measured and row.target
    assert "| benchmark |" in table(rows)


def test_list_benchmark_runs(tmp_path: Path) -> None:
    _check(bench_list.list_pages(sqlite_database(tmp_path), "SQLite", count=2_500, repeats=2))


def test_list_benchmark_runs_on_postgres(postgres_url: str) -> None:
    _check(bench_list.list_pages(postgres_url, "PostgreSQL", count=2_500, repeats=2))


def test_sdk_benchmark_runs(tmp_path: Path) -> None:
    _check(bench_sdk.sdk(sqlite_database(tmp_path), count=2_000, rounds=1, sends=5))


def test_end_to_end_benchmark_runs(tmp_path: Path) -> None:
    shape = bench_topology.default_shape()
    rows = bench_topology.e2e_rows(
        sqlite_database(tmp_path), "SQLite", shape, burst=50, paced_s=0.5
    )
    _check(rows)
    assert all(row.topology == shape.label for row in rows)
    assert "µs server CPU per message" in rows[0].detail


def test_console_benchmark_runs(tmp_path: Path) -> None:
    _check(bench_console.console_pages(sqlite_database(tmp_path), "SQLite", count=500, repeats=1))


def test_memory_benchmark_runs(tmp_path: Path) -> None:
    _check([bench_memory.memory(sqlite_database(tmp_path), messages=2_000, max_seconds=30)])


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)
def test_send_benchmarks_run(tmp_path: Path) -> None:
    _check(
        [bench_send.single_send(sqlite_database(tmp_path, "a.db"), "SQLite", rounds=1, seconds=0.5)]
    )
    _check([bench_send.bulk_send(sqlite_database(tmp_path, "b.db"), "SQLite", seconds=0.5)])
    shape = bench_topology.default_shape()
    row = bench_topology.send_row(
        sqlite_database(tmp_path, "c.db"), "SQLite", shape, rounds=1, seconds=0.5
    )
    _check([row])
    assert row.topology == shape.label and "of bare app" in row.measured


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)
def test_jasmin_http_benchmark_runs(tmp_path: Path) -> None:
    rows = bench_jasmin_http.jasmin_http(tmp_path, rounds=1, seconds=0.5)
    _check(rows)
    if rows[0].measured == "skipped":
        pytest.skip(f"Jasmin peer unavailable: {rows[0].detail}")
    assert [row.measured.endswith("x Jasmin") for row in rows] == [True, True]


def test_failover_benchmark_runs() -> None:
    _check(bench_failover.failover(count=200, rounds=1))


def test_wakeup_benchmark_runs_on_postgres(postgres_url: str) -> None:
    _check(bench_wakeup.wakeup_latency(postgres_url, count=2, rounds=1))


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)
def test_topology_benchmark_runs(tmp_path: Path) -> None:
    from benchmarks import bench_topology

    shape = bench_topology.Shape(2, 1)
    sent = bench_topology.single_send(
        sqlite_database(tmp_path, "t.db"), shape, rounds=1, seconds=0.5
    )
    assert sent["ours"] > 0 and sent["cpu_us"] > 0
    e2e = bench_topology.end_to_end(sqlite_database(tmp_path, "e.db"), shape, burst=50, paced_s=0.5)
    assert e2e["rate"] > 0 and e2e["cpu_us"] > 0
    # The burst alone (``--paced 0``): no paced run, so no latencies to report.
    burst = bench_topology.end_to_end(
        sqlite_database(tmp_path, "b.db"), bench_topology.Shape(1, 1), burst=50, paced_s=0
    )
    assert burst["rate"] > 0 and burst["cpu_us"] > 0 and math.isnan(burst["p50"])
