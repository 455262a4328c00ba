"""Writing batches of accepted messages: the body of the group commit.

The logic is one synchronous function over a SQLAlchemy ``Connection``, shared by both
backends.  On SQLite it runs in a dedicated writer thread on a blocking connection: one
thread hop per batch instead of one per statement, and SQLite releases the GIL while it
works, so the event loop keeps accepting requests meanwhile.  On PostgreSQL it runs on an
async connection through ``run_sync``.  The delivery engine's batched writes take the same
road (:meth:`Store.transact`), so on SQLite one thread writes for the whole process and
its writers never wait on each other's ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import and_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from trebuchet.server.domain.times import now_us
from trebuchet.server.store import tables as t
from trebuchet.server.store.bulk import insert_rows
from trebuchet.server.store.database import BEGIN_MODE, create_sqlite_writer_engine
from trebuchet.server.store.records import InsertJob, StoredResponse

IDEMPOTENCY_WINDOW_US = 24 * 3600 * 1_000_000
T = TypeVar("T")
SWITCH_INTERVAL_S = 0.0005


def insert_ignoring_conflicts(dialect: str, table: Any) -> Any:
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return dialect_insert(table).on_conflict_do_nothing()


def write_jobs(conn: Connection, jobs: Sequence[InsertJob]) -> Sequence[InsertJob]:
    """Insert every job's rows in the caller's transaction, honouring idempotency keys
    (the rows go through :func:`insert_rows`)."""
    rows: list[dict[str, Any]] = []
    for job in jobs:
        if job.idempotency_key is not None and not _claim_key(conn, job):
            continue
        rows.extend(job.rows)
    insert_rows(conn, t.messages, rows)
    return jobs


def _claim_key(conn: Connection, job: InsertJob) -> bool:
    """Record the job's idempotency key, or find the earlier answer under it (a key
    used for another request marks the job in conflict instead)."""
    if job.response is None or job.user_id is None:
        raise ValueError("an idempotent job needs its user and its response")
    now = now_us()
    key = and_(
        t.idempotency_keys.c.user_id == job.user_id,
        t.idempotency_keys.c.key == job.idempotency_key,
    )
    values = {
        "created_us": now,
        "status": job.response.status,
        "location": job.response.location,
        "body": job.response.body,
        "request_hash": job.request_hash,
    }
    inserted = conn.execute(
        insert_ignoring_conflicts(conn.dialect.name, t.idempotency_keys)
        .values(user_id=job.user_id, key=job.idempotency_key, **values)
        .returning(t.idempotency_keys.c.key)
    )
    if inserted.first() is not None:
        return True
    existing = conn.execute(select(t.idempotency_keys).where(key)).mappings().one()
    if existing["created_us"] < now - IDEMPOTENCY_WINDOW_US:
        conn.execute(update(t.idempotency_keys).where(key).values(values))
        return True
    stored_hash = existing["request_hash"]
    if stored_hash is not None and job.request_hash is not None and stored_hash != job.request_hash:
        job.conflict = True
        return False
    job.replayed = StoredResponse(existing["status"], existing["location"], existing["body"])
    return False


class SqliteWriter:
    """Runs write transactions on one blocking connection in its own thread."""

    def __init__(self, path: str, synchronous: str):
        # SQLite lets go of the GIL around every statement (every row of an executemany),
        # and takes it back only when the busy event loop yields it: after up to 5 ms by
        # default.  A shorter interval keeps a batch from queueing that long per row.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self._engine = create_sqlite_writer_engine(path, synchronous)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="trebuchet-sqlite-writer")

    def _transact(self, fn: Callable[[Connection], T]) -> T:
        with self._engine.connect() as conn:
            conn = conn.execution_options(**{BEGIN_MODE: "IMMEDIATE"})
            with conn.begin():
                return fn(conn)

    def _transact_if(
        self, probe: Callable[[Connection], bool], fn: Callable[[Connection], T]
    ) -> T | None:
        with self._engine.connect() as conn, conn.begin():
            if not probe(conn):
                return None
        return self._transact(fn)

    async def transact(self, fn: Callable[[Connection], T]) -> T:
        """``fn(conn)`` in one ``BEGIN IMMEDIATE`` transaction on the writer thread."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._transact, fn)

    async def transact_if(
        self, probe: Callable[[Connection], bool], fn: Callable[[Connection], T]
    ) -> T | None:
        """``fn(conn)`` as above, unless a read-only ``probe(conn)`` first answers False:
        then no write lock is taken, and the answer is None."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._transact_if, probe, fn)

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self._engine.dispose()
