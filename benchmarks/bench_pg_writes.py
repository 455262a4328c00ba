"""How many of Trebuchet's hot writes one PostgreSQL takes per core it uses.

    .venv/bin/python -m benchmarks.bench_pg_writes            # 10,000 messages a step
    .venv/bin/python -m benchmarks.bench_pg_writes --quick    # 1,000, to check it runs

Every step drives the real store code in this process, as the API and the workers call it:

* **intake, single**: ``store.messages.insert`` of one message per call with an
  idempotency key (``POST /messages`` from the SDK), 64 calls in flight, so the group
  commit batches them as it does under load;
* **intake, bulk**: the same with 50 messages per call (a bulk ``POST``);
* **send claim + finish**: ``DeliveryStore.claim_messages`` in claims of 100 and a
  ``finish_message`` per message with what a successful send writes (state, carrier
  reference and the outbox event built by the real ``Outbox``);
* **callback claim + finish**: ``claim_events`` (the fair claim) and a ``finish_event``
  per event with one delivery attempt, as the dispatcher writes it.

For each step: the wall-clock rate (bounded by this Python process on a small machine),
the CPU time of the PostgreSQL backends serving this database's connections (read from
``/proc``, so it needs PostgreSQL on this machine), the CPU of PostgreSQL's background
processes over the same time (WAL writer, checkpointer, background writer; shared with
anything else using the server), and the WAL written.  The figure that carries over to
a bigger machine is rows per second of PostgreSQL CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import text

from benchmarks.common import (
    PG_BACKGROUND,
    Row,
    cpu_seconds,
    postgres_available,
    postgres_database,
)
from trebuchet.server.api.message_input import MessageIn, new_message
from trebuchet.server.callbacks.outbox import Outbox, message_destination
from trebuchet.server.domain.states import EventState, MessageState
from trebuchet.server.domain.times import now_us
from trebuchet.server.net.guard import AddressPolicy
from trebuchet.server.store import Store
from trebuchet.server.store.delivery import DeliveryStore, Finish
from trebuchet.server.store.message_rows import message_from_row, message_to_row
from trebuchet.server.store.records import InsertJob, StoredResponse

FROM, TO = "+15550100001", "+15557654321"
CALLBACK = "http://127.0.0.1:9/events"
IN_FLIGHT = 64
BULK = 50
CLAIM = 100
LEASE_US = 30_000_000
DEADLINE = 60.0  # seconds per step: a step stops there and reports the rows it did


@dataclass
class Step:
    name: str
    rows: int
    seconds: float
    backend_cpu: float  # this database's backends
    background_cpu: float  # PostgreSQL's shared background processes
    client_cpu: float  # this Python process
    wal_bytes: int

    @property
    def per_pg_core(self) -> float:
        """Rows per second of PostgreSQL CPU (backends and background together)."""
        return self.rows / max(self.backend_cpu + self.background_cpu, 1e-9)

    def line(self) -> str:
        return (
            f"{self.name}: {self.rows:,} rows in {self.seconds:.2f} s = "
            f"{self.rows / self.seconds:,.0f}/s wall; PostgreSQL CPU {self.backend_cpu:.2f} s "
            f"backends + {self.background_cpu:.2f} s background = {self.per_pg_core:,.0f} "
            f"rows per PostgreSQL core-second; client CPU {self.client_cpu:.2f} s; "
            f"WAL {self.wal_bytes / self.rows:,.0f} B/row"
        )


class Meter:
    """CPU of PostgreSQL's processes serving ``database``, and of its background ones."""

    def __init__(self, store: Store, database: str):
        self.store = store
        self.database = database

    async def _pids(self) -> tuple[list[int], list[int]]:
        async with self.store.read() as conn:
            rows = (
                await conn.execute(text("SELECT pid, datname, backend_type FROM pg_stat_activity"))
            ).all()
        ours = [r.pid for r in rows if r.datname == self.database]
        background = [r.pid for r in rows if r.backend_type in PG_BACKGROUND]
        return ours, background

    async def wal(self) -> int:
        async with self.store.read() as conn:
            lsn = await conn.scalar(text("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))
        return int(lsn or 0)

    async def measure(self, name: str, work: Callable[[], Awaitable[int]]) -> Step:
        ours, background = await self._pids()
        before = {pid: cpu_seconds(pid) for pid in {*ours, *background}}
        wal = await self.wal()
        client = time.process_time()
        started = time.monotonic()
        rows = await work()
        seconds = time.monotonic() - started
        client = time.process_time() - client
        ours_after, background = await self._pids()
        spent = {pid: cpu_seconds(pid) - before.get(pid, 0.0) for pid in {*ours_after, *background}}
        return Step(
            name,
            rows,
            seconds,
            sum(spent[p] for p in set(ours_after)),
            sum(spent[p] for p in set(background)),
            client,
            await self.wal() - wal,
        )


def _messages(user_id: str, count: int) -> list[dict[str, Any]]:
    policy = AddressPolicy(allow_loopback=True)
    msg = msgspec.convert(
        {"from": FROM, "to": TO, "text": "hello", "callbackUrl": CALLBACK}, MessageIn
    )
    now = now_us()
    return [message_to_row(new_message(msg, user_id, now, policy=policy)) for _ in range(count)]


async def _intake(store: Store, user_id: str, rows: list[dict[str, Any]], per_call: int) -> int:
    calls = [rows[i : i + per_call] for i in range(0, len(rows), per_call)]
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(batch: list[dict[str, Any]]) -> None:
        async with gate:
            response = StoredResponse(202 if per_call > 1 else 201, None, "[]")
            job = InsertJob(batch, uuid.uuid4().hex, user_id, response, uuid.uuid4().hex)
            await store.messages.insert(job)

    await asyncio.wait_for(asyncio.gather(*(one(batch) for batch in calls)), DEADLINE)
    return len(rows)


async def _claim_and_finish(
    claim: Callable[[], Awaitable[list[Any]]], finish: Callable[[Any], Awaitable[bool]], total: int
) -> int:
    """Claim and finish until ``total`` rows are done or the deadline passes; the rows done."""
    done = 0
    deadline = time.monotonic() + DEADLINE
    while done < total and time.monotonic() < deadline:
        claimed = await claim()
        if not claimed:
            raise RuntimeError(f"only {done} of {total} rows were due")
        applied = await asyncio.gather(*(finish(row) for row in claimed))
        assert all(applied), "a lease was lost with one worker"
        done += len(claimed)
    return done


async def run(db: str, count: int) -> list[Step]:
    store = Store(db, pool_size=IN_FLIGHT // 4)
    await store.open()
    delivery = DeliveryStore(store)
    outbox = Outbox("http://127.0.0.1:8080", 24 * 3600 * 1_000_000)
    owner = f"bench-{os.getpid()}"
    try:
        user = (await store.users.create([FROM])).user
        meter = Meter(store, db.rsplit("/", 1)[1])
        single, bulk = _messages(user.id, count), _messages(user.id, count)
        steps = [
            await meter.measure("intake, single", lambda: _intake(store, user.id, single, 1)),
            await meter.measure("intake, bulk 50", lambda: _intake(store, user.id, bulk, BULK)),
        ]
        total = 2 * count

        async def sent(row: Any) -> bool:
            message = message_from_row(row)
            values = {"state": MessageState.SENT, "carrier_ref": f"ref-{message.id}",
                      "carrier": "sandbox", "due_us": None, "slot_us": None}  # fmt: skip
            updated = msgspec.structs.replace(message, **values)
            event = outbox.event(updated, message_destination(message), now_us())
            assert event is not None, "the benchmark's callback URL is reachable"
            return await delivery.finish_message(Finish(message.id, owner, values, [event]))

        steps.append(
            await meter.measure(
                "send claim + finish",
                lambda: _claim_and_finish(
                    lambda: delivery.claim_messages(owner, CLAIM, now_us(), LEASE_US), sent, total
                ),
            )
        )

        async def delivered(row: Any) -> bool:
            now = now_us()
            values = {"state": EventState.DELIVERED, "due_us": None, "finished_us": now}
            attempt = {"event_id": row["id"], "round": row["attempts"], "target": "primary",
                       "url": row["url"], "time_us": now, "duration_us": 1500, "status": 200,
                       "error": None, "request_headers": "{}", "answer": ""}  # fmt: skip
            return await delivery.finish_event(Finish(row["id"], owner, values, attempts=[attempt]))

        claim_events = lambda: delivery.claim_events(  # noqa: E731
            owner, CLAIM, now_us(), LEASE_US, per_destination=10 * CLAIM, per_user=10 * CLAIM
        )
        steps.append(
            await meter.measure(
                "callback claim + finish",
                lambda: _claim_and_finish(claim_events, delivered, total),
            )
        )
        return steps
    finally:
        await store.close()


async def _server_facts(db: str) -> str:
    store = Store(db)
    await store.open(run_migrations=False)
    try:
        async with store.read() as conn:
            shown = []
            for name in ("server_version", "synchronous_commit", "fsync", "shared_buffers"):
                shown.append(f"{name}={await conn.scalar(text(f'SHOW {name}'))}")
        return ", ".join(shown)
    finally:
        await store.close()


def rows(steps: list[Step]) -> list[Row]:
    cores = os.cpu_count() or 0
    return [
        Row(
            f"PostgreSQL {s.name}",
            f"{s.per_pg_core:,.0f} rows per PostgreSQL core-second",
            "report",
            None,
            f"{s.rows:,} rows, {s.rows / s.seconds:,.0f}/s wall on {cores} cores shared with "
            f"the Python caller; PostgreSQL CPU {s.backend_cpu:.2f} s backends + "
            f"{s.background_cpu:.2f} s background; WAL {s.wal_bytes / s.rows:,.0f} B/row",
        )
        for s in steps
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if not postgres_available():
        raise SystemExit("no PostgreSQL answers")
    count = 1_000 if args.quick else 10_000
    with postgres_database() as db:
        facts = asyncio.run(_server_facts(db))
        steps = asyncio.run(run(db, count))
    print(f"{os.cpu_count()} cores; {facts}")
    for step in steps:
        print(step.line())
    print()
    print("| benchmark | measured | target | met | detail |")
    for row in rows(steps):
        print(f"| {row.benchmark} | {row.measured} | {row.target} | - | {row.detail} |")


if __name__ == "__main__":
    main()
