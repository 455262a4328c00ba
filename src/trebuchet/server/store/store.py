"""The store: the one object callers hold, its lifecycle and its three I/O paths.

Each resource's queries live in a module of its own and are reached through an attribute
of the store: ``store.users`` (:mod:`.users`), ``store.numbers`` (:mod:`.numbers`),
``store.inventory`` (:mod:`.inventory`), ``store.applications`` (:mod:`.applications`),
``store.messages`` (:mod:`.messages`), ``store.user_errors`` (:mod:`.user_errors`),
``store.meta`` (:mod:`.meta`), ``store.carrier_refs`` (:mod:`.carrier_refs`); the
delivery engine's are in :mod:`.delivery`.

Every query takes one of three paths (``docs/architecture.md`` maps which job takes
which):

* async connections, :meth:`Store.read` and :meth:`Store.write` (aiosqlite or asyncpg);
* blocking write transactions, :meth:`Store.transact` and :meth:`Store.claim`: the SQLite
  writer thread (:mod:`.writer`), or ``run_sync`` on a pooled PostgreSQL connection; the
  group commit of accepted messages (:mod:`.group_commit`, :mod:`.intake`) writes this way;
* raw page reads, :meth:`Store.fetch`: reader threads answering the driver's tuples on
  SQLite (:mod:`.reader`), one autocommit statement answering asyncpg's records on
  PostgreSQL.

Writes that create work announce it in their transaction (:mod:`.notifications`); once
they commit, :meth:`Store.transact` wakes this process's subscribers
(:meth:`Store.subscribe`), and on PostgreSQL one listening connection per process
(:mod:`.listener`) hears every other process's commits.

All SQL goes through SQLAlchemy Core, so SQLite and PostgreSQL share one code path; the
few differences (``BEGIN IMMEDIATE``, upsert syntax) are chosen by dialect.
"""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from trebuchet.server.store.applications import Applications
from trebuchet.server.store.carrier_refs import CarrierRefs
from trebuchet.server.store.console import ConsoleQueries
from trebuchet.server.store.console_sessions import ConsoleSessions
from trebuchet.server.store.database import BEGIN_MODE, create_engine, migrate, sqlite_path
from trebuchet.server.store.event_actions import EventActions
from trebuchet.server.store.faults import unavailable_reason
from trebuchet.server.store.group_commit import GroupCommitter
from trebuchet.server.store.intake import write_jobs
from trebuchet.server.store.inventory import Inventory
from trebuchet.server.store.listener import PgListener
from trebuchet.server.store.messages import Messages
from trebuchet.server.store.messaging_settings import MessagingSettings
from trebuchet.server.store.meta import Meta, write_probe
from trebuchet.server.store.notifications import (
    FEED,
    MESSAGES,
    Notifications,
    notify,
    take_notified,
)
from trebuchet.server.store.numbers import Numbers
from trebuchet.server.store.opt_outs import OptOuts
from trebuchet.server.store.reader import SqliteReader
from trebuchet.server.store.records import InsertJob
from trebuchet.server.store.retention import Retention
from trebuchet.server.store.user_errors import UserErrors
from trebuchet.server.store.users import Users
from trebuchet.server.store.writer import SqliteWriter

if TYPE_CHECKING:
    from trebuchet.server.config import Settings

T = TypeVar("T")
# Rows per group-commit transaction, at most (a batch exceeds it by its last job only).
INSERT_BATCH_ROWS = 2000


class Store:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        sqlite_synchronous: str = "NORMAL",
        listen: bool = True,
    ):
        self.url = url
        self._engine: AsyncEngine = create_engine(
            url, pool_size=pool_size, sqlite_synchronous=sqlite_synchronous
        )
        self.dialect = self._engine.dialect.name
        path = sqlite_path(url)
        self._sqlite_dir = None if path is None else os.path.dirname(os.path.abspath(path))
        self._sqlite_writer = None if path is None else SqliteWriter(path, sqlite_synchronous)
        self._sqlite_reader = None if path is None else SqliteReader(path, sqlite_synchronous)
        writers = 1 if self.dialect == "sqlite" else 4
        self._inserts: GroupCommitter[InsertJob, InsertJob] = GroupCommitter(
            self._flush_inserts,
            writers=writers,
            max_batch=INSERT_BATCH_ROWS,
            weigh=lambda job: len(job.rows) or 1,
        )
        # Wake-ups for new work (notifications.py): this process's commits wake its
        # subscribers; on PostgreSQL one LISTEN connection hears every process's commits.
        self.notifications = Notifications()
        self._listener: PgListener | None = None
        if listen and self.dialect == "postgresql":
            _, params = self._engine.dialect.create_connect_args(self._engine.url)
            self._listener = PgListener(dict(params), self.notifications)
        self._opened = False
        # Why the last write failed when the store refused it (read-only, full, down);
        # None once a write succeeds.  Readiness reports it.
        self.write_fault: str | None = None
        self.users = Users(self)
        self.numbers = Numbers(self)
        self.inventory = Inventory(self)
        self.applications = Applications(self)
        self.messages = Messages(self, self._inserts)
        self.user_errors = UserErrors(self)
        self.meta = Meta(self)
        self.carrier_refs = CarrierRefs(self)
        self.opt_outs = OptOuts(self)
        self.messaging_settings = MessagingSettings(self)
        self.retention = Retention(self)
        self.events = EventActions(self)
        self.console_sessions = ConsoleSessions(self)
        self.console = ConsoleQueries(self)

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """The store ``settings`` describe: its URL, pool size and SQLite durability."""
        return cls(
            settings.db,
            pool_size=settings.db_pool_size,
            sqlite_synchronous=settings.sqlite_synchronous,
            listen=settings.db_listen,
        )

    @property
    def sql_dialect(self) -> Dialect:
        """The dialect statements compiled once ahead of time are compiled for."""
        return self._engine.dialect

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self, *, run_migrations: bool = True) -> None:
        if run_migrations:
            await migrate(self.url)
        self._inserts.start()
        self._opened = True
        if not self.notifications.empty:
            self._start_listening()

    async def close(self) -> None:
        self._opened = False
        if self._listener is not None:
            await self._listener.stop()
        await self._inserts.stop()
        if self._sqlite_writer is not None:
            self._sqlite_writer.close()
        if self._sqlite_reader is not None:
            self._sqlite_reader.close()
        await self._engine.dispose()

    # -- health ------------------------------------------------------------------------

    async def ping(self) -> None:
        """One trivial statement on a pooled connection; raises when the store does not
        answer (readiness)."""
        async with self.read() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def probe_write(self) -> None:
        """A real but harmless write (:func:`.meta.write_probe`); raises as writes do.

        On SQLite a filesystem with no room left raises ``ENOSPC`` first: a small write may
        still fit in space the database file or its journal already hold, which says
        nothing about the writes being refused."""
        if self._sqlite_dir is not None and os.statvfs(self._sqlite_dir).f_bavail == 0:
            raise OSError(errno.ENOSPC, "no space left on the store's filesystem")
        await self.transact(write_probe)

    @contextmanager
    def _noting_write_faults(self) -> Iterator[None]:
        """Remember why the last write failed, when the store refused it; forget on success."""
        try:
            yield
        except Exception as exc:
            reason = unavailable_reason(exc)
            if reason is not None:
                self.write_fault = reason
            raise
        self.write_fault = None

    # -- path 1: async connections -----------------------------------------------------

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self._engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        with self._noting_write_faults():
            async with self._engine.connect() as conn:
                conn = await conn.execution_options(**{BEGIN_MODE: "IMMEDIATE"})
                async with conn.begin():
                    yield conn

    # -- path 2: blocking write transactions -------------------------------------------

    async def transact(self, fn: Callable[[Connection], T]) -> T:
        """``fn(conn)`` in one write transaction on a blocking connection.

        On SQLite it runs on the process's single writer thread, on PostgreSQL through
        ``run_sync`` on a pooled connection.  For batched writes: one hop per batch.
        """

        def run(conn: Connection) -> tuple[T, set[str]]:
            take_notified(conn)  # nothing a failed transaction left behind
            result = fn(conn)
            return result, take_notified(conn)

        if self._sqlite_writer is not None:
            with self._noting_write_faults():
                result, channels = await self._sqlite_writer.transact(run)
        else:
            async with self.write() as conn:
                result, channels = await conn.run_sync(run)
        self.notifications.local(channels)  # committed: wake this process's subscribers
        return result

    async def claim(
        self, probe: Callable[[Connection], bool], fn: Callable[[Connection], list[T]]
    ) -> list[T]:
        """A claiming write of one statement.

        On SQLite, ``probe`` first looks read-only for due work, so an idle worker never
        takes the write lock.  On PostgreSQL the statement skips locked rows and runs in
        autocommit: one round trip, no BEGIN and COMMIT around it.
        """
        if self._sqlite_writer is not None:
            return await self._sqlite_writer.transact_if(probe, fn) or []
        async with self._engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            return await conn.run_sync(fn)

    # -- wake-ups ----------------------------------------------------------------------

    def subscribe(self, channel: str, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` when work on ``channel`` (``notifications.py``) is committed,
        by this process or, on PostgreSQL, any other; answers its remover.

        The first subscriber of an open PostgreSQL store starts its listener.
        """
        remove = self.notifications.subscribe(channel, listener)
        if self._opened:
            self._start_listening()
        return remove

    def subscribe_here(self, channel: str, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after this process's own commits of work on ``channel``;
        answers its remover.  Starts no listener: for passing wake-ups on to processes
        that do not hear the database themselves (``engine/wakeup.py``)."""
        return self.notifications.subscribe(channel, listener)

    @property
    def listening(self) -> bool:
        """True while this store hears other processes' commits (PostgreSQL's LISTEN):
        pollers may then wait ``poll_interval_listening`` instead of ``poll_interval``."""
        return self._listener is not None and self._listener.listening

    @property
    def listener(self) -> PgListener | None:
        """The LISTEN connection's keeper on PostgreSQL (None on SQLite or when off)."""
        return self._listener

    def _start_listening(self) -> None:
        if self._listener is not None:
            self._listener.start()

    async def _flush_inserts(self, jobs: Sequence[InsertJob]) -> Sequence[InsertJob]:
        def write(conn: Connection) -> Sequence[InsertJob]:
            done = write_jobs(conn, jobs)
            notify(conn, MESSAGES, FEED)
            return done

        return await self.transact(write)

    # -- path 3: raw page reads --------------------------------------------------------

    async def fetch(self, sql: str, params: Sequence[Any]) -> Sequence[Sequence[Any]]:
        """Every row of one compiled read-only statement, as the driver answers it: on
        SQLite on a reader thread, on PostgreSQL asyncpg's records."""
        if self._sqlite_reader is not None:
            return await self._sqlite_reader.fetch(sql, params)
        async with self.read() as conn:
            # One statement needs no transaction around it (two round trips fewer), and
            # the driver's own records index like tuples: a result row for each of them
            # cost more than the query.
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            result = await conn.exec_driver_sql(sql, params)
            rows: Sequence[Sequence[Any]] = result.cursor.fetchall()
            return rows
