"""The delivery engine's SQL, every statement named, in one place.

Work items (messages to send, events to deliver) are rows with a ``due_us``; a worker
claims due rows by writing its name and a lease deadline into them in one statement:

* PostgreSQL: ``UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED)`` so concurrent
  workers never wait on, or take, each other's rows;
* SQLite: the same ``UPDATE ... RETURNING`` inside a ``BEGIN IMMEDIATE`` transaction, which
  serialises writers.

Events are claimed fairly: callbacks in flight are capped per destination (the receiver's
``host:port``) and per user, counted over every worker's live leases, so one slow receiver
or one busy user never takes every slot (:data:`_CLAIM_EVENTS`).

A row whose lease has run out (its worker died) is due again and is claimed by someone
else.  Every later write by a worker is fenced on ``lease_owner``: a worker that lost its
lease cannot overwrite what the new owner does.  ``due_us`` is NULL once nothing is left to
do, which keeps the partial indexes small.

Workers claim many rows per statement and finish them in batches: each item's outcome is a
:class:`Finish`, and the finishes that come in while one batch is written are applied
together by :func:`finish_leased`, in one transaction (on SQLite, on the store's writer
thread).  The synchronous functions here take a blocking ``Connection`` for that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, func, null, or_, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from trebuchet.server.domain.ids import new_id
from trebuchet.server.domain.states import NOT_SENT, EventState, MessageState, NumberState
from trebuchet.server.store import tables as t
from trebuchet.server.store.bulk import insert_ignoring_conflicts, insert_rows, update_rows
from trebuchet.server.store.group_commit import Batcher
from trebuchet.server.store.redaction import scrub_events
from trebuchet.server.store.store import Store

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Finish:
    """A worker's last write to an item it leased, applied only while the lease holds.

    ``values`` are the row's new columns (the lease is released with them); the other
    fields are rows the outcome adds: outbox events (for a message), delivery attempts
    (for an event) and user errors.
    """

    id: str
    owner: str
    values: Mapping[str, Any]
    events: Sequence[Mapping[str, Any]] = ()
    attempts: Sequence[Mapping[str, Any]] = ()
    user_errors: Sequence[Mapping[str, Any]] = ()


# States as SQL literals, for the statements below (compiled once, from the enums).
_QUEUED = f"'{MessageState.QUEUED.value}'"
_SENDING = f"'{MessageState.SENDING.value}'"
_PENDING = f"'{EventState.PENDING.value}'"

# Engine columns are shown here and nowhere else.
_CLAIM_MESSAGES = {
    "postgresql": f"""
        UPDATE messages AS m
        SET lease_owner = :owner, lease_until_us = :until,
            state = CASE WHEN m.state = {_QUEUED} THEN {_SENDING} ELSE m.state END,
            attempts = CASE WHEN m.state IN ({_QUEUED}, {_SENDING}) THEN m.attempts + 1
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
    "sqlite": f"""
        UPDATE messages
        SET lease_owner = :owner, lease_until_us = :until,
            state = CASE WHEN state = {_QUEUED} THEN {_SENDING} ELSE state END,
            attempts = CASE WHEN state IN ({_QUEUED}, {_SENDING}) THEN attempts + 1
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
_EVENT_READY = f"""
    due_us <= :now AND (lease_until_us IS NULL OR lease_until_us < :now)
    AND NOT EXISTS (
        SELECT 1 FROM events AS earlier
        WHERE earlier.message_id = e.message_id
          AND earlier.sequence < e.sequence
          AND earlier.state = {_PENDING}
    )
"""
# Fair claiming.  A destination or a user with as many live leases as its cap is skipped.
# Of the first ``window`` ready events of the others, oldest first, an event is taken while
# its rank within its destination plus that destination's live leases stays within the
# destination cap, and then (among those) the same holds for its user.  The oldest of them
# always fits, so a claim makes progress whenever anything may go.  Workers claiming at
# the same moment do not see each other's new leases, so on PostgreSQL a cap can be passed
# by at most one claim per worker; SQLite claims one at a time.
_LIVE = "lease_owner IS NOT NULL AND lease_until_us >= :now"
_FAIR_EVENTS = f"""
    busy_destinations AS (
        SELECT destination, count(*) AS n FROM events WHERE {_LIVE} GROUP BY destination
    ),
    busy_users AS (
        SELECT user_id, count(*) AS n FROM events WHERE {_LIVE} GROUP BY user_id
    ),
    candidates AS (
        SELECT e.id, e.user_id, e.destination, e.due_us FROM events AS e
        WHERE {_EVENT_READY}
          AND NOT EXISTS (SELECT 1 FROM busy_destinations AS b
                          WHERE b.destination = e.destination AND b.n >= :per_destination)
          AND NOT EXISTS (SELECT 1 FROM busy_users AS b
                          WHERE b.user_id = e.user_id AND b.n >= :per_user)
        ORDER BY e.due_us
        LIMIT :window
        {{lock}}
    ),
    within_destinations AS (
        SELECT c.id, c.user_id, c.due_us,
               row_number() OVER (PARTITION BY c.destination ORDER BY c.due_us, c.id)
                   + COALESCE(bd.n, 0) AS load
        FROM candidates AS c
        LEFT JOIN busy_destinations AS bd ON bd.destination = c.destination
    ),
    within_users AS (
        SELECT d.id, d.due_us,
               row_number() OVER (PARTITION BY d.user_id ORDER BY d.due_us, d.id)
                   + COALESCE(bu.n, 0) AS load
        FROM within_destinations AS d
        LEFT JOIN busy_users AS bu ON bu.user_id = d.user_id
        WHERE d.load <= :per_destination
    ),
    picked AS (
        SELECT id FROM within_users WHERE load <= :per_user ORDER BY due_us LIMIT :limit
    )
"""
_CLAIM_EVENTS = {
    "postgresql": "WITH"
    + _FAIR_EVENTS.format(lock="FOR UPDATE OF e SKIP LOCKED")
    + """
        UPDATE events AS ev
        SET lease_owner = :owner, lease_until_us = :until, attempts = ev.attempts + 1
        FROM picked
        WHERE ev.id = picked.id
        RETURNING ev.*
    """,
    "sqlite": "WITH"
    + _FAIR_EVENTS.format(lock="")
    + """
        UPDATE events
        SET lease_owner = :owner, lease_until_us = :until, attempts = attempts + 1
        WHERE id IN (SELECT id FROM picked)
        RETURNING *
    """,
}
# Ready events looked at per claim, per event claimed.
_WINDOW_PER_CLAIMED = 4

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
        self._message_finishes: Batcher[Finish, bool] = Batcher(self._finish_messages)
        self._event_finishes: Batcher[Finish, bool] = Batcher(self._finish_events)

    # -- messages ----------------------------------------------------------------------

    async def claim_messages(self, owner: str, limit: int, now: int, lease_us: int) -> list[Row]:
        return await self._claim(t.messages, _CLAIM_MESSAGES, owner, limit, now, lease_us)

    async def finish_message(self, finish: Finish) -> bool:
        """Apply ``finish`` to its message in the next batch; False if the lease was lost."""
        return await self._message_finishes.submit(finish)

    async def _finish_messages(self, batch: Sequence[Finish]) -> list[bool]:
        return await self.store.transact(lambda conn: finish_leased(conn, t.messages, batch))

    async def next_message_due(self) -> int | None:
        """The earliest ``due_us`` of any message (leased ones included; a hint only)."""
        async with self.store.read() as conn:
            value = await conn.scalar(select(func.min(t.messages.c.due_us)))
        return None if value is None else int(value)

    async def extend_message_leases(self, owner: str, ids: Sequence[str], until: int) -> int:
        """Renew the leases ``owner`` holds on ``ids`` (the items it is working on)."""
        return await self._extend(t.messages, owner, ids, until)

    async def _claim(
        self,
        table: Table,
        sql: Mapping[str, str],
        owner: str,
        limit: int,
        now: int,
        lease_us: int,
        **extra: int,
    ) -> list[Row]:
        c = table.c
        due = (
            select(c.id)
            .where(c.due_us <= now, or_(c.lease_until_us.is_(None), c.lease_until_us < now))
            .limit(1)
        )
        params = {"owner": owner, "until": now + lease_us, "now": now, "limit": limit, **extra}
        statement = text(sql[self._dialect])

        def claim(conn: Connection) -> list[Row]:
            return [dict(row) for row in conn.execute(statement, params).mappings()]

        return await self.store.claim(lambda conn: conn.scalar(due) is not None, claim)

    async def _extend(self, table: Table, owner: str, ids: Sequence[str], until: int) -> int:
        if not ids:
            return 0
        statement = (
            update(table)
            .where(table.c.lease_owner == owner, table.c.id.in_(list(ids)))
            .values(lease_until_us=until)
        )
        return await self.store.transact(lambda conn: int(conn.execute(statement).rowcount))

    async def reserve_slot(self, number: str, now: int, interval_us: int) -> int:
        """The start of the send slot reserved for one message from ``number``."""
        params = {"number": number, "now": now, "interval": interval_us}
        statement = text(_RESERVE_SLOT[self._dialect])
        end = await self.store.transact(lambda conn: conn.scalar(statement, params))
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
    def lock_message(conn: Connection, message_id: str) -> Row | None:
        """The message row, locked for this transaction (PostgreSQL ``FOR UPDATE``)."""
        query = select(t.messages).where(t.messages.c.id == message_id).with_for_update()
        row = conn.execute(query).mappings().first()
        return None if row is None else dict(row)

    @staticmethod
    def update_message(conn: Connection, message_id: str, values: Mapping[str, Any]) -> None:
        conn.execute(update(t.messages).where(t.messages.c.id == message_id).values(**values))

    @staticmethod
    def insert_messages_once(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> set[str]:
        """Insert each message unless one with its id exists; answers the ids inserted."""
        if not rows:
            return set()
        statement = insert_ignoring_conflicts(conn.dialect.name, t.messages).returning(
            t.messages.c.id
        )
        return set(conn.execute(statement, list(rows)).scalars())

    # -- routing lookups ---------------------------------------------------------------

    @staticmethod
    def enabled_numbers(conn: Connection, numbers: Iterable[str]) -> dict[str, Row]:
        c = t.phone_numbers.c
        query = select(t.phone_numbers).where(
            c.number.in_(sorted(set(numbers))), c.number_state == NumberState.ENABLED
        )
        return {row["number"]: dict(row) for row in conn.execute(query).mappings()}

    @staticmethod
    def applications(conn: Connection, app_ids: Iterable[str]) -> dict[str, Row]:
        wanted = sorted(set(app_ids))
        if not wanted:
            return {}
        query = select(t.applications).where(t.applications.c.id.in_(wanted))
        return {row["id"]: dict(row) for row in conn.execute(query).mappings()}

    async def callback_secrets(self, user_ids: Sequence[str]) -> dict[str, str | None]:
        if not user_ids:
            return {}
        query = select(t.users.c.id, t.users.c.callback_secret).where(
            t.users.c.id.in_(sorted(set(user_ids)))
        )
        async with self.store.read() as conn:
            return {row.id: row.callback_secret for row in await conn.execute(query)}

    # -- user errors, the outbox and its attempts --------------------------------------

    @staticmethod
    def add_user_errors(conn: Connection, errors: Sequence[Mapping[str, Any]]) -> None:
        """Store.add_user_error for many, inside the caller's transaction."""
        if errors:
            insert_rows(conn, t.user_errors, [{"id": new_id("ue"), **e} for e in errors])

    @staticmethod
    def add_events(
        conn: Connection, events: Sequence[Mapping[str, Any]], last: dict[str, int] | None = None
    ) -> None:
        """Append events to their messages' sequences; the caller holds the message rows.

        ``last`` maps message ids to their last sequence when the caller knows them (read
        with the rows, or 0 for messages inserted in this transaction).
        """
        if not events:
            return
        c = t.events.c
        if last is None:
            last = dict(
                conn.execute(
                    select(c.message_id, func.max(c.sequence))
                    .where(c.message_id.in_(sorted({e["message_id"] for e in events})))
                    .group_by(c.message_id)
                ).all()
            )
        rows = []
        for event in events:
            sequence = last.get(event["message_id"], 0) + 1
            last[event["message_id"]] = sequence
            rows.append(
                {"id": new_id("ev"), "sequence": sequence, "state": EventState.PENDING,
                 "attempts": 0, **event}
            )  # fmt: skip
        insert_rows(conn, t.events, rows)

    @staticmethod
    def add_attempts(conn: Connection, attempts: Sequence[Mapping[str, Any]]) -> None:
        if attempts:
            insert_rows(conn, t.event_attempts, [{"id": new_id("ea"), **a} for a in attempts])

    async def claim_events(
        self,
        owner: str,
        limit: int,
        now: int,
        lease_us: int,
        *,
        per_destination: int,
        per_user: int,
    ) -> list[Row]:
        """Lease up to ``limit`` due events, keeping the callbacks in flight (live leases of
        every worker) within ``per_destination`` per receiver and ``per_user`` per user."""
        return await self._claim(
            t.events, _CLAIM_EVENTS, owner, limit, now, lease_us,
            per_destination=per_destination, per_user=per_user,
            window=limit * _WINDOW_PER_CLAIMED,
        )  # fmt: skip

    async def finish_event(self, finish: Finish) -> bool:
        """Apply ``finish`` to its event in the next batch; False if the lease was lost."""
        return await self._event_finishes.submit(finish)

    async def _finish_events(self, batch: Sequence[Finish]) -> list[bool]:
        return await self.store.transact(lambda conn: finish_leased(conn, t.events, batch))

    async def next_event_due(self) -> int | None:
        async with self.store.read() as conn:
            value = await conn.scalar(select(func.min(t.events.c.due_us)))
        return None if value is None else int(value)

    async def extend_event_leases(self, owner: str, ids: Sequence[str], until: int) -> int:
        return await self._extend(t.events, owner, ids, until)

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

    async def queued_messages(self) -> int:
        """Messages waiting to be handed to a carrier (``queued`` or ``sending``)."""
        c = t.messages.c
        query = (
            select(func.count())
            .select_from(t.messages)
            .where(c.due_us.is_not(None), c.state.in_(NOT_SENT))
        )
        async with self.store.read() as conn:
            return int(await conn.scalar(query) or 0)

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


def finish_leased(conn: Connection, table: Table, batch: Sequence[Finish]) -> list[bool]:
    """Apply every finish whose owner still holds the lease; answers which were applied.

    The rows are read ``FOR UPDATE`` first (on SQLite the transaction already excludes
    other writers), so no lease moves between the check and the commit.  Updates go out
    as one ``executemany`` per set of changed columns (:func:`update_rows`).
    """
    c = table.c
    ids = sorted({finish.id for finish in batch})
    # A message's last event sequence comes with its row, for the events added below, and
    # its text as it is now: a message redacted since it was claimed gets events without.
    events = t.events.c
    messages = table is t.messages
    last_event = (
        select(func.max(events.sequence)).where(events.message_id == c.id).scalar_subquery()
        if messages
        else null()
    )
    found = conn.execute(
        select(c.id, c.lease_owner, last_event, c.text if messages else null())
        .where(c.id.in_(ids))
        .order_by(c.id)
        .with_for_update(of=table)
    ).all()
    held: dict[str, str | None] = {row[0]: row[1] for row in found}
    last = {row[0]: row[2] or 0 for row in found}
    redacted = {row[0] for row in found if row[3] == ""}
    applied: list[bool] = []
    for finish in batch:
        applied.append(held.get(finish.id) == finish.owner)
        held[finish.id] = None  # released by this write
    done = [finish for finish, ok in zip(batch, applied, strict=True) if ok]
    released = {"lease_owner": None, "lease_until_us": None}
    update_rows(conn, table, "id", [{"id": f.id, **released, **f.values} for f in done])
    new_events = [
        event
        for finish in done
        for event in (scrub_events(finish.events) if finish.id in redacted else finish.events)
    ]
    DeliveryStore.add_events(conn, new_events, last)
    DeliveryStore.add_attempts(conn, [attempt for finish in done for attempt in finish.attempts])
    DeliveryStore.add_user_errors(conn, [error for finish in done for error in finish.user_errors])
    return applied
