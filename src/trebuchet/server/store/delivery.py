"""The delivery engine's SQL, every statement named, in one place.

Work items (messages to send, events to deliver) are rows with a ``due_us``; a worker
claims due rows by writing its name and a lease deadline into them in one statement:

* PostgreSQL: ``UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED)`` so concurrent
  workers never wait on, or take, each other's rows;
* SQLite: the same ``UPDATE ... RETURNING`` inside a ``BEGIN IMMEDIATE`` transaction, which
  serialises writers.

A row whose lease has run out (its worker died) is due again and is claimed by someone
else.  Every later write by a worker is fenced on ``lease_owner``: a worker that lost its
lease cannot overwrite what the new owner does.  ``due_us`` is NULL once nothing is left to
do, which keeps the partial indexes small.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from trebuchet.server.domain.ids import new_id
from trebuchet.server.store import tables as t
from trebuchet.server.store.store import Store

Row = Mapping[str, Any]


def _first(result: Any) -> Row | None:
    row = result.mappings().first()
    return None if row is None else dict(row)


# Engine columns are shown here and nowhere else.
_CLAIM_MESSAGES = {
    "postgresql": """
        UPDATE messages AS m
        SET lease_owner = :owner, lease_until_us = :until,
            state = CASE WHEN m.state = 'queued' THEN 'sending' ELSE m.state END,
            attempts = CASE WHEN m.state IN ('queued', 'sending') THEN m.attempts + 1
                            ELSE m.attempts END
        FROM (
            SELECT id FROM messages
            WHERE due_us <= :now AND (lease_until_us IS NULL OR lease_until_us < :now)
            ORDER BY due_us
            LIMIT :limit
            FOR UPDATE SKIP LOCKED
        ) AS picked
        WHERE m.id = picked.id
        RETURNING m.*
    """,
    "sqlite": """
        UPDATE messages
        SET lease_owner = :owner, lease_until_us = :until,
            state = CASE WHEN state = 'queued' THEN 'sending' ELSE state END,
            attempts = CASE WHEN state IN ('queued', 'sending') THEN attempts + 1
                            ELSE attempts END
        WHERE id IN (
            SELECT id FROM messages
            WHERE due_us <= :now AND (lease_until_us IS NULL OR lease_until_us < :now)
            ORDER BY due_us
            LIMIT :limit
        )
        RETURNING *
    """,
}

# An event waits while an earlier event of the same message is still pending, so each
# message's events leave in sequence order.
_EVENT_READY = """
    due_us <= :now AND (lease_until_us IS NULL OR lease_until_us < :now)
    AND NOT EXISTS (
        SELECT 1 FROM events AS earlier
        WHERE earlier.message_id = e.message_id
          AND earlier.sequence < e.sequence
          AND earlier.state = 'pending'
    )
"""
_CLAIM_EVENTS = {
    "postgresql": f"""
        UPDATE events AS ev
        SET lease_owner = :owner, lease_until_us = :until, attempts = ev.attempts + 1
        FROM (
            SELECT e.id FROM events AS e
            WHERE {_EVENT_READY}
            ORDER BY e.due_us
            LIMIT :limit
            FOR UPDATE OF e SKIP LOCKED
        ) AS picked
        WHERE ev.id = picked.id
        RETURNING ev.*
    """,
    "sqlite": f"""
        UPDATE events
        SET lease_owner = :owner, lease_until_us = :until, attempts = attempts + 1
        WHERE id IN (
            SELECT e.id FROM events AS e
            WHERE {_EVENT_READY}
            ORDER BY e.due_us
            LIMIT :limit
        )
        RETURNING *
    """,
}

# Reserve the next send slot of a rate-limited number; answers the end of the slot.
_RESERVE_SLOT = {
    "postgresql": """
        INSERT INTO sender_slots (number, next_us)
        VALUES (:number, CAST(:now AS BIGINT) + CAST(:interval AS BIGINT))
        ON CONFLICT (number) DO UPDATE
        SET next_us = GREATEST(sender_slots.next_us, CAST(:now AS BIGINT))
                      + CAST(:interval AS BIGINT)
        RETURNING next_us
    """,
    "sqlite": """
        INSERT INTO sender_slots (number, next_us) VALUES (:number, :now + :interval)
        ON CONFLICT (number) DO UPDATE
        SET next_us = max(sender_slots.next_us, :now) + :interval
        RETURNING next_us
    """,
}


class DeliveryStore:
    """The engine's view of the store: claiming, fencing, the outbox and its attempts."""

    def __init__(self, store: Store):
        self.store = store
        self._dialect = store.dialect

    # -- messages ----------------------------------------------------------------------

    async def claim_messages(self, owner: str, limit: int, now: int, lease_us: int) -> list[Row]:
        if self._dialect == "sqlite" and not await self._anything_due(t.messages, now):
            return []
        params = {"owner": owner, "until": now + lease_us, "now": now, "limit": limit}
        async with self.store.write() as conn:
            result = await conn.execute(text(_CLAIM_MESSAGES[self._dialect]), params)
            return [dict(row) for row in result.mappings()]

    async def next_message_due(self) -> int | None:
        """The earliest ``due_us`` of any message (leased ones included; a hint only)."""
        async with self.store.read() as conn:
            value = await conn.scalar(select(func.min(t.messages.c.due_us)))
        return None if value is None else int(value)

    async def extend_message_leases(self, owner: str, ids: Sequence[str], until: int) -> int:
        """Renew the leases ``owner`` holds on ``ids`` (the items it is working on)."""
        return await self._extend(t.messages, owner, ids, until)

    async def _extend(self, table: Any, owner: str, ids: Sequence[str], until: int) -> int:
        if not ids:
            return 0
        async with self.store.write() as conn:
            result = await conn.execute(
                update(table)
                .where(table.c.lease_owner == owner, table.c.id.in_(list(ids)))
                .values(lease_until_us=until)
            )
            return int(result.rowcount)

    async def _anything_due(self, table: Any, now: int) -> bool:
        """A read-only look, so an idle SQLite worker never takes the write lock."""
        c = table.c
        query = (
            select(c.id)
            .where(c.due_us <= now, or_(c.lease_until_us.is_(None), c.lease_until_us < now))
            .limit(1)
        )
        async with self.store.read() as conn:
            return (await conn.scalar(query)) is not None

    async def reserve_slot(self, number: str, now: int, interval_us: int) -> int:
        """The start of the send slot reserved for one message from ``number``."""
        params = {"number": number, "now": now, "interval": interval_us}
        async with self.store.write() as conn:
            end = await conn.scalar(text(_RESERVE_SLOT[self._dialect]), params)
        return int(end) - interval_us

    @staticmethod
    async def update_leased_message(
        conn: AsyncConnection, message_id: str, owner: str, values: Mapping[str, Any]
    ) -> bool:
        """Change a message this worker still holds, releasing the lease; False if lost."""
        c = t.messages.c
        result = await conn.execute(
            update(t.messages)
            .where(c.id == message_id, c.lease_owner == owner)
            .values(lease_owner=None, lease_until_us=None, **values)
        )
        return bool(result.rowcount)

    @staticmethod
    async def lock_message(conn: AsyncConnection, message_id: str) -> Row | None:
        """The message row, locked for this transaction (PostgreSQL ``FOR UPDATE``)."""
        query = select(t.messages).where(t.messages.c.id == message_id).with_for_update()
        return _first(await conn.execute(query))

    @staticmethod
    async def update_message(
        conn: AsyncConnection, message_id: str, values: Mapping[str, Any]
    ) -> None:
        await conn.execute(update(t.messages).where(t.messages.c.id == message_id).values(**values))

    def _insert_ignoring_conflicts(self, table: Any) -> Any:
        dialect_insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        return dialect_insert(table).on_conflict_do_nothing()

    async def insert_message_once(self, conn: AsyncConnection, row: Mapping[str, Any]) -> bool:
        """Insert a message unless one with its id exists; True if inserted."""
        result = await conn.execute(
            self._insert_ignoring_conflicts(t.messages).values(**row).returning(t.messages.c.id)
        )
        return result.first() is not None

    # -- routing lookups ---------------------------------------------------------------

    @staticmethod
    async def enabled_number(conn: AsyncConnection, number: str) -> Row | None:
        query = select(t.phone_numbers).where(
            t.phone_numbers.c.number == number, t.phone_numbers.c.number_state == "enabled"
        )
        return _first(await conn.execute(query))

    @staticmethod
    async def application(conn: AsyncConnection, user_id: str, app_id: str) -> Row | None:
        query = select(t.applications).where(
            t.applications.c.user_id == user_id, t.applications.c.id == app_id
        )
        return _first(await conn.execute(query))

    async def callback_secrets(self, user_ids: Sequence[str]) -> dict[str, str | None]:
        if not user_ids:
            return {}
        query = select(t.users.c.id, t.users.c.callback_secret).where(
            t.users.c.id.in_(sorted(set(user_ids)))
        )
        async with self.store.read() as conn:
            return {row.id: row.callback_secret for row in await conn.execute(query)}

    # -- user errors -------------------------------------------------------------------

    @staticmethod
    async def add_user_error(
        conn: AsyncConnection,
        user_id: str,
        now: int,
        category: str,
        code: str,
        message: str,
        details: Mapping[str, str],
    ) -> None:
        """Store.add_user_error, inside the caller's transaction."""
        await conn.execute(
            insert(t.user_errors).values(
                id=new_id("ue"),
                user_id=user_id,
                time_us=now,
                category=category,
                code=code,
                message=message,
                details=json.dumps(dict(details)),
            )
        )

    # -- the outbox --------------------------------------------------------------------

    @staticmethod
    async def add_event(conn: AsyncConnection, values: Mapping[str, Any]) -> str:
        """Append an event to its message's sequence; the caller holds the message row."""
        c = t.events.c
        last = await conn.scalar(
            select(func.max(c.sequence)).where(c.message_id == values["message_id"])
        )
        event_id = new_id("ev")
        await conn.execute(
            insert(t.events).values(
                id=event_id, sequence=int(last or 0) + 1, state="pending", attempts=0, **values
            )
        )
        return event_id

    async def claim_events(self, owner: str, limit: int, now: int, lease_us: int) -> list[Row]:
        if self._dialect == "sqlite" and not await self._anything_due(t.events, now):
            return []
        params = {"owner": owner, "until": now + lease_us, "now": now, "limit": limit}
        async with self.store.write() as conn:
            result = await conn.execute(text(_CLAIM_EVENTS[self._dialect]), params)
            return [dict(row) for row in result.mappings()]

    async def next_event_due(self) -> int | None:
        async with self.store.read() as conn:
            value = await conn.scalar(select(func.min(t.events.c.due_us)))
        return None if value is None else int(value)

    async def extend_event_leases(self, owner: str, ids: Sequence[str], until: int) -> int:
        return await self._extend(t.events, owner, ids, until)

    @staticmethod
    async def add_attempts(conn: AsyncConnection, attempts: Sequence[Mapping[str, Any]]) -> None:
        if attempts:
            rows = [{"id": new_id("ea"), **attempt} for attempt in attempts]
            await conn.execute(insert(t.event_attempts), rows)

    @staticmethod
    async def update_leased_event(
        conn: AsyncConnection, event_id: str, owner: str, values: Mapping[str, Any]
    ) -> bool:
        c = t.events.c
        result = await conn.execute(
            update(t.events)
            .where(c.id == event_id, c.lease_owner == owner)
            .values(lease_owner=None, lease_until_us=None, **values)
        )
        return bool(result.rowcount)

    async def message_events(self, message_id: str) -> tuple[list[Row], list[Row]]:
        """A message's events in sequence order, and all their attempts in time order."""
        events = select(t.events).where(t.events.c.message_id == message_id)
        attempts = (
            select(t.event_attempts)
            .where(
                t.event_attempts.c.event_id.in_(
                    select(t.events.c.id).where(t.events.c.message_id == message_id)
                )
            )
            .order_by(t.event_attempts.c.time_us, t.event_attempts.c.id)
        )
        async with self.store.read() as conn:
            ordered = events.order_by(t.events.c.sequence)
            event_rows: list[Row] = [dict(row) for row in (await conn.execute(ordered)).mappings()]
            attempt_rows: list[Row] = [
                dict(row) for row in (await conn.execute(attempts)).mappings()
            ]
        return event_rows, attempt_rows

    async def pending_work(self) -> tuple[int, int]:
        """How many messages and events still have something due (for tests and tools)."""
        async with self.store.read() as conn:
            messages = await conn.scalar(
                select(func.count()).select_from(t.messages).where(t.messages.c.due_us.is_not(None))
            )
            events = await conn.scalar(
                select(func.count()).select_from(t.events).where(t.events.c.due_us.is_not(None))
            )
        return int(messages or 0), int(events or 0)
