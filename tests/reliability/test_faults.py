"""Faults injected for real into running processes: nothing accepted may be lost.

Duplicates are allowed where a fault cuts between a send and its record (the delivery
engine is at-least-once); they are counted, and must stay rare.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from tests.reliability import faults
from tests.reliability.scenarios import (
    Run,
    StoreFault,
    postgres_restart,
    serve_drain,
    store_fault,
    worker_drain,
    worker_kill,
)
from trebuchet.server.store import Store
from trebuchet.server.store.faults import FULL, NOT_ANSWERING, READ_ONLY, unavailable_reason


def _nothing_lost(run: Run) -> None:
    ledger = run.ledger
    assert run.submission.given_up == 0
    assert ledger.lost == 0 and ledger.unfinished == [], "an accepted message never finished"
    assert ledger.dangling_leases == []
    assert ledger.never_sent == []
    assert ledger.multi_state_events == [], "a message reported `sent` twice"
    assert ledger.events_missing == [], f"{len(ledger.events_missing)} events never arrived"


@pytest.mark.slow
@pytest.mark.postgres
async def test_postgres_restart_mid_run_loses_nothing(
    postgres_url: str, work_dir: Path, restart_pg: Callable[[], None]
) -> None:
    try:
        run = await postgres_restart(postgres_url, work_dir, restart_pg)
    except faults.Unsupported as exc:
        pytest.skip(f"PostgreSQL could not be restarted: {exc}")
    _nothing_lost(run)
    assert run.notes["processes_alive"], "a process died with the database"
    assert 0 < run.notes["sent_before_restart"] < run.messages
    refused = {code for code in run.submission.statuses if code != 202}
    assert refused <= {503}, f"the API answered {refused} while the database was away"
    for body in run.submission.errors:
        assert body["category"] == "unavailable"
    assert run.ledger.duplicate_sends < run.messages * 0.05


@pytest.mark.slow
@pytest.mark.postgres
async def test_sigkilled_worker_claims_are_taken_after_the_lease(
    postgres_url: str, work_dir: Path
) -> None:
    run = await worker_kill(postgres_url, work_dir, lease=2.0)
    _nothing_lost(run)
    notes = run.notes
    assert notes["orphaned_claims"] > 0, "the worker held nothing when it was killed"
    assert notes["orphans_retaken"] == notes["orphans_final"] == notes["orphaned_claims"]
    # Heartbeats renew a lease every third of it, so it runs out 2/3 to 3/3 of it after
    # the kill; not before, and not much after.
    assert notes["lease_seconds"] * 0.6 <= notes["retaken_after"] <= notes["lease_seconds"] + 5
    assert run.ledger.duplicate_sends <= notes["orphaned_claims"]


def _refused_cleanly(fault: StoreFault, reason: str) -> None:
    assert fault.answers["POST message"] == 503, fault.bodies.get("POST message")
    assert fault.answers["POST bulk"] == 503, fault.bodies.get("POST bulk")
    for name in ("POST message", "POST bulk"):
        body = fault.bodies[name]
        assert body["category"] == "unavailable" and body["code"] == "service-unavailable"
    assert fault.bodies["POST bulk"]["message"] == reason
    assert fault.answers["GET messages"] == 200, "reads should go on"
    # Not ready while writes are refused (a balancer sends writes elsewhere), alive still.
    assert fault.answers["GET /ready"] == 503, fault.bodies.get("GET /ready")
    assert fault.bodies["GET /ready"]["message"] == reason
    assert fault.notes["ready_after"] == 200, "ready again once writes work"
    assert fault.answers["GET /health"] == 200
    assert fault.notes["server_alive"]
    assert fault.integrity == "ok"
    assert fault.stored == fault.accepted_before + fault.accepted_after + sum(
        50 for _ in range(fault.notes["bulk_accepted_into_fault"])
    ), "a refused request left messages behind, or an accepted one vanished"
    assert fault.accepted_after == 200, "the server did not recover"
    assert fault.run is not None
    _nothing_lost(fault.run)


@pytest.mark.slow
async def test_read_only_sqlite_store_answers_503_and_recovers(work_dir: Path) -> None:
    folder = work_dir / "store"
    folder.mkdir()
    faults.require_immutable(folder)
    db = folder / "trebuchet.db"
    fault = await store_fault("read-only", f"sqlite:///{db}", work_dir, faults.immutable(db))
    _refused_cleanly(fault, READ_ONLY)


@pytest.mark.slow
async def test_full_disk_answers_503_and_recovers(work_dir: Path) -> None:
    try:
        with faults.small_disk(work_dir / "disk", megabytes=8) as disk:
            db = disk / "trebuchet.db"
            fault = await store_fault(
                "disk-full", f"sqlite:///{db}", work_dir, faults.filled(disk), fill=60
            )
    except faults.Unsupported as exc:
        pytest.skip(f"cannot mount a small tmpfs here: {exc}")
    _refused_cleanly(fault, FULL)


async def test_a_full_disk_refuses_the_readiness_write_that_would_fit(work_dir: Path) -> None:
    """A write can still fit in space the WAL file already holds while the disk is full
    (here: a checkpointed WAL, so the next write reuses its start). The readiness write
    must not pass for proof that writes work then."""
    try:
        with faults.small_disk(work_dir / "disk", megabytes=8) as disk:
            store = Store(f"sqlite:///{disk / 'trebuchet.db'}")
            await store.open()
            try:

                def grow_and_shrink(conn: Connection) -> None:
                    conn.execute(text("CREATE TABLE scratch (x BLOB)"))
                    conn.execute(text("INSERT INTO scratch VALUES (zeroblob(400000))"))
                    conn.execute(text("DELETE FROM scratch"))

                await store.transact(grow_and_shrink)
                with contextlib.closing(sqlite3.connect(disk / "trebuchet.db")) as raw:
                    assert raw.execute("PRAGMA wal_checkpoint(FULL)").fetchone()[0] == 0
                assert (disk / "trebuchet.db-wal").stat().st_size > 100_000
                async with faults.filled(disk)():
                    with pytest.raises(OSError, match="no space left") as refused:
                        await store.probe_write()
                    assert unavailable_reason(refused.value) == FULL
                await store.probe_write()  # room again: the write goes through
            finally:
                await store.close()
    except faults.Unsupported as exc:
        pytest.skip(f"cannot mount a small tmpfs here: {exc}")


@pytest.mark.postgres
async def test_worker_finishes_what_it_holds_on_sigterm(postgres_url: str, work_dir: Path) -> None:
    drain = await worker_drain(postgres_url, work_dir)
    assert drain.exit_code == 0
    assert drain.in_flight_at_signal > 0, "nothing was in flight at the signal"
    assert drain.left_leased == [], "the worker left leases behind"
    assert drain.sent_by_stopped >= drain.in_flight_at_signal
    _nothing_lost(drain.run)
    assert drain.run.ledger.duplicate_sends == 0, "a drained send was sent again"


async def test_serve_finishes_what_it_holds_on_sigterm(sqlite_url: str, work_dir: Path) -> None:
    drain = await serve_drain(sqlite_url, work_dir)
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert drain.exit_code in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in drain.notes["shutdown_log"]
    assert drain.in_flight_at_signal > 0, "nothing was in flight at the signal"
    assert drain.left_leased == []
    _nothing_lost(drain.run)
    assert drain.run.ledger.duplicate_sends == 0


# -- which store errors are "unavailable" --------------------------------------------


def _sqlite_error(text: str) -> OperationalError:
    return OperationalError("INSERT ...", {}, sqlite3.OperationalError(text))


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (_sqlite_error("attempt to write a readonly database"), READ_ONLY),
        (_sqlite_error("database or disk is full"), FULL),
        (_sqlite_error("disk I/O error"), NOT_ANSWERING),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), NOT_ANSWERING),
        (OSError(errno.ENOSPC, "No space left on device"), FULL),
        (_sqlite_error("no such table: messages"), None),
        (OSError(errno.ENOENT, "No such file"), None),
        (ValueError("a bug"), None),
    ],
)
def test_store_faults_are_told_from_bugs(exc: BaseException, reason: str | None) -> None:
    assert unavailable_reason(exc) == reason
