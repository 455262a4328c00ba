"""Soak: steady traffic through simulated days, with housekeeping, and the store's size.

    .venv/bin/python -m benchmarks.soak --days 60 --per-day 5000            # SQLite
    .venv/bin/python -m benchmarks.soak --days 60 --per-day 5000 --postgres

Each simulated day writes the rows a day of traffic leaves behind, at that day's times:
``per_day`` sent messages with their text (each with its two callback events, delivered
with one attempt each, a carrier reference with its receipt, and an idempotency key), one
received message per ten sent, a user error per fifty, and carrier references that never
get a receipt.  At the end of each day the housekeeper runs one round with the clock at
that time, as the engine's would, and the day's figures are taken: rows per table and the
database's bytes.  On PostgreSQL a plain ``VACUUM`` stands in for autovacuum, which in
real time would have run many times over a day.

The size should level off once the record window (30 days) has passed: the test
``tests/server/test_retention_soak.py`` checks that, scaled down.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from trebuchet.server.domain.states import DeliveryState, Direction, EventState, MessageState
from trebuchet.server.domain.times import US
from trebuchet.server.engine.housekeeping import Housekeeper
from trebuchet.server.store import Store
from trebuchet.server.store import tables as t
from trebuchet.server.store.retention import DAY_US, RetentionPolicy

START_US = 1_800_000_000 * US
TEXT = "Your code is 123456. It expires in ten minutes; do not share it with anyone."
INSERT_ROWS = 500


class SimulatedClock:
    """A clock moved by hand (the engine's ``Clock``)."""

    def __init__(self, now_us: int):
        self.now = now_us

    def now_us(self) -> int:
        return self.now


@dataclass(frozen=True)
class DayFigures:
    day: int
    rows: dict[str, int]
    bytes: int
    handled: dict[str, int]

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def _message(
    message_id: str, user_id: str, at: int, direction: Direction, **more: Any
) -> dict[str, Any]:
    return {
        "id": message_id, "user_id": user_id, "from_number": "+15550001111",
        "to_number": "+15550002222", "direction": direction, "text": TEXT, "media": None,
        "state": MessageState.SENT if direction == Direction.OUT else MessageState.RECEIVED,
        "time_us": at, "segment_count": 1, "skip_mms_carrier_validation": False,
        "callback_url": "https://example.com/cb", "receipt_requested": "all",
        "delivery_state": DeliveryState.DELIVERED, "delivery_code": 0,
        "delivery_description": "ok", **more,
    }  # fmt: skip


def _event(message_id: str, user_id: str, sequence: int, at: int) -> dict[str, Any]:
    payload = json.dumps({"type": "sms", "messageId": message_id, "text": TEXT})
    return {
        "id": f"ev-{uuid.uuid4().hex}", "user_id": user_id, "message_id": message_id,
        "sequence": sequence, "payload": payload, "url": "https://example.com/cb",
        "fallback_url": None, "method": "POST", "timeout_ms": 10000,
        "state": EventState.DELIVERED, "created_us": at, "expires_us": at + DAY_US,
        "due_us": None, "attempts": 1, "finished_us": at + US,
        "destination": "example.com:443",
    }  # fmt: skip


def day_rows(day_start: int, per_day: int, user_id: str) -> dict[str, list[dict[str, Any]]]:
    """The rows one day of traffic leaves behind, spread evenly over the day."""
    rows: dict[str, list[dict[str, Any]]] = {
        "messages": [], "events": [], "event_attempts": [], "carrier_refs": [],
        "idempotency_keys": [], "user_errors": [],
    }  # fmt: skip
    step = DAY_US // per_day
    for index in range(per_day):
        at = day_start + index * step
        message_id = f"m-{uuid.uuid4().hex}"
        rows["messages"].append(_message(message_id, user_id, at, Direction.OUT))
        for sequence in (1, 2):
            event = _event(message_id, user_id, sequence, at)
            rows["events"].append(event)
            rows["event_attempts"].append({
                "id": f"at-{uuid.uuid4().hex}", "event_id": event["id"], "round": 1,
                "target": "primary", "url": "https://example.com/cb", "time_us": at + US,
                "duration_us": 20_000, "status": 200, "error": None,
            })  # fmt: skip
        receipted = index % 20 != 0  # one in twenty never gets its receipt
        rows["carrier_refs"].append({
            "carrier": "sandbox", "ref": uuid.uuid4().hex, "message_id": message_id, "part": 1,
            "parts": 1, "code": 0 if receipted else None, "created_us": at,
        })  # fmt: skip
        rows["idempotency_keys"].append({
            "user_id": user_id, "key": uuid.uuid4().hex, "created_us": at, "status": 202,
            "location": f"/v1/users/{user_id}/messages/{message_id}", "body": json.dumps(
                {"id": message_id, "text": TEXT}), "request_hash": None,
        })  # fmt: skip
        if index % 10 == 0:
            rows["messages"].append(_message(f"m-{uuid.uuid4().hex}", user_id, at, Direction.IN))
        if index % 50 == 0:
            rows["user_errors"].append({
                "id": f"ue-{uuid.uuid4().hex}", "user_id": user_id, "time_us": at,
                "category": "message", "code": "message-undeliverable",
                "message": "The receiver refused the message", "details": "{}",
            })  # fmt: skip
    return rows


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), INSERT_ROWS):
        yield rows[start : start + INSERT_ROWS]


async def write_day(store: Store, rows: dict[str, list[dict[str, Any]]]) -> None:
    """The day's rows, in transactions of a few hundred rows as traffic writes them."""
    for name, table_rows in rows.items():
        table = t.metadata.tables[name]
        for chunk in _chunks(table_rows):

            def write(
                conn: Connection, table: Any = table, chunk: list[dict[str, Any]] = chunk
            ) -> None:
                conn.execute(insert(table), chunk)

            await store.transact(write)


async def reclaim(store: Store) -> None:
    """On PostgreSQL, what autovacuum would have done over a day; nothing on SQLite (its
    free pages are reused as they are)."""
    if store.dialect != "postgresql":
        return
    async with store.read() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("VACUUM")


async def soak(
    url: str, *, days: int, per_day: int, policy: RetentionPolicy | None = None, batch: int = 500
) -> list[DayFigures]:
    """Run ``days`` simulated days of traffic through a new store at ``url``."""
    store = Store(url)
    await store.open()
    clock = SimulatedClock(START_US)
    housekeeper = Housekeeper(store, policy or RetentionPolicy(), clock=clock, batch=batch)
    figures: list[DayFigures] = []
    try:
        for day in range(days):
            day_start = START_US + day * DAY_US
            await write_day(store, day_rows(day_start, per_day, "u-soak"))
            clock.now = day_start + DAY_US
            handled = await housekeeper.run_once()
            await reclaim(store)
            rows = await store.retention.table_rows()
            figures.append(
                DayFigures(day + 1, rows, await store.retention.bytes_on_disk(), handled)
            )
    finally:
        await store.close()
    return figures


def levelled_off(figures: list[DayFigures], after_day: int) -> tuple[float, float]:
    """Largest over smallest, after ``after_day``: of the total rows, and of the bytes."""
    tail = [figure for figure in figures if figure.day > after_day]
    rows = [figure.total_rows for figure in tail]
    sizes = [figure.bytes for figure in tail]
    return max(rows) / min(rows), max(sizes) / min(sizes)


def report(figures: list[DayFigures]) -> str:
    names = list(figures[0].rows)
    lines = ["| day | " + " | ".join(names) + " | total rows | MB |",
             "|---" * (len(names) + 3) + "|"]  # fmt: skip
    for figure in figures:
        if figure.day % 5 and figure.day != 1:
            continue
        cells = [str(figure.rows[name]) for name in names]
        lines.append(f"| {figure.day} | " + " | ".join(cells)
                     + f" | {figure.total_rows} | {figure.bytes / 1e6:.1f} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--per-day", type=int, default=5000)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    args = parser.parse_args()
    from benchmarks.common import postgres_database, sqlite_database

    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            with postgres_database() as url:
                figures = asyncio.run(soak(url, days=args.days, per_day=args.per_day))
        else:
            url = sqlite_database(Path(tmp))
            figures = asyncio.run(soak(url, days=args.days, per_day=args.per_day))
    print(report(figures))
    rows, size = levelled_off(figures, 31)
    print(f"after day 31: rows max/min {rows:.3f}, bytes max/min {size:.3f}")


if __name__ == "__main__":
    main()
