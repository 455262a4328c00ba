"""The SQLite writer thread: every blocking write transaction of the process.

Batched writes are synchronous functions over a SQLAlchemy ``Connection``, shared by both
backends (:meth:`Store.transact`, :meth:`Store.claim`).  On SQLite they run here, in a
dedicated thread on one blocking connection: one thread hop per batch instead of one per
statement, and SQLite releases the GIL while it works, so the event loop keeps accepting
requests meanwhile; one thread writes for the whole process, so its writers never wait on
each other's ``BEGIN IMMEDIATE``.  On PostgreSQL the same functions run on an async
connection through ``run_sync``.

Several processes may write one SQLite file (``serve``'s API and delivery processes).
SQLite's own wait for a lock another process holds is a sleep that grows to 100 ms
between tries, so a writer that lost a few races waits far longer than the transaction
it waits for.  Each write transaction therefore first takes an exclusive ``flock`` on a
file beside the database (``<db>-writer.lock``): the kernel queues the writers of every
process and wakes the next the moment the lock is let go, and ``BEGIN IMMEDIATE`` then
finds the database free.  Without ``fcntl`` (not a POSIX system) SQLite's wait remains.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.engine import Connection

from trebuchet.server.store.database import BEGIN_MODE, create_sqlite_writer_engine

try:
    import fcntl
except ImportError:  # pragma: no cover - not a POSIX system
    fcntl = None  # type: ignore[assignment]

T = TypeVar("T")
SWITCH_INTERVAL_S = 0.0005
LOCK_SUFFIX = "-writer.lock"


class WriterLock:
    """An exclusive ``flock`` on ``<db>-writer.lock``, held around each write transaction
    so that processes writing one database take turns in the kernel's queue."""

    def __init__(self, path: str):
        self.path = path + LOCK_SUFFIX
        self._fd: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        if fcntl is None:
            yield
            return
        if self._fd is None:  # opened on first use: a store that never writes makes none
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class SqliteWriter:
    """Runs write transactions on one blocking connection in its own thread."""

    def __init__(self, path: str, synchronous: str):
        # SQLite lets go of the GIL around every statement (every row of an executemany),
        # and takes it back only when the busy event loop yields it: after up to 5 ms by
        # default.  A shorter interval keeps a batch from queueing that long per row.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self._engine = create_sqlite_writer_engine(path, synchronous)
        self._lock = WriterLock(path)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="trebuchet-sqlite-writer")

    def _transact(self, fn: Callable[[Connection], T]) -> T:
        with self._lock.held(), self._engine.connect() as conn:
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
        self._lock.close()
