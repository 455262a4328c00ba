"""Run every benchmark, print a table and write BENCHMARKS.md.

    .venv/bin/python -m benchmarks.run            # the full suite (a few minutes)
    .venv/bin/python -m benchmarks.run --quick    # small sizes, to check it works

Every figure is a ratio or a rate measured in this one run, next to its reference, since
absolute times drift on a shared machine.  Load stays on loopback and every loop is
bounded in count and time.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import (
    bench_console,
    bench_failover,
    bench_jasmin_http,
    bench_list,
    bench_media,
    bench_memory,
    bench_purge,
    bench_sdk,
    bench_send,
    bench_smpp,
    bench_topology,
    bench_wakeup,
)
from benchmarks.common import Row, postgres_available, postgres_database, sqlite_database
from benchmarks.processes import ROOT
from benchmarks.wrk import ensure_wrk


@dataclass(frozen=True)
class Sizes:
    send_rounds: int
    send_seconds: float
    list_rows: int
    list_repeats: int
    sdk_rows: int
    sdk_rounds: int
    sdk_sends: int
    memory_messages: int
    e2e_burst: int
    e2e_paced_seconds: float
    console_rows: int = 1_000_000
    console_repeats: int = 30
    smpp_messages: int = 3000
    purge_days: int = 20
    purge_per_day: int = 4000
    failover_sends: int = 20_000
    media_rounds: int = 3
    media_files: int = 40
    wakeup_messages: int = 200
    wakeup_rounds: int = 4


FULL = Sizes(3, 4.0, 1_000_000, 20, 200_000, 3, 300, 1_000_000, 20_000, 8.0)
QUICK = Sizes(
    1, 1.0, 3_000, 3, 3_000, 1, 20, 5_000, 200, 1.0, smpp_messages=200, failover_sends=500
)
QUICK = replace(
    QUICK,
    purge_days=2,
    purge_per_day=300,
    console_rows=2_000,
    console_repeats=2,
    media_rounds=1,
    media_files=5,
    wakeup_messages=6,
    wakeup_rounds=2,
)


def _rows(sizes: Sizes, work: Path, with_postgres: bool) -> list[Row]:
    shape = bench_topology.default_shape()

    def default_send(db: str, label: str) -> list[Row]:
        return [
            bench_topology.send_row(
                db, label, shape, rounds=sizes.send_rounds, seconds=sizes.send_seconds
            )
        ]

    def accept_only(db: str, label: str) -> list[Row]:
        return [
            bench_send.single_send(db, label, rounds=sizes.send_rounds, seconds=sizes.send_seconds)
        ]

    def end_to_end(db: str, label: str) -> list[Row]:
        return bench_topology.e2e_rows(
            db, label, shape, burst=sizes.e2e_burst, paced_s=sizes.e2e_paced_seconds
        )

    steps: list[tuple[str, Callable[[], list[Row]]]] = [
        (
            "single send, default start, SQLite",
            lambda: default_send(sqlite_database(work, "send.db"), "SQLite"),
        ),
        (
            "single send vs Jasmin HTTP /send",
            lambda: bench_jasmin_http.jasmin_http(
                work, rounds=sizes.send_rounds, seconds=sizes.send_seconds
            ),
        ),
        (
            "single send, accept only, SQLite",
            lambda: accept_only(sqlite_database(work, "accept.db"), "SQLite"),
        ),
        (
            "bulk send, SQLite",
            lambda: [
                bench_send.bulk_send(
                    sqlite_database(work, "bulk.db"), "SQLite", seconds=sizes.send_seconds
                )
            ],
        ),
        (
            "end to end, SQLite",
            lambda: end_to_end(sqlite_database(work, "e2e.db"), "SQLite"),
        ),
        (
            "list, SQLite",
            lambda: bench_list.list_pages(
                sqlite_database(work, "list.db"),
                "SQLite",
                count=sizes.list_rows,
                repeats=sizes.list_repeats,
            ),
        ),
        (
            "console pages, SQLite",
            lambda: bench_console.console_pages(
                sqlite_database(work, "console.db"),
                "SQLite",
                count=sizes.console_rows,
                repeats=sizes.console_repeats,
            ),
        ),
        (
            "SDK",
            lambda: bench_sdk.sdk(
                sqlite_database(work, "sdk.db"),
                count=sizes.sdk_rows,
                rounds=sizes.sdk_rounds,
                sends=sizes.sdk_sends,
            ),
        ),
        (
            "memory, SQLite",
            lambda: [
                bench_memory.memory(
                    sqlite_database(work, "memory.db"),
                    messages=sizes.memory_messages,
                    max_seconds=150,
                )
            ],
        ),
        (
            "sends during a purge, SQLite",
            lambda: [
                bench_purge.sends_during_purge(
                    sqlite_database(work, "purge.db"),
                    "SQLite",
                    days=sizes.purge_days,
                    per_day=sizes.purge_per_day,
                    rounds=sizes.send_rounds,
                    seconds=sizes.send_seconds,
                )
            ],
        ),
        # Optional: one row saying "skipped" when the Jasmin peer cannot start here.
        ("SMPP to Jasmin", lambda: bench_smpp.smpp(sizes.smpp_messages)),
        ("failover router", lambda: bench_failover.failover(sizes.failover_sends)),
        (
            "media, S3 (moto) vs filesystem",
            lambda: [
                bench_media.media_round_trip(
                    work, rounds=sizes.media_rounds, files=sizes.media_files
                )
            ],
        ),
    ]
    if with_postgres:

        def on_postgres(fn: Callable[[str], list[Row]]) -> Callable[[], list[Row]]:
            def run() -> list[Row]:
                with postgres_database() as db:
                    return fn(db)

            return run

        steps += [
            ("single send, default start, PostgreSQL", on_postgres(
                lambda db: default_send(db, "PostgreSQL"))),
            ("single send, accept only, PostgreSQL", on_postgres(
                lambda db: accept_only(db, "PostgreSQL"))),
            ("bulk send, PostgreSQL", on_postgres(
                lambda db: [bench_send.bulk_send(db, "PostgreSQL", seconds=sizes.send_seconds)])),
            ("end to end, PostgreSQL", on_postgres(lambda db: end_to_end(db, "PostgreSQL"))),
            ("list, PostgreSQL", on_postgres(
                lambda db: bench_list.list_pages(
                    db, "PostgreSQL", count=sizes.list_rows, repeats=sizes.list_repeats))),
            ("wake-ups across processes, PostgreSQL", on_postgres(
                lambda db: bench_wakeup.wakeup_latency(
                    db, count=sizes.wakeup_messages, rounds=sizes.wakeup_rounds))),
        ]  # fmt: skip
    rows: list[Row] = []
    for name, step in steps:
        started = time.monotonic()
        print(f"... {name}", flush=True)
        rows += step()
        print(f"    done in {time.monotonic() - started:.0f} s", flush=True)
    return rows


def _mark(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "-"}[met]


def table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | processes | measured | target | met | detail |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.benchmark} | {r.topology or '-'} | {r.measured} | {r.target} | {_mark(r.met)} "
        f"| {r.detail} |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the code runs")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    ensure_wrk()
    with_postgres = not args.no_postgres and postgres_available()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="trebuchet-bench-") as tmp:
        rows = _rows(sizes, Path(tmp), with_postgres)
    elapsed = time.monotonic() - started
    result = table(rows)
    print(result)
    if args.quick:
        return
    header = (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m benchmarks.run` in "
        f"{elapsed:.0f} s on {platform.machine()} with {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; `serve`'s default shape here: "
        f"{bench_topology.default_shape().label}"
        f"{'' if with_postgres else ' (PostgreSQL rows skipped: no server answered)'}."
    )
    notes_path = ROOT / "benchmarks" / "NOTES.md"
    notes = notes_path.read_text() if notes_path.exists() else ""
    args.output.write_text(f"# Benchmarks\n\n{header}\n\n{result}\n\n{notes}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
