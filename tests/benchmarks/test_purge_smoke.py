"""A tiny run of the sends-during-a-purge benchmark, so its code cannot rot. No timing is
asserted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from benchmarks.bench_purge import sends_beside_housekeeping, sends_during_purge
from benchmarks.common import sqlite_database

pytestmark = pytest.mark.slow


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)
def test_purge_benchmark_runs(tmp_path: Path) -> None:
    db = sqlite_database(tmp_path, "purge.db")
    row = sends_during_purge(db, "SQLite", days=2, per_day=300, rounds=1, seconds=0.5)
    assert row.measured.endswith("of sends without") and "rows/s" in row.detail


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)
def test_in_process_purge_benchmark_runs(tmp_path: Path) -> None:
    db = sqlite_database(tmp_path, "beside.db")
    row = sends_beside_housekeeping(db, "SQLite", days=2, per_day=300, rounds=1, seconds=0.5)
    assert row.measured.endswith("of sends without") and "rows at the end" in row.detail
