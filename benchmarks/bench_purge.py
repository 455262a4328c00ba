"""Sends while a purge runs: single sends (wrk) against ``trebuchet serve``, alternately
without and with a housekeeper deleting an old backlog from another process (as a
``trebuchet worker``'s housekeeper or ``trebuchet purge`` would), in one run.

    .venv/bin/python -m benchmarks.bench_purge            # SQLite, then PostgreSQL
    .venv/bin/python -m benchmarks.bench_purge --quick

The backlog is planted first: days of traffic older than the record window (messages,
events, attempts, carrier references, idempotency keys, user errors; see
``benchmarks/soak.py``), so every step of the housekeeper has work.  The figure is the
median of the per-round ratios of send rates, with the purge's own rate beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import Row, median, postgres_available, postgres_database, sqlite_database
from benchmarks.processes import ROOT, create_user, trebuchet_server
from benchmarks.soak import day_rows, write_day
from benchmarks.wrk import ensure_wrk, run_wrk
from trebuchet.server.config import Settings, load_settings
from trebuchet.server.domain.times import now_us
from trebuchet.server.engine.housekeeping import Housekeeper, batch_size
from trebuchet.server.store import Store
from trebuchet.server.store.retention import DAY_US

NUMBERS = ("+15550100001", "+15550100002")
READY = "purging"


async def plant(db: str, days: int, per_day: int) -> int:
    """``days`` of traffic ending 40 days ago; answers the rows stored."""
    store = Store(db)
    await store.open()
    try:
        for day in range(days):
            start = now_us() - (40 + days - day) * DAY_US
            await write_day(store, day_rows(start, per_day, "u-backlog"))
        return sum((await store.retention.table_rows()).values())
    finally:
        await store.close()


async def rows(db: str) -> int:
    store = Store(db)
    await store.open(run_migrations=False)
    try:
        return sum((await store.retention.table_rows()).values())
    finally:
        await store.close()


async def due(db: str) -> int:
    """Rows the housekeeping steps would still handle (scrubs and deletions)."""
    store = Store(db)
    await store.open(run_migrations=False)
    try:
        return sum((await Housekeeper.from_settings(store, settings_for(db)).due()).values())
    finally:
        await store.close()


def settings_for(db: str) -> Settings:
    """The settings a ``trebuchet purge`` on ``db`` would use (defaults, or the
    ``TREBUCHET_HOUSEKEEPING_*`` variables this run was given)."""
    return load_settings({"db": db})


def pacing(db: str) -> str:
    """The batch and duty cycle on ``db``, as the detail names them."""
    settings = settings_for(db)
    dialect = "sqlite" if db.startswith("sqlite") else "postgresql"
    return (
        f"{batch_size(settings, dialect)} per transaction, "
        f"duty cycle {settings.housekeeping_duty_cycle:g}"
    )


async def _purge_forever(db: str) -> None:
    """The purging process, paced as ``trebuchet purge`` is: rounds back to back until
    killed (or nothing is left)."""
    store = Store(db)
    await store.open(run_migrations=False)
    keeper = Housekeeper.from_settings(store, settings_for(db))
    print(READY, flush=True)
    try:
        while any((await keeper.run_once()).values()):
            pass
    finally:
        await store.close()


@contextmanager
def purging(db: str) -> Iterator[subprocess.Popen[str]]:
    args = [sys.executable, "-m", "benchmarks.bench_purge", "--purge-only", db]
    with subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != READY:
                raise RuntimeError("the purging process did not start")
            yield proc
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def sends_during_purge(
    db: str, label: str, *, days: int, per_day: int, rounds: int, seconds: float
) -> Row:
    account = create_user(db, NUMBERS)
    planted = asyncio.run(plant(db, days, per_day))
    body = json.dumps({"from": NUMBERS[0], "to": NUMBERS[1], "text": "Your code is 4417"})
    ratios, without, during, purged_per_s = [], [], [], []
    covered = True
    with trebuchet_server(db, engine="false") as (url, _):
        path = f"{url}/v1/users/{account.user_id}/messages"
        run_wrk(path, body, account.auth, seconds=1)  # warm caches and the pool
        for _ in range(rounds):  # alternate so drift on a shared machine hits both alike
            quiet = run_wrk(path, body, account.auth, seconds=seconds)
            before = asyncio.run(due(db))
            with purging(db) as proc:
                busy = run_wrk(path, body, account.auth, seconds=seconds)
                covered = covered and proc.poll() is None  # still purging at the end
            purged_per_s.append((before - asyncio.run(due(db))) / seconds)
            if quiet.non_2xx or busy.non_2xx:
                raise RuntimeError(f"{quiet.non_2xx + busy.non_2xx} sends failed")
            without.append(quiet.requests_per_s)
            during.append(busy.requests_per_s)
            ratios.append(busy.requests_per_s / quiet.requests_per_s)
    ratio = median(ratios)
    return Row(
        f"sends during a purge, {label}",
        f"{ratio:.2f} of sends without",
        "within noise (~0.9-1.1)",
        None,
        f"median of {rounds} alternating runs; {median(during):,.0f} vs "
        f"{median(without):,.0f} req/s; purge handled ~{median(purged_per_s):,.0f} rows/s "
        f"meanwhile ({pacing(db)}) from a backlog of {planted:,} rows"
        + ("" if covered else "; the backlog ran out during a window"),
    )


def sends_beside_housekeeping(
    db: str, label: str, *, days: int, per_day: int, rounds: int, seconds: float
) -> Row:
    """The same, with the housekeeper in the serve process itself (the engine's, every
    50 ms) against a serve process whose housekeeping is off; both run the engine."""
    account = create_user(db, NUMBERS)
    planted = asyncio.run(plant(db, days, per_day))
    body = json.dumps({"from": NUMBERS[0], "to": "+15557654321", "text": "Your code is 4417"})
    ratios, without, during = [], [], []

    def sends(**settings: str) -> float:
        with trebuchet_server(db, **settings) as (url, _):
            path = f"{url}/v1/users/{account.user_id}/messages"
            result = run_wrk(path, body, account.auth, seconds=seconds)
        if result.non_2xx:
            raise RuntimeError(f"{result.non_2xx} sends failed")
        return result.requests_per_s

    for _ in range(rounds):
        quiet = sends(housekeeping_interval="0")
        busy = sends(housekeeping_interval="0.05")
        without.append(quiet)
        during.append(busy)
        ratios.append(busy / quiet)
    left = asyncio.run(rows(db))
    return Row(
        f"sends beside the engine's housekeeping, {label}",
        f"{median(ratios):.2f} of sends without",
        "within noise (~0.9-1.1)",
        None,
        f"median of {rounds} alternating runs, a fresh serve each; {median(during):,.0f} vs "
        f"{median(without):,.0f} req/s; backlog {planted:,} rows ({pacing(db)}), "
        f"{left:,} rows at the end",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--purge-only", metavar="DB", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.purge_only:
        asyncio.run(_purge_forever(args.purge_only))
        return
    ensure_wrk()
    days, per_day, rounds, seconds = (4, 1000, 1, 1.0) if args.quick else (20, 4000, 3, 3.0)
    sized = {"days": days, "per_day": per_day, "rounds": rounds, "seconds": seconds}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite_database(Path(tmp), "purge.db")
        results.append(sends_during_purge(db, "SQLite", **sized))
        db = sqlite_database(Path(tmp), "beside.db")
        results.append(sends_beside_housekeeping(db, "SQLite", **sized))
    if postgres_available():
        with postgres_database() as db:
            results.append(sends_during_purge(db, "PostgreSQL", **sized))
        with postgres_database() as db:
            results.append(sends_beside_housekeeping(db, "PostgreSQL", **sized))
    for row in results:
        print(f"| {row.benchmark} | {row.measured} | {row.target} | {row.detail} |")


if __name__ == "__main__":
    main()
