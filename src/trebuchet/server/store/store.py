"""The store: users, numbers, applications, messages, idempotency keys and user errors.

All SQL goes through SQLAlchemy Core, so SQLite and PostgreSQL share one code path; the
few differences (``BEGIN IMMEDIATE``, upsert syntax) are chosen by dialect here.
Message inserts go through a :class:`GroupCommitter`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy import Row as SaRow
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from trebuchet.server.domain.ids import new_id, new_secret
from trebuchet.server.domain.states import NumberState
from trebuchet.server.domain.times import now_us
from trebuchet.server.store import tables as t
from trebuchet.server.store.database import BEGIN_MODE, create_engine, migrate, sqlite_path
from trebuchet.server.store.faults import unavailable_reason
from trebuchet.server.store.group_commit import GroupCommitter
from trebuchet.server.store.inventory import ENABLED, RELEASED, take_number
from trebuchet.server.store.reader import SqliteReader
from trebuchet.server.store.records import InsertJob, MessageFilter, NewUser, User
from trebuchet.server.store.redaction import redact
from trebuchet.server.store.writer import SqliteWriter, insert_ignoring_conflicts, write_jobs

if TYPE_CHECKING:
    from trebuchet.server.config import Settings

Row = Mapping[Any, Any]
# Messages come back as SQLAlchemy rows (attribute access: ``row.time_us``), the
# cheapest shape to fetch a thousand of.
MessageRow = SaRow[Any]
T = TypeVar("T")


def hash_secret(secret: str) -> str:
    # API secrets are 192-bit random tokens, so a fast hash is as safe as a slow one and
    # keeps per-request authentication cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)


# The meta row readiness writes to when writes have been failing.
WRITE_PROBE_KEY = "write_probe"
# Rows per group-commit transaction, at most (a batch exceeds it by its last job only).
INSERT_BATCH_ROWS = 2000


class Store:
    def __init__(self, url: str, *, pool_size: int = 10, sqlite_synchronous: str = "NORMAL"):
        self.url = url
        self._engine: AsyncEngine = create_engine(
            url, pool_size=pool_size, sqlite_synchronous=sqlite_synchronous
        )
        self.dialect = self._engine.dialect.name
        path = sqlite_path(url)
        self._sqlite_writer = None if path is None else SqliteWriter(path, sqlite_synchronous)
        self._sqlite_reader = None if path is None else SqliteReader(path, sqlite_synchronous)
        writers = 1 if self.dialect == "sqlite" else 4
        self._inserts: GroupCommitter[InsertJob, InsertJob] = GroupCommitter(
            self._flush_inserts,
            writers=writers,
            max_batch=INSERT_BATCH_ROWS,
            weigh=lambda job: len(job.rows) or 1,
        )
        self._insert_listeners: list[Callable[[], None]] = []
        # Why the last write failed when the store refused it (read-only, full, down);
        # None once a write succeeds.  Readiness reports it.
        self.write_fault: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """The store ``settings`` describe: its URL, pool size and SQLite durability."""
        return cls(
            settings.db,
            pool_size=settings.db_pool_size,
            sqlite_synchronous=settings.sqlite_synchronous,
        )

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self, *, run_migrations: bool = True) -> None:
        if run_migrations:
            await migrate(self.url)
        self._inserts.start()

    async def close(self) -> None:
        await self._inserts.stop()
        if self._sqlite_writer is not None:
            self._sqlite_writer.close()
        if self._sqlite_reader is not None:
            self._sqlite_reader.close()
        await self._engine.dispose()

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

    async def probe_write(self) -> None:
        """A real but harmless write (the time, under its own key); raises as writes do."""

        def write(conn: Connection) -> None:
            value = str(now_us())
            changed = conn.execute(
                update(t.meta).where(t.meta.c.key == WRITE_PROBE_KEY).values(value=value)
            )
            if not changed.rowcount:
                conn.execute(insert(t.meta).values(key=WRITE_PROBE_KEY, value=value))

        await self.transact(write)

    def _insert_ignoring_conflicts(self, table: Any) -> Any:
        return insert_ignoring_conflicts(self.dialect, table)

    # -- meta --------------------------------------------------------------------------

    async def setting(self, key: str, default_factory: Any = None) -> str:
        """A persistent value shared by every process (created on first use)."""
        async with self.write() as conn:
            value = await conn.scalar(select(t.meta.c.value).where(t.meta.c.key == key))
            if value is None:
                value = default_factory() if default_factory else ""
                await conn.execute(
                    self._insert_ignoring_conflicts(t.meta).values(key=key, value=value)
                )
                value = await conn.scalar(select(t.meta.c.value).where(t.meta.c.key == key))
            return str(value)

    # -- users -------------------------------------------------------------------------

    async def create_user(self, numbers: Sequence[str] = ()) -> NewUser:
        secret = new_secret()
        user = User(
            id=new_id("u"),
            api_token=new_id("t"),
            secret_hash=hash_secret(secret),
            callback_secret=new_secret(),
        )
        async with self.write() as conn:
            await conn.execute(
                insert(t.users).values(
                    id=user.id,
                    api_token=user.api_token,
                    secret_hash=user.secret_hash,
                    callback_secret=user.callback_secret,
                    created_us=now_us(),
                )
            )
            for number in numbers:
                await take_number(conn, user.id, {"number": number})
        return NewUser(user=user, api_secret=secret, numbers=list(numbers))

    async def user_by_token(self, token: str) -> User | None:
        async with self.read() as conn:
            row = (
                (await conn.execute(select(t.users).where(t.users.c.api_token == token)))
                .mappings()
                .first()
            )
        return None if row is None else _user(row)

    async def user(self, user_id: str) -> User | None:
        async with self.read() as conn:
            row = (await conn.execute(select(t.users).where(t.users.c.id == user_id))).mappings()
            first = row.first()
        return None if first is None else _user(first)

    async def count_users(self) -> int:
        async with self.read() as conn:
            return int(await conn.scalar(select(func.count()).select_from(t.users)) or 0)

    # -- phone numbers -----------------------------------------------------------------

    async def list_numbers(
        self, user_id: str, filters: Mapping[str, str], after_id: str | None, limit: int
    ) -> list[Row]:
        query = select(t.phone_numbers).where(
            t.phone_numbers.c.user_id == user_id, t.phone_numbers.c.number_state == ENABLED
        )
        for column, value in filters.items():
            query = query.where(t.phone_numbers.c[column] == value)
        if after_id is not None:
            query = query.where(t.phone_numbers.c.id > after_id)
        query = query.order_by(t.phone_numbers.c.id).limit(limit)
        async with self.read() as conn:
            return list((await conn.execute(query)).mappings())

    async def get_number(self, user_id: str, id_or_number: str) -> Row | None:
        query = select(t.phone_numbers).where(
            t.phone_numbers.c.user_id == user_id,
            t.phone_numbers.c.number_state == ENABLED,
            or_(t.phone_numbers.c.id == id_or_number, t.phone_numbers.c.number == id_or_number),
        )
        async with self.read() as conn:
            return (await conn.execute(query)).mappings().first()

    async def update_number(self, user_id: str, number_id: str, changes: Row) -> bool:
        return await self._update(t.phone_numbers, user_id, number_id, changes)

    async def delete_number(self, user_id: str, number_id: str) -> bool:
        """Release the number (spec: a released number cannot be added again)."""
        released = {"number_state": RELEASED, "released_us": now_us(), "application_id": None}
        return await self._update(t.phone_numbers, user_id, number_id, released)

    async def owns_number(self, user_id: str, number: str) -> bool:
        query = select(t.phone_numbers.c.id).where(
            t.phone_numbers.c.number == number,
            t.phone_numbers.c.user_id == user_id,
            t.phone_numbers.c.number_state == NumberState.ENABLED,
        )
        async with self.read() as conn:
            return (await conn.scalar(query)) is not None

    async def has_numbers(self, user_id: str) -> bool:
        query = (
            select(t.phone_numbers.c.id)
            .where(t.phone_numbers.c.user_id == user_id, t.phone_numbers.c.number_state == ENABLED)
            .limit(1)
        )
        async with self.read() as conn:
            return (await conn.scalar(query)) is not None

    async def number_owner(self, number: str) -> Row | None:
        """The enabled number record for ``number``, whoever owns it (inbound routing)."""
        c = t.phone_numbers.c
        query = select(t.phone_numbers).where(
            c.number == number, c.number_state == NumberState.ENABLED
        )
        async with self.read() as conn:
            return (await conn.execute(query)).mappings().first()

    # -- applications ------------------------------------------------------------------

    async def add_application(self, user_id: str, values: Row) -> Row:
        row = {"id": new_id("a"), "user_id": user_id, "created_us": now_us(), **values}
        async with self.write() as conn:
            await conn.execute(insert(t.applications).values(row))
        return row

    async def list_applications(self, user_id: str, after_id: str | None, limit: int) -> list[Row]:
        query = select(t.applications).where(t.applications.c.user_id == user_id)
        if after_id is not None:
            query = query.where(t.applications.c.id > after_id)
        query = query.order_by(t.applications.c.id).limit(limit)
        async with self.read() as conn:
            return list((await conn.execute(query)).mappings())

    async def get_application(self, user_id: str, app_id: str) -> Row | None:
        query = select(t.applications).where(
            t.applications.c.user_id == user_id, t.applications.c.id == app_id
        )
        async with self.read() as conn:
            return (await conn.execute(query)).mappings().first()

    async def update_application(self, user_id: str, app_id: str, changes: Row) -> bool:
        return await self._update(t.applications, user_id, app_id, changes)

    async def delete_application(self, user_id: str, app_id: str) -> bool:
        async with self.write() as conn:
            result = await conn.execute(
                delete(t.applications).where(
                    t.applications.c.user_id == user_id, t.applications.c.id == app_id
                )
            )
            if result.rowcount:
                await conn.execute(
                    update(t.phone_numbers)
                    .where(
                        t.phone_numbers.c.user_id == user_id,
                        t.phone_numbers.c.application_id == app_id,
                    )
                    .values(application_id=None)
                )
            return bool(result.rowcount)

    async def _update(self, table: Any, user_id: str, ident: str, changes: Row) -> bool:
        where = and_(table.c.user_id == user_id, table.c.id == ident)
        async with self.write() as conn:
            if not changes:
                return (await conn.scalar(select(table.c.id).where(where))) is not None
            result = await conn.execute(update(table).where(where).values(dict(changes)))
            return bool(result.rowcount)

    # -- messages ----------------------------------------------------------------------

    async def insert_messages(self, job: InsertJob) -> InsertJob:
        """Store the job's rows atomically; ``job.replayed`` is set on an idempotent replay."""
        return await self._inserts.submit(job)

    def on_insert(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after every commit of new messages; answers its remover.

        The delivery engine in this process hears of new work at once this way; engines in
        other processes find it by polling.
        """
        self._insert_listeners.append(listener)
        return lambda: self._insert_listeners.remove(listener)

    async def _flush_inserts(self, jobs: Sequence[InsertJob]) -> Sequence[InsertJob]:
        done = await self.transact(lambda conn: write_jobs(conn, jobs))
        for listener in self._insert_listeners:
            listener()
        return done

    async def transact(self, fn: Callable[[Connection], T]) -> T:
        """``fn(conn)`` in one write transaction on a blocking connection.

        On SQLite it runs on the process's single writer thread, on PostgreSQL through
        ``run_sync`` on a pooled connection.  For batched writes: one hop per batch.
        """
        if self._sqlite_writer is not None:
            with self._noting_write_faults():
                return await self._sqlite_writer.transact(fn)
        async with self.write() as conn:
            return await conn.run_sync(fn)

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

    async def get_message(self, user_id: str, message_id: str) -> MessageRow | None:
        query = select(*MESSAGE_COLUMNS).where(
            t.messages.c.user_id == user_id, t.messages.c.id == message_id
        )
        async with self.read() as conn:
            return (await conn.execute(query)).first()

    async def list_messages(
        self,
        user_id: str,
        where: MessageFilter,
        *,
        descending: bool,
        after: tuple[int, str] | None,
        limit: int,
    ) -> Sequence[Sequence[Any]]:
        """A page of message rows (columns in MESSAGE_COLUMNS order), keyset-paged on
        ``(time_us, id)`` after ``after``.  The statement is compiled once per shape of
        filters; on SQLite the page is read on a reader thread, on PostgreSQL the rows
        are asyncpg's records."""
        equal = {
            name: value
            for name, value in (
                ("from_number", where.from_number),
                ("to_number", where.to_number),
                ("direction", where.direction),
                ("state", where.state),
                ("delivery_state", where.delivery_state),
            )
            if value is not None
        }
        shape = PageShape(
            tuple(equal), where.from_us is not None, where.to_us is not None,
            after is not None, descending,
        )  # fmt: skip
        sql, names, added = _page_statement(self._engine.dialect, shape)
        values: dict[str, Any] = {
            **added,
            "user_id": user_id,
            "from_us": where.from_us,
            "to_us": where.to_us,
            "after_time": after[0] if after else None,
            "after_id": after[1] if after else None,
            "page_limit": limit,
            **equal,
        }
        params = tuple(values[name] for name in names)
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

    async def redact_message(self, user_id: str, message_id: str) -> bool:
        """Empty the message's text everywhere it is stored (:mod:`.redaction`)."""
        return await self.transact(lambda conn: redact(conn, user_id, message_id))

    # -- user errors -------------------------------------------------------------------

    async def add_user_error(
        self, user_id: str, category: str, code: str, message: str, details: Mapping[str, str]
    ) -> str:
        error_id = new_id("ue")
        async with self.write() as conn:
            await conn.execute(
                insert(t.user_errors).values(
                    id=error_id,
                    user_id=user_id,
                    time_us=now_us(),
                    category=category,
                    code=code,
                    message=message,
                    details=json.dumps(details),
                )
            )
        return error_id

    async def list_user_errors(
        self, user_id: str, after: tuple[int, str] | None, limit: int
    ) -> list[Row]:
        c = t.user_errors.c
        query = select(t.user_errors).where(c.user_id == user_id)
        if after is not None:
            query = query.where(tuple_(c.time_us, c.id) < tuple_(*after))
        query = query.order_by(c.time_us.desc(), c.id.desc()).limit(limit)
        async with self.read() as conn:
            return list((await conn.execute(query)).mappings())

    async def get_user_error(self, user_id: str, error_id: str) -> Row | None:
        query = select(t.user_errors).where(
            t.user_errors.c.user_id == user_id, t.user_errors.c.id == error_id
        )
        async with self.read() as conn:
            return (await conn.execute(query)).mappings().first()


# Columns shown by the API (engine bookkeeping stays inside).
MESSAGE_COLUMN_NAMES = (
    "id",
    "from_number",
    "to_number",
    "direction",
    "text",
    "media",
    "state",
    "time_us",
    "segment_count",
    "callback_url",
    "callback_http_method",
    "callback_timeout",
    "fallback_url",
    "tag",
    "receipt_requested",
    "delivery_state",
    "delivery_code",
    "delivery_description",
    "skip_mms_carrier_validation",
    "application_id",
)
MESSAGE_COLUMNS = [t.messages.c[name] for name in MESSAGE_COLUMN_NAMES]


@dataclass(frozen=True)
class PageShape:
    """What a page query filters on, which fixes its SQL (the values go in as parameters)."""

    equal: tuple[str, ...]  # columns compared with ``=``
    since: bool
    until: bool
    after: bool
    descending: bool


# Parameters a page query takes, besides the columns compared with ``=``.
_PAGE_PARAMS = frozenset(("user_id", "from_us", "to_us", "after_time", "after_id", "page_limit"))


@cache
def _page_statement(
    dialect: Dialect, shape: PageShape
) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """The page query of ``shape``, compiled once; its parameter names in order, and the
    values of those the dialect adds itself (SQLite's ``OFFSET 0`` after a ``LIMIT``)."""
    c = t.messages.c
    query = select(*MESSAGE_COLUMNS).where(c.user_id == bindparam("user_id"))
    for name in shape.equal:
        query = query.where(c[name] == bindparam(name))
    if shape.since:
        query = query.where(c.time_us >= bindparam("from_us", type_=BigInteger))
    if shape.until:
        query = query.where(c.time_us <= bindparam("to_us", type_=BigInteger))
    key = tuple_(c.time_us, c.id)
    if shape.after:
        after = tuple_(
            bindparam("after_time", type_=BigInteger), bindparam("after_id", type_=String)
        )
        query = query.where(key < after if shape.descending else key > after)
    if shape.descending:
        query = query.order_by(c.time_us.desc(), c.id.desc())
    else:
        query = query.order_by(c.time_us, c.id)
    compiled = query.limit(bindparam("page_limit", type_=Integer)).compile(dialect=dialect)
    if compiled.positiontup is None:
        raise RuntimeError("the page query needs a positional parameter style")
    ours = _PAGE_PARAMS.union(shape.equal)
    added = {name: value for name, value in compiled.params.items() if name not in ours}
    return str(compiled), tuple(compiled.positiontup), added


def _user(row: Row) -> User:
    return User(
        id=row["id"],
        api_token=row["api_token"],
        secret_hash=row["secret_hash"],
        callback_secret=row["callback_secret"],
    )
