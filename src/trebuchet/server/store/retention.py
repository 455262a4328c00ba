"""Retention and pruning: what the store lets go of as it ages, in small batches.

Each step is one plain function over a blocking connection that handles at most ``limit``
rows of its table in the caller's transaction, oldest first, and answers how many it
handled; a step whose answer is below its limit has nothing more to do now.  The rows a
step takes are locked with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
housekeepers (and the workers) never wait on each other's rows; on SQLite the statement
runs as it is (the dialect writes no lock clause) in one short ``BEGIN IMMEDIATE``
transaction on the writer thread, between group commits.

The steps, in order (``docs/operations.md``), each counted by the dry run exactly as a
round then handles it (the bookkeeping goes before the records that would take some of it):

* ``text``: messages older than the text window lose their text wherever it is stored,
  by the same scrub as a redaction (:func:`.redaction.scrub_messages`);
* ``events``: delivered events older than their window, with their attempts;
* ``idempotency_keys``: keys older than the 24 hours they answer for;
* ``carrier_refs``: references whose message has every part's receipt, or older than
  their expiry;
* ``user_errors``: entries of the error log older than the record window;
* ``records``: messages older than the record window are deleted with their events, the
  events' attempts and their carrier references; the media URLs of received MMS among
  them come back, so that the caller can delete files no kept message names;
* ``console_sessions``: web console sessions idle longer than ``console_idle_minutes``
  (a browser that comes back after that signs in again; its row is gone).

A message still waiting to be sent (queued or sending) is never scrubbed or deleted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Select, and_, delete, exists, func, select, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased

from trebuchet.server.domain.states import NOT_SENT, Direction, EventState
from trebuchet.server.domain.times import US
from trebuchet.server.store import tables as t
from trebuchet.server.store.intake import IDEMPOTENCY_WINDOW_US
from trebuchet.server.store.redaction import scrub_messages

if TYPE_CHECKING:
    from trebuchet.server.config import Settings
    from trebuchet.server.store.store import Store

DAY_US = 24 * 3600 * US
STEPS = (
    "text", "events", "idempotency_keys", "carrier_refs", "user_errors", "records",
    "console_sessions",
)  # fmt: skip


def days_us(days: float) -> int | None:
    """A window of ``days`` in microseconds; None (keep forever) for 0."""
    return round(days * DAY_US) if days > 0 else None


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each kind of row is kept, in microseconds; None keeps it forever."""

    text_us: int | None = 3 * DAY_US
    record_us: int | None = 30 * DAY_US
    delivered_events_us: int | None = 7 * DAY_US
    carrier_refs_us: int | None = 3 * DAY_US
    idempotency_us: int = IDEMPOTENCY_WINDOW_US
    console_idle_us: int = 30 * 60 * US

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(
            text_us=days_us(settings.retention_text_days),
            record_us=days_us(settings.retention_record_days),
            delivered_events_us=days_us(settings.retention_delivered_event_days),
            carrier_refs_us=days_us(settings.retention_carrier_ref_days),
            console_idle_us=round(settings.console_idle_minutes * 60 * US),
        )

    def cutoffs(self, now_us: int) -> dict[str, int | None]:
        """Each step's cutoff at ``now_us``: rows from before it go (None: the step is off)."""

        def before(window: int | None) -> int | None:
            return None if window is None else now_us - window

        return {
            "text": before(self.text_us),
            "records": before(self.record_us),
            "events": before(self.delivered_events_us),
            "idempotency_keys": now_us - self.idempotency_us,
            "carrier_refs": before(self.carrier_refs_us),
            "user_errors": before(self.record_us),
            "console_sessions": now_us - self.console_idle_us,
        }


@dataclass(frozen=True)
class MediaUse:
    """A media URL a deleted received MMS named, and the user whose store holds it."""

    user_id: str
    url: str


@dataclass
class Batch:
    """What one step did in one transaction."""

    handled: int = 0
    media: list[MediaUse] = field(default_factory=list)


def _take(query: Select[Any], limit: int) -> Select[Any]:
    return query.limit(limit).with_for_update(skip_locked=True)


# -- the steps -------------------------------------------------------------------------


def scrub_text(conn: Connection, cutoff: int, limit: int) -> Batch:
    c = t.messages.c
    query = select(c.id).where(c.time_us < cutoff, c.text != "", c.state.not_in(NOT_SENT))
    ids = list(conn.execute(_take(query.order_by(c.time_us), limit)).scalars())
    scrub_messages(conn, ids)
    return Batch(len(ids))


def delete_records(conn: Connection, cutoff: int, limit: int) -> Batch:
    c = t.messages.c
    query = (
        select(c.id, c.user_id, c.direction, c.media)
        .where(c.time_us < cutoff, c.state.not_in(NOT_SENT))
        .order_by(c.time_us, c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = conn.execute(query).all()
    ids = [row.id for row in rows]
    if not ids:
        return Batch()
    e = t.events.c
    # Events are locked before their attempts are touched, as everywhere else, so that
    # two housekeepers (or a worker finishing an event) never wait on each other in a ring.
    locked = select(e.id).where(e.message_id.in_(ids)).order_by(e.id).with_for_update()
    event_ids = list(conn.execute(locked).scalars())
    _delete_events(conn, event_ids)
    conn.execute(delete(t.carrier_refs).where(t.carrier_refs.c.message_id.in_(ids)))
    conn.execute(delete(t.messages).where(c.id.in_(ids)))
    received = [
        MediaUse(row.user_id, url)
        for row in rows
        if row.direction == Direction.IN and row.media
        for url in json.loads(row.media)
    ]
    return Batch(len(ids), [use for use in received if not _still_named(conn, use)])


def _still_named(conn: Connection, use: MediaUse) -> bool:
    """Does a message the user keeps still name this media URL?"""
    c = t.messages.c
    query = select(c.id).where(c.user_id == use.user_id, c.media.contains(use.url, autoescape=True))
    return conn.execute(query.limit(1)).first() is not None


def prune_events(conn: Connection, cutoff: int, limit: int) -> Batch:
    e = t.events.c
    query = select(e.id).where(e.state == EventState.DELIVERED, e.finished_us < cutoff)
    ids: list[str] = list(conn.execute(_take(query.order_by(e.finished_us), limit)).scalars())
    _delete_events(conn, ids)
    return Batch(len(ids))


def _delete_events(conn: Connection, event_ids: list[str]) -> None:
    if event_ids:
        conn.execute(delete(t.event_attempts).where(t.event_attempts.c.event_id.in_(event_ids)))
        conn.execute(delete(t.events).where(t.events.c.id.in_(event_ids)))


def prune_idempotency_keys(conn: Connection, cutoff: int, limit: int) -> Batch:
    k = t.idempotency_keys.c
    query = (
        select(k.user_id, k.key)
        .where(k.created_us < cutoff)
        .order_by(k.created_us)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    keys = [tuple(row) for row in conn.execute(query)]
    if keys:
        conn.execute(delete(t.idempotency_keys).where(tuple_(k.user_id, k.key).in_(keys)))
    return Batch(len(keys))


def prune_carrier_refs(conn: Connection, cutoff: int | None, limit: int) -> Batch:
    """References whose message has every part's receipt; then, when the expiry is set,
    references older than it (no receipt will come any more)."""
    r = t.carrier_refs.c
    sibling = aliased(t.carrier_refs)
    waiting = exists().where(and_(sibling.c.message_id == r.message_id, sibling.c.code.is_(None)))
    receipted = select(r.carrier, r.ref).where(r.code.is_not(None), ~waiting)
    keys = [
        tuple(row)
        for row in conn.execute(
            receipted.order_by(r.created_us).limit(limit).with_for_update(skip_locked=True)
        )
    ]
    if cutoff is not None and len(keys) < limit:
        expired = select(r.carrier, r.ref).where(r.created_us < cutoff)
        if keys:  # this transaction's own locks do not hide them
            expired = expired.where(tuple_(r.carrier, r.ref).not_in(keys))
        more = expired.order_by(r.created_us).limit(limit - len(keys))
        keys.extend(tuple(row) for row in conn.execute(more.with_for_update(skip_locked=True)))
    if keys:
        conn.execute(delete(t.carrier_refs).where(tuple_(r.carrier, r.ref).in_(keys)))
    return Batch(len(keys))


def _delete_older(conn: Connection, when: Column[Any], cutoff: int, limit: int) -> Batch:
    """Delete up to ``limit`` rows of ``when``'s table whose ``when`` is before ``cutoff``,
    oldest first; the table has an ``id`` key."""
    table = when.table
    query = select(table.c.id).where(when < cutoff)
    ids = list(conn.execute(_take(query.order_by(when), limit)).scalars())
    if ids:
        conn.execute(delete(table).where(table.c.id.in_(ids)))
    return Batch(len(ids))


def prune_user_errors(conn: Connection, cutoff: int, limit: int) -> Batch:
    return _delete_older(conn, t.user_errors.c.time_us, cutoff, limit)


def prune_console_sessions(conn: Connection, cutoff: int, limit: int) -> Batch:
    return _delete_older(conn, t.console_sessions.c.seen_us, cutoff, limit)


StepFn = Callable[[Connection, int, int], Batch]
_STEPS: dict[str, StepFn] = {
    "text": scrub_text,
    "records": delete_records,
    "events": prune_events,
    "idempotency_keys": prune_idempotency_keys,
    "user_errors": prune_user_errors,
    "console_sessions": prune_console_sessions,
}


# -- counting what would go (``trebuchet purge --dry-run``) -----------------------------


def due_counts(conn: Connection, cutoffs: dict[str, int | None]) -> dict[str, int]:
    """How many rows each step would handle now, were it run until done."""
    m, e, k = t.messages.c, t.events.c, t.idempotency_keys.c
    r, u, s = t.carrier_refs.c, t.user_errors.c, t.console_sessions.c
    sibling = aliased(t.carrier_refs)
    waiting = exists().where(and_(sibling.c.message_id == r.message_id, sibling.c.code.is_(None)))
    queries = {
        "text": lambda at: select(func.count()).where(
            m.time_us < at, m.text != "", m.state.not_in(NOT_SENT)
        ),
        "records": lambda at: select(func.count()).where(m.time_us < at, m.state.not_in(NOT_SENT)),
        "events": lambda at: select(func.count()).where(
            e.state == EventState.DELIVERED, e.finished_us < at
        ),
        "idempotency_keys": lambda at: select(func.count()).where(k.created_us < at),
        "carrier_refs": lambda at: select(func.count()).where(
            (r.code.is_not(None) & ~waiting) | (r.created_us < at)
        ),
        "user_errors": lambda at: select(func.count()).where(u.time_us < at),
        "console_sessions": lambda at: select(func.count()).where(s.seen_us < at),
    }
    tables = {
        "text": t.messages,
        "records": t.messages,
        "events": t.events,
        "idempotency_keys": t.idempotency_keys,
        "carrier_refs": t.carrier_refs,
        "user_errors": t.user_errors,
        "console_sessions": t.console_sessions,
    }
    counts: dict[str, int] = {}
    for step in STEPS:
        at = cutoffs[step]
        if step == "carrier_refs" and at is None:
            query = select(func.count()).where(r.code.is_not(None), ~waiting)
        elif at is None:
            counts[step] = 0
            continue
        else:
            query = queries[step](at)
        counts[step] = int(conn.execute(query.select_from(tables[step])).scalar_one())
    return counts


class Retention:
    """``store.retention``: one batch of one step per transaction, and the dry run."""

    def __init__(self, store: Store):
        self._store = store

    async def batch(self, step: str, cutoff: int | None, limit: int) -> Batch:
        """Run ``step`` once over at most ``limit`` rows older than ``cutoff``, in its own
        short write transaction."""
        if step == "carrier_refs":
            return await self._store.transact(lambda conn: prune_carrier_refs(conn, cutoff, limit))
        if cutoff is None:
            return Batch()
        fn = _STEPS[step]
        return await self._store.transact(lambda conn: fn(conn, cutoff, limit))

    async def due(self, cutoffs: dict[str, int | None]) -> dict[str, int]:
        """How many rows each step would handle now (nothing is changed)."""
        async with self._store.read() as conn:
            return await conn.run_sync(lambda sync: due_counts(sync, cutoffs))

    async def table_rows(self) -> dict[str, int]:
        """Rows in each table that grows with traffic (the soak test and operators)."""
        tables = (
            t.messages, t.events, t.event_attempts, t.idempotency_keys,
            t.carrier_refs, t.user_errors,
        )  # fmt: skip
        async with self._store.read() as conn:
            return {
                table.name: int(
                    (await conn.execute(select(func.count()).select_from(table))).scalar_one()
                )
                for table in tables
            }

    async def bytes_on_disk(self) -> int:
        """The database's size: the SQLite file (pages in use and free), or PostgreSQL's
        ``pg_database_size``."""
        async with self._store.read() as conn:
            if conn.dialect.name == "postgresql":
                query = "SELECT pg_database_size(current_database())"
                return int((await conn.exec_driver_sql(query)).scalar_one())
            pages = (await conn.exec_driver_sql("PRAGMA page_count")).scalar_one()
            size = (await conn.exec_driver_sql("PRAGMA page_size")).scalar_one()
            return int(pages) * int(size)
