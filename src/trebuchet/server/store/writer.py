"""The SQLite writer thread: every blocking write transaction of the process.

Batched writes are synchronous functions over a SQLAlchemy ``Connection``, shared by both
backends (:meth:`Store.transact`, :meth:`Store.claim`).  On SQLite they run here, in a
dedicated thread on one blocking connection: one thread hop per batch instead of one per
statement, and SQLite releases the GIL while it works, so the event loop keeps accepting
requests meanwhile; one thread writes for the whole process, so its writers never wait on
each other's ``BEGIN IMMEDIATE``.  On PostgreSQL the same functions run on an async
connection through ``run_sync``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy.engine import Connection

from trebuchet.server.store.database import BEGIN_MODE, create_sqlite_writer_engine

T = TypeVar("T")
SWITCH_INTERVAL_S = 0.0005


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
