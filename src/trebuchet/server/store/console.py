"""What the web console reads beyond the API's own queries: users for the operator to pick,
recent changes for the live feed, text search over recent messages, conversations and
the dashboard's figures.  Every query is bounded by a user and a time range, so it reads
an index range of ``ix_messages_user_time`` however large the table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, literal, or_, select, tuple_, update

from trebuchet.server.domain.states import NOT_SENT, Direction, EventState, MessageState
from trebuchet.server.store import tables as t
from trebuchet.server.store.messages import MESSAGE_COLUMNS

if TYPE_CHECKING:
    from trebuchet.server.store.store import Store

Row = Mapping[str, Any]
# How many of a user's latest messages conversations are gathered from.
CONVERSATION_SCAN = 5000


@dataclass(frozen=True)
class Figures:
    """A user's dashboard over one window."""

    sent: int
    failed: int
    received: int
    queued: int
    callbacks_delivered: int
    callbacks_failed: int
    callback_attempts: int
    callback_mean_ms: float | None
    # (bucket start in microseconds, messages out, messages in), oldest first
    throughput: list[tuple[int, int, int]]


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ConsoleQueries:
    def __init__(self, store: Store):
        self._store = store

    async def users(self, after_id: str | None, limit: int) -> list[Row]:
        """Users by id, for the operator to pick one (keyset on the id)."""
        c = t.users.c
        query = select(c.id, c.api_token, c.created_us)
        if after_id is not None:
            query = query.where(c.id > after_id)
        async with self._store.read() as conn:
            result = await conn.execute(query.order_by(c.id).limit(limit))
            return [dict(row) for row in result.mappings()]

    async def changes(self, user_ids: Sequence[str], since_us: int, limit: int) -> list[Row]:
        """The id, user and states of the watched users' messages since ``since_us``,
        newest first: the live feed compares one reading with the next."""
        c = t.messages.c
        query = (
            select(c.id, c.user_id, c.state, c.delivery_state, c.text, c.time_us)
            .where(c.user_id.in_(list(user_ids)), c.time_us >= since_us)
            .order_by(c.time_us.desc(), c.id.desc())
            .limit(limit)
        )
        async with self._store.read() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    async def search(
        self,
        user_id: str,
        text: str,
        since_us: int,
        before: tuple[int, str] | None,
        limit: int,
    ) -> Sequence[Any]:
        """Messages since ``since_us`` whose text holds ``text``, newest first, keyset
        paged before ``before``; rows in MESSAGE_COLUMNS order."""
        c = t.messages.c
        query = select(*MESSAGE_COLUMNS).where(
            c.user_id == user_id,
            c.time_us >= since_us,
            c.text.like(_like_pattern(text), escape="\\"),
        )
        if before is not None:
            query = query.where(tuple_(c.time_us, c.id) < tuple_(*before))
        query = query.order_by(c.time_us.desc(), c.id.desc()).limit(limit)
        async with self._store.read() as conn:
            return list((await conn.execute(query)).all())

    async def conversations(self, user_id: str, limit: int) -> list[Row]:
        """Threads of the user's latest messages by (our number, their number): the last
        message's time, text and state, and the count in the scanned messages."""
        c = t.messages.c
        latest = (
            select(c.from_number, c.to_number, c.direction, c.time_us, c.text)
            .where(c.user_id == user_id)
            .order_by(c.time_us.desc(), c.id.desc())
            .limit(CONVERSATION_SCAN)
            .subquery()
        )
        out = latest.c.direction == Direction.OUT.value
        ours = case((out, latest.c.from_number), else_=latest.c.to_number).label("ours")
        theirs = case((out, latest.c.to_number), else_=latest.c.from_number).label("theirs")
        query = (
            select(ours, theirs, func.max(latest.c.time_us).label("last_us"),
                   func.count().label("messages"))
            .group_by(ours, theirs)
            .order_by(func.max(latest.c.time_us).desc())
            .limit(limit)
        )  # fmt: skip
        async with self._store.read() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    async def thread(self, user_id: str, ours: str, theirs: str, limit: int) -> Sequence[Any]:
        """The latest ``limit`` messages between ``ours`` and ``theirs``, oldest first."""
        c = t.messages.c
        mine = and_(
            c.direction == Direction.OUT.value, c.from_number == ours, c.to_number == theirs
        )
        to_me = and_(
            c.direction == Direction.IN.value, c.from_number == theirs, c.to_number == ours
        )
        query = (
            select(*MESSAGE_COLUMNS)
            .where(c.user_id == user_id, or_(mine, to_me))
            .order_by(c.time_us.desc(), c.id.desc())
            .limit(limit)
        )
        async with self._store.read() as conn:
            rows = list((await conn.execute(query)).all())
        rows.reverse()
        return rows

    async def figures(self, user_id: str, since_us: int, buckets: int, now_us: int) -> Figures:
        """The dashboard over ``[since_us, now_us]``, throughput in ``buckets`` steps."""
        m, e, a = t.messages.c, t.events.c, t.event_attempts.c
        window = and_(m.user_id == user_id, m.time_us >= since_us)
        out = m.direction == Direction.OUT.value

        def counted(condition: Any) -> Any:
            return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

        totals = select(
            counted(and_(out, m.state == MessageState.SENT.value)),
            counted(and_(out, m.state == MessageState.ERROR.value)),
            counted(m.direction == Direction.IN.value),
            counted(and_(m.due_us.is_not(None), m.state.in_(NOT_SENT))),
        ).where(window)
        events = select(
            counted(e.state == EventState.DELIVERED.value),
            counted(e.state == EventState.FAILED.value),
        ).where(e.user_id == user_id, e.created_us >= since_us)
        attempts = (
            select(func.count(), func.avg(a.duration_us))
            .select_from(t.event_attempts.join(t.events, e.id == a.event_id))
            .where(e.user_id == user_id, e.created_us >= since_us, a.time_us >= since_us)
        )
        step = max(1, (now_us - since_us) // buckets)
        bucket = ((m.time_us - literal(since_us)) // literal(step)).label("bucket")
        series = (
            select(bucket, counted(out), counted(m.direction == Direction.IN.value))
            .where(window)
            .group_by(bucket)
        )
        async with self._store.read() as conn:
            sent, failed, received, queued = (await conn.execute(totals)).one()
            delivered, undelivered = (await conn.execute(events)).one()
            tried, mean_us = (await conn.execute(attempts)).one()
            counts: dict[int, tuple[int, int]] = {}
            for b, o, i in await conn.execute(series):
                index = min(int(b), buckets - 1)  # a message at ``now_us`` joins the last
                before = counts.get(index, (0, 0))
                counts[index] = (before[0] + int(o), before[1] + int(i))
        throughput = [
            (since_us + index * step, *counts.get(index, (0, 0))) for index in range(buckets)
        ]
        return Figures(
            int(sent), int(failed), int(received), int(queued),
            int(delivered), int(undelivered), int(tried),
            None if mean_us is None else float(mean_us) / 1000, throughput,
        )  # fmt: skip

    async def redeliver(self, user_id: str, message_id: str, now_us: int, window_us: int) -> int:
        """Send the message's finished callback events again: each is pending, due now,
        with a fresh retry window; the callback workers claim them as any other.  How
        many events were reopened."""
        e = t.events.c
        query = (
            update(t.events)
            .where(e.user_id == user_id, e.message_id == message_id,
                   e.state != EventState.PENDING.value)
            .values(state=EventState.PENDING.value, due_us=now_us,
                    expires_us=now_us + window_us, finished_us=None,
                    lease_owner=None, lease_until_us=None, claims=0)
        )  # fmt: skip
        async with self._store.write() as conn:
            return int((await conn.execute(query)).rowcount or 0)
