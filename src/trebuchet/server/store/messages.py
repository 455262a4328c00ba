"""Messages as their users see them: taken in, read one at a time or by the page, redacted,
their events listed; and how many wait to be sent.

Accepted messages are written by the group commit (its commits are announced on the
``trebuchet_messages`` channel, :meth:`Store.subscribe`; the body of the write is
:mod:`.intake`).  Pages are read on the raw path
(:meth:`Store.fetch`), by a statement compiled once per shape of filters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Integer, String, bindparam, func, select, tuple_
from sqlalchemy import Row as SaRow
from sqlalchemy.engine import Dialect

from trebuchet.server.domain.states import NOT_SENT
from trebuchet.server.store import tables as t
from trebuchet.server.store.group_commit import GroupCommitter
from trebuchet.server.store.records import InsertJob, MessageFilter
from trebuchet.server.store.redaction import redact

if TYPE_CHECKING:
    from trebuchet.server.store.store import Store

Row = Mapping[str, Any]
# Messages come back as SQLAlchemy rows (attribute access: ``row.time_us``), the
# cheapest shape to fetch a thousand of.
MessageRow = SaRow[Any]

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
    "keyword",
    "send_at_us",
    "expires_us",
    "carrier",
)
MESSAGE_COLUMNS = [t.messages.c[name] for name in MESSAGE_COLUMN_NAMES]


class Messages:
    def __init__(self, store: Store, inserts: GroupCommitter[InsertJob, InsertJob]):
        self._store = store
        self._inserts = inserts

    async def insert(self, job: InsertJob) -> InsertJob:
        """Store the job's rows atomically; ``job.replayed`` is set on an idempotent replay."""
        return await self._inserts.submit(job)

    async def get(self, user_id: str, message_id: str) -> MessageRow | None:
        query = select(*MESSAGE_COLUMNS).where(
            t.messages.c.user_id == user_id, t.messages.c.id == message_id
        )
        async with self._store.read() as conn:
            return (await conn.execute(query)).first()

    async def events(self, message_id: str) -> tuple[list[Row], list[Row]]:
        """A message's events in sequence order, and all their attempts in time order."""
        e, a = t.events.c, t.event_attempts.c
        events = select(t.events).where(e.message_id == message_id).order_by(e.sequence)
        attempts = (
            select(t.event_attempts)
            .where(a.event_id.in_(select(e.id).where(e.message_id == message_id)))
            .order_by(a.time_us, a.id)
        )
        async with self._store.read() as conn:
            event_rows: list[Row] = [dict(row) for row in (await conn.execute(events)).mappings()]
            attempt_rows: list[Row] = [
                dict(row) for row in (await conn.execute(attempts)).mappings()
            ]
        return event_rows, attempt_rows

    async def count_queued(self) -> int:
        """Messages waiting to be handed to a carrier (``queued`` or ``sending``)."""
        c = t.messages.c
        query = (
            select(func.count())
            .select_from(t.messages)
            .where(c.due_us.is_not(None), c.state.in_(NOT_SENT))
        )
        async with self._store.read() as conn:
            return int(await conn.scalar(query) or 0)

    async def list(
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
        sql, names, added = _page_statement(self._store.sql_dialect, shape)
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
        return await self._store.fetch(sql, tuple(values[name] for name in names))

    async def redact(self, user_id: str, message_id: str) -> bool:
        """Empty the message's text everywhere it is stored (:mod:`.redaction`)."""
        return await self._store.transact(lambda conn: redact(conn, user_id, message_id))


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
