"""Reliability figures from real processes: scale-out and faults, written to docs/reliability.md.

    .venv/bin/python -m benchmarks.reliability            # the full run (3 to 4 minutes)
    .venv/bin/python -m benchmarks.reliability --quick    # 2,000 messages, to check it works
    .venv/bin/python -m benchmarks.reliability --out -    # print instead of writing the file

It runs the scenarios of ``tests/reliability`` (the same code the tests assert on) against
``trebuchet serve`` and ``trebuchet worker`` processes on loopback: PostgreSQL from
``TREBUCHET_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``, one
fresh database per scenario), Redis at 127.0.0.1:6379.  A scenario that cannot run here
(no Redis, no ``pg_ctlcluster``, not root) is listed as skipped with the reason.  Then it
runs the hostile-input and schemathesis tests and counts the inputs they tried.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.conftest import POSTGRES_ADMIN_URL
from tests.reliability import faults, scenarios
from tests.reliability.cluster import (
    RestartUnavailable,
    ensure_postgres_running,
    local_postgres_cluster,
    restart_postgres,
)

from benchmarks.common import postgres_available, postgres_database
from benchmarks.processes import ROOT

BUDGET_SECONDS = 280.0  # scenarios are skipped once this much has gone
REDIS_URL = "redis://127.0.0.1:6379/0"
HOSTILE_TESTS = ("tests/server/test_hostile_input.py", "tests/server/test_schemathesis.py")


@dataclass
class Outcome:
    name: str
    status: str = "ok"  # ok, skipped, failed
    reason: str = ""
    result: Any = None
    seconds: float = 0.0


@dataclass
class Report:
    quick: bool
    outcomes: list[Outcome] = field(default_factory=list)
    hostile: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def get(self, name: str) -> Any:
        for outcome in self.outcomes:
            if outcome.name == name and outcome.status == "ok":
                return outcome.result
        return None


def _run(
    report: Report, name: str, make: Callable[[Path], Coroutine[Any, Any, Any]], *,
    postgres: bool = True,
) -> None:  # fmt: skip
    outcome = Outcome(name)
    report.outcomes.append(outcome)
    if time.monotonic() - report.started > BUDGET_SECONDS:
        outcome.status, outcome.reason = "skipped", "out of time for this run"
        return
    print(f"-- {name}", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="trebuchet-reliability-") as work:
            outcome.result = asyncio.run(make(Path(work)))
    except (faults.Unsupported, RestartUnavailable) as exc:
        outcome.status, outcome.reason = "skipped", str(exc).splitlines()[0]
    except Exception as exc:  # report it and go on with the other scenarios
        outcome.status, outcome.reason = "failed", f"{type(exc).__name__}: {exc}"[:300]
    outcome.seconds = time.monotonic() - started


def _on_postgres(
    scenario: Callable[[str, Path], Coroutine[Any, Any, Any]],
) -> Callable[[Path], Coroutine[Any, Any, Any]]:
    async def run(work: Path) -> Any:
        with postgres_database_in_thread() as db:
            return await scenario(db, work)

    return run


class postgres_database_in_thread:
    """``benchmarks.common.postgres_database`` from inside a running event loop."""

    def __enter__(self) -> str:
        import threading

        ready = threading.Event()
        self._done = threading.Event()
        box: list[str] = []

        def hold() -> None:
            with postgres_database() as db:
                box.append(db)
                ready.set()
                self._done.wait()

        self._thread = threading.Thread(target=hold, daemon=True)
        self._thread.start()
        if not ready.wait(30) or not box:
            raise RuntimeError("no PostgreSQL database could be created")
        return box[0]

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(60)


def run_scenarios(report: Report) -> None:
    count = 2_000 if report.quick else 20_000
    _run(
        report, "scale-out",
        _on_postgres(lambda db, w: scenarios.scale_out(db, w, count=count, within=170)),
    )  # fmt: skip
    _run(report, "sender-rate", _on_postgres(lambda db, w: scenarios.sender_rate(db, w)))

    async def api_limits(work: Path) -> Any:
        import socket

        try:
            socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        except OSError as exc:
            raise faults.Unsupported(f"no Redis at {REDIS_URL}: {exc}") from exc
        with postgres_database_in_thread() as db:
            shared = await scenarios.api_rate_limit(
                db, work / "redis", backend="redis", redis_url=REDIS_URL
            )
            alone = await scenarios.api_rate_limit(db, work / "memory", backend="memory")
        return shared, alone

    _run(report, "api-rate-limit", api_limits)

    async def pg_restart(work: Path) -> Any:
        cluster = local_postgres_cluster()
        try:
            with postgres_database_in_thread() as db:
                return await scenarios.postgres_restart(
                    db, work, lambda: restart_postgres(POSTGRES_ADMIN_URL, cluster)
                )
        finally:
            ensure_postgres_running(POSTGRES_ADMIN_URL, cluster)

    _run(report, "postgres-restart", pg_restart)
    _run(report, "worker-kill", _on_postgres(lambda db, w: scenarios.worker_kill(db, w)))
    _run(report, "worker-drain", _on_postgres(lambda db, w: scenarios.worker_drain(db, w)))

    async def serve_drain(work: Path) -> Any:
        return await scenarios.serve_drain(f"sqlite:///{work / 'trebuchet.db'}", work)

    _run(report, "serve-drain", serve_drain)

    async def read_only(work: Path) -> Any:
        folder = work / "store"
        folder.mkdir()
        faults.check_immutable_supported(folder)
        db = folder / "trebuchet.db"
        return await scenarios.store_fault(
            "read-only", f"sqlite:///{db}", work, faults.immutable(db)
        )

    _run(report, "read-only-store", read_only)

    async def disk_full(work: Path) -> Any:
        with faults.small_disk(work / "disk", 8) as disk:
            db = disk / "trebuchet.db"
            return await scenarios.store_fault(
                "disk-full", f"sqlite:///{db}", work, faults.filled(disk), fill=60
            )

    _run(report, "disk-full", disk_full)


def _pytest(paths: tuple[str, ...], *extra: str) -> str:
    with tempfile.TemporaryDirectory(prefix="trebuchet-hostile-") as base:
        completed = subprocess.run(
            [sys.executable, "-m", "pytest", *paths, "-q", "-p", "no:cacheprovider",
             f"--basetemp={base}", *extra],
            cwd=ROOT, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
    return completed.stdout


def _count(pattern: str, out: str) -> int:
    found = re.search(pattern, out)
    return int(found.group(1)) if found else 0


def count_hostile_inputs(report: Report) -> None:
    """Run the hostile-input and schemathesis tests; count the inputs they tried."""
    print("-- hostile inputs", file=sys.stderr, flush=True)
    hostile, schema = HOSTILE_TESTS
    out = _pytest((hostile,), "--hypothesis-show-statistics")
    examples = [(int(p), int(f)) for p, f in re.findall(r"(\d+) passing, (\d+) failing", out)]
    report.hostile = {
        "property_tests": len(examples),
        "generated_inputs": sum(p + f for p, f in examples),
        "tests_passed": _count(r"(\d+) passed", out),
        "tests_failed": _count(r"(\d+) failed", out),
    }
    out = _pytest((schema,))
    from tests.server.test_schemathesis import EXAMPLES  # its per-operation example caps

    cases = _count(r"(\d+) passed", out)
    report.hostile |= {
        "schema_cases": cases,
        "schema_failed": _count(r"(\d+) failed", out),
        "schema_inputs_cap": cases // len(EXAMPLES) * sum(EXAMPLES.values()),
    }


# -- writing it down -----------------------------------------------------------------


def _run_row(name: str, run: scenarios.Run) -> str:
    ledger = run.ledger
    return (
        f"| {name} | {run.messages:,} | {run.api_processes} API + {run.workers} workers "
        f"| {run.seconds:.1f} s | {run.rate:,.0f}/s | {ledger.lost} "
        f"| {ledger.duplicate_sends} | {len(ledger.events_missing)} "
        f"| {ledger.duplicate_deliveries} |"
    )


def render(report: Report) -> str:
    lines = [
        "# Reliability",
        "",
        "Produced by `python -m benchmarks.reliability`"
        f"{' --quick' if report.quick else ''} on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"({platform.system()} {platform.machine()}, Python {platform.python_version()}).",
        "Every figure comes from real `trebuchet serve` and `trebuchet worker` processes on",
        "loopback, observed from outside: each process journals the messages its sandbox",
        "carrier accepted (sends per message), a loopback receiver counts every callback by",
        "event id, and the store is read back at the end.  The same scenarios are asserted",
        "by `tests/reliability/`.",
        "",
        "## Load held, and what was lost",
        "",
        "| scenario | messages | processes | first request to last callback | rate "
        "| lost | sent twice | events never arrived | callbacks repeated |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("scale-out", "postgres-restart", "worker-kill"):
        run = report.get(name)
        if run is not None:
            lines.append(_run_row(name, run))
    for name in ("worker-drain", "serve-drain"):
        drain = report.get(name)
        if drain is not None:
            lines.append(_run_row(name, drain.run))
    for name in ("read-only-store", "disk-full"):
        fault = report.get(name)
        if fault is not None and fault.run is not None:
            lines.append(_run_row(name, fault.run))
    lines += [
        "",
        "*Lost* counts accepted messages (answered 202 with an id) that never reached a final",
        "state; *sent twice* counts extra carrier hand-offs.  The engine is at-least-once: a",
        "fault between a send and the write recording it means the message is sent again,",
        "and only faults may cause that.",
        "",
        "## Faults survived",
        "",
    ]
    lines += _fault_lines(report)
    lines += ["", "## Rate limits across processes", ""]
    lines += _limit_lines(report)
    lines += ["", "## Hostile input", ""]
    h = report.hostile
    hostile, schema = HOSTILE_TESTS
    if h:
        lines += [
            f"- `{hostile}`: {h['tests_passed']} tests passed, {h['tests_failed']} failed; "
            f"{h['property_tests']} are property tests that tried {h['generated_inputs']:,} "
            "generated inputs (cursors, numbers, dates, filters, `Authorization` headers, "
            "JSON bodies) without a server error.",
            f"- `{schema}`: {h['schema_cases']} operation-and-mode cases passed, "
            f"{h['schema_failed']} failed, with up to {h['schema_inputs_cap']:,} requests "
            "generated from `/openapi.json`, conforming and schema-breaking; every answer "
            "is checked against the document and for 5xx.",
        ]
    lines += ["", "## Scenarios", "", "| scenario | result | seconds |", "|---|---|---|"]
    for outcome in report.outcomes:
        result = outcome.status + (f": {outcome.reason}" if outcome.reason else "")
        lines.append(f"| {outcome.name} | {result.replace('|', '/')} | {outcome.seconds:.1f} |")
    total = time.monotonic() - report.started
    lines += ["", f"Whole run: {total:.0f} s.", ""]
    return "\n".join(lines)


def _fault_lines(report: Report) -> list[str]:
    lines: list[str] = []
    restart = report.get("postgres-restart")
    if restart is not None:
        n = restart.notes
        refused = {k: v for k, v in n["answers"].items() if k != 202}
        lines.append(
            f"- **PostgreSQL restarted** mid-run ({n['restart_seconds']:.1f} s down and up, "
            f"{n['sent_before_restart']:,} messages sent before): every process stayed up and "
            f"reconnected; the API answered {refused or 'nothing but 202'} while the database "
            "was away (clients retried with the same `Idempotency-Key`)."
        )
    kill = report.get("worker-kill")
    if kill is not None:
        n = kill.notes
        lines.append(
            f"- **`trebuchet worker` SIGKILLed** holding {n['orphaned_claims']} claims "
            f"(lease {n['lease_seconds']:.0f} s): all {n['orphans_retaken']} were taken by "
            f"other workers {n['retaken_after']:.1f} s after the kill and finished."
        )
    for name, label in (
        ("worker-drain", "`trebuchet worker`"),
        ("serve-drain", "`trebuchet serve`"),
    ):
        drain = report.get(name)
        if drain is not None:
            lines.append(
                f"- **SIGTERM to {label}** with {drain.in_flight_at_signal} sends in flight: "
                f"it finished them and exited in {drain.stop_seconds:.1f} s (status "
                f"{drain.exit_code}), leaving {len(drain.left_leased)} leases behind."
            )
    for name, label in (("read-only-store", "read-only"), ("disk-full", "full")):
        fault = report.get(name)
        if fault is not None:
            body = fault.bodies.get("POST bulk", {})
            lines.append(
                f"- **SQLite store {label}** under a running server: POST answered "
                f"{fault.answers['POST message']} `{body.get('category')}` "
                f'("{body.get("message")}"), reads answered {fault.answers["GET messages"]}; '
                f"afterwards `PRAGMA integrity_check` said `{fault.integrity}`, the store held "
                f"exactly the {fault.stored} messages accepted, and sending resumed."
            )
    skipped = [o for o in report.outcomes if o.status != "ok"]
    for outcome in skipped:
        lines.append(f"- {outcome.name}: {outcome.status} ({outcome.reason})")
    return lines


def _limit_lines(report: Report) -> list[str]:
    lines: list[str] = []
    spacing = report.get("sender-rate")
    if spacing is not None:
        lines.append(
            f"- `sender_rate = {spacing.rate:g}`: {spacing.messages} messages from one number, "
            f"sent by {spacing.worker_pids} worker processes, took {spacing.span:.2f} s "
            f"(their slots span {(spacing.messages - 1) / spacing.rate:.1f} s); at most "
            f"{spacing.busiest_second} in any one second."
        )
    limits = report.get("api-rate-limit")
    if limits is not None:
        shared, alone = limits
        lines.append(
            f"- API rate limit {shared.rate:g}/s, burst {shared.burst}, "
            f"{shared.api_processes} API processes, {shared.requests} requests in "
            f"{shared.seconds:.1f} s: {shared.allowed} let through with the Redis limiter "
            f"(one bucket allows {shared.ceiling:.0f}), {alone.allowed} with per-process "
            "memory limiters."
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 messages instead of 20,000")
    parser.add_argument("--out", default=str(ROOT / "docs" / "reliability.md"),
                        help="where to write the report ('-' prints it)")  # fmt: skip
    args = parser.parse_args()
    if not postgres_available():
        raise SystemExit(f"no PostgreSQL answers at {POSTGRES_ADMIN_URL}")
    report = Report(quick=args.quick)
    run_scenarios(report)
    count_hostile_inputs(report)
    text = render(report)
    if args.out == "-":
        print(text)
    else:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
