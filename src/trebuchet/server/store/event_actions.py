"""Listing, re-delivering and cancelling callback events: what users do to their own
messages' events through the API, and the operator to anyone's through the CLI.

Every action takes an :class:`EventFilter`; the API's always names the user and the
message, the operator's may name a time range instead.  Events are changed in batches of
:data:`BATCH` ids, so a range of any size never holds a long lock.  Changes race the
callback worker safely: a cancelled event loses its lease, so a delivery in flight cannot
write its outcome over the cancel (finishes are fenced on the lease).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, select, true, tuple_, update
from sqlalchemy.engine import Connection

from trebuchet.server.domain.dead_letters import CALLBACK_CANCELLED
from trebuchet.server.domain.states import EventState
from trebuchet.server.store import tables as t
from trebuchet.server.store.notifications import EVENTS, notify

if TYPE_CHECKING:
    from trebuchet.server.store.store import Store

Row = Mapping[str, Any]
BATCH = 500


@dataclass(frozen=True)
class EventFilter:
    """Which events: every field given narrows the set; times are ``created_us`` bounds
    (``since_us`` included, ``until_us`` excluded)."""

    user_id: str | None = None
    message_id: str | None = None
    event_id: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    state: str | None = None

    def where(self) -> ColumnElement[bool]:
        c = t.events.c
        conditions: list[ColumnElement[bool]] = []
        if self.user_id is not None:
            conditions.append(c.user_id == self.user_id)
        if self.message_id is not None:
            conditions.append(c.message_id == self.message_id)
        if self.event_id is not None:
            conditions.append(c.id == self.event_id)
        if self.since_us is not None:
            conditions.append(c.created_us >= self.since_us)
        if self.until_us is not None:
            conditions.append(c.created_us < self.until_us)
        if self.state is not None:
            conditions.append(c.state == self.state)
        return and_(true(), *conditions)


class EventActions:
    """``store.events``: pages of events, re-delivery and cancel."""

    def __init__(self, store: Store):
        self._store = store

    async def page(
        self, which: EventFilter, after: tuple[int, str] | None, limit: int
    ) -> list[Row]:
        """Up to ``limit`` events in (created, id) order, after the keyset ``after``."""
        c = t.events.c
        query = select(t.events).where(which.where())
        if after is not None:
            query = query.where(tuple_(c.created_us, c.id) > tuple_(*after))
        query = query.order_by(c.created_us, c.id).limit(limit)
        async with self._store.read() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    async def redeliver(self, which: EventFilter, now: int, window_us: int) -> list[Row]:
        """Make every event ``which`` names pending and due now, with a fresh retry window
        and no crashes or claims counted; answers them as this left them, in (created, id) order.
        Attempts already made stay."""
        values = {
            "state": EventState.PENDING,
            "due_us": now,
            "expires_us": now + window_us,
            "finished_us": None,
            "failure_code": None,
            "failure": None,
            "crashes": 0,
            "claims": 0,
        }
        return await self._change(which, values)

    async def cancel(self, which: EventFilter, now: int) -> list[Row]:
        """Stop every pending event ``which`` names (``failed``, ``callback-cancelled``),
        taking their leases; answers them as this left them, in (created, id) order."""
        values = {
            "state": EventState.FAILED,
            "due_us": None,
            "finished_us": now,
            "failure_code": CALLBACK_CANCELLED,
            "failure": "cancelled",
            "lease_owner": None,
            "lease_until_us": None,
        }
        pending = EventFilter(**{**which.__dict__, "state": EventState.PENDING})
        return await self._change(pending, values)

    async def _change(self, which: EventFilter, values: Mapping[str, Any]) -> list[Row]:
        changed: list[Row] = []
        after: tuple[int, str] | None = None
        while True:
            ids, after = await self._ids(which, after)
            if ids:
                changed += await self._update(ids, which, values)
            if len(ids) < BATCH or after is None:
                return sorted(changed, key=lambda row: (row["created_us"], row["id"]))

    async def _ids(
        self, which: EventFilter, after: tuple[int, str] | None
    ) -> tuple[list[str], tuple[int, str] | None]:
        c = t.events.c
        query = select(c.id, c.created_us).where(which.where())
        if after is not None:
            query = query.where(tuple_(c.created_us, c.id) > tuple_(*after))
        query = query.order_by(c.created_us, c.id).limit(BATCH)
        async with self._store.read() as conn:
            rows = (await conn.execute(query)).all()
        last = (rows[-1][1], rows[-1][0]) if rows else None
        return [row[0] for row in rows], last

    async def _update(
        self, ids: Sequence[str], which: EventFilter, values: Mapping[str, Any]
    ) -> list[Row]:
        # The filter again: an event that changed since it was read is left alone.
        statement = (
            update(t.events)
            .where(t.events.c.id.in_(list(ids)), which.where())
            .values(**values)
            .returning(*t.events.c)
        )
        reopens = values.get("state") == EventState.PENDING

        def write(conn: Connection) -> list[Row]:
            rows: list[Row] = [dict(row) for row in conn.execute(statement).mappings()]
            if rows and reopens:
                notify(conn, EVENTS)  # the callback workers of every process look at once
            return rows

        return await self._store.transact(write)
