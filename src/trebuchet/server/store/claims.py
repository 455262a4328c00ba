"""Claiming due work, renewing leases and reserving send slots: the named statements.

Work items (messages to send, events to deliver) are rows with a ``due_us``; a worker
claims due rows by writing its name and a lease deadline into them in one statement:

* PostgreSQL: ``UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED)`` so concurrent
  workers never wait on, or take, each other's rows;
* SQLite: the same ``UPDATE ... RETURNING`` inside a ``BEGIN IMMEDIATE`` transaction, which
  serialises writers.

Events are claimed fairly: callbacks in flight are capped per destination (the receiver's
``host:port``) and per user, counted over every worker's live leases, so one slow receiver
or one busy user never takes every slot (:data:`CLAIM_EVENTS`).

A row whose lease has run out (its worker died) is due again and is claimed by someone
else.  Every claim adds one to the row's ``claims`` and every finish sets it back to 0, so
a row that keeps killing the processes that take it is seen and parked
(:meth:`~trebuchet.server.store.leases.LeasedQueue.claim`).  ``due_us`` is NULL once
nothing is left to do, which keeps the partial indexes small.

The functions here are synchronous, on a blocking ``Connection``: :class:`DeliveryStore`
runs them through :meth:`Store.claim` and :meth:`Store.transact`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Table, TextClause, func, or_, select, text, update
from sqlalchemy.engine import Connection

from trebuchet.server.domain.states import EventState, MessageState

Row = Mapping[str, Any]

# States as SQL literals, for the statements below (compiled once, from the enums).
# Waiting to be sent: queued now, or scheduled for a time that has come (``due_us``).
_WAITING = f"'{MessageState.QUEUED.value}', '{MessageState.SCHEDULED.value}'"
_SENDING = f"'{MessageState.SENDING.value}'"
_PENDING = f"'{EventState.PENDING.value}'"

# Engine columns are shown here and nowhere else.
CLAIM_MESSAGES = {
    "postgresql": f"""
        UPDATE messages AS m
        SET lease_owner = :owner, lease_until_us = :until, claims = m.claims + 1,
            state = CASE WHEN m.state IN ({_WAITING}) THEN {_SENDING} ELSE m.state END,
            attempts = CASE WHEN m.state IN ({_WAITING}, {_SENDING}) THEN m.attempts + 1
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
        SET lease_owner = :owner, lease_until_us = :until, claims = claims + 1,
            state = CASE WHEN state IN ({_WAITING}) THEN {_SENDING} ELSE state END,
            attempts = CASE WHEN state IN ({_WAITING}, {_SENDING}) THEN attempts + 1
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

# An event waits while an earlier event of the same message is still pending and has
# started fewer than ``:hold`` delivery rounds, so each message's events leave in sequence
# order unless an earlier one keeps failing (docs/callbacks.md).  A hold of 0 holds
# nothing.  The test stays inside an ``OR`` so PostgreSQL probes ``ix_events_message`` for
# each event as it reads the window, rather than turning it into a join over every ready
# event (which it plans for small tables, and then sorts them all).
_EVENT_READY = f"""
    due_us <= :now AND (lease_until_us IS NULL OR lease_until_us < :now)
    AND (:hold <= 0 OR NOT EXISTS (
        SELECT 1 FROM events AS earlier
        WHERE earlier.message_id = e.message_id
          AND earlier.sequence < e.sequence
          AND earlier.state = {_PENDING}
          AND earlier.attempts < :hold
    ))
"""
# Fair claiming.  A destination or a user with as many live leases as its cap is skipped.
# Of the first ``window`` ready events of the others, oldest first, an event is taken while
# its rank within its destination plus that destination's live leases stays within the
# destination cap, and then (among those) the same holds for its user.  The oldest of them
# always fits, so a claim makes progress whenever anything may go.  Workers claiming at
# the same moment do not see each other's new leases, so on PostgreSQL a cap can be passed
# by at most one claim per worker; SQLite claims one at a time.  On PostgreSQL only the
# picked events are locked (``FOR UPDATE SKIP LOCKED``, their lease checked again on the
# latest row), not the whole window: a row lock is a write to the row, so locking a
# window of 400 to take one event wrote ~37 times the WAL of the claim itself.  The
# window is ``MATERIALIZED`` so PostgreSQL reads it from the index as written rather
# than folding it into the statement (it may then plan a scan of every ready event).
#
# Cost: the live leases are few (``ix_events_lease``: a lease is released when its event
# is finished), so the busy counts and the lists of full destinations and users are
# small and computed once.  The window is then read in ``due_us`` order from the partial
# index ``ix_events_due`` and stops after ``window`` rows: each row is checked against
# those lists and the hold rule (``ix_events_message``) as it is read, never joined, so
# neither store reads or sorts every ready event first.  What a claim reads beyond the
# window is the ready events it skips: those of full destinations and users, and held
# ones: a full receiver's long backlog ahead of the others is read past on every claim.
# The lists are compared with ``NOT IN`` (a hashed list on PostgreSQL), so they hold no
# NULL: an event without a destination is never skipped for one.
_LIVE = "lease_owner IS NOT NULL AND lease_until_us >= :now"
_FAIR_EVENTS = f"""
    busy_destinations AS (
        SELECT destination, count(*) AS n FROM events WHERE {_LIVE} GROUP BY destination
    ),
    busy_users AS (
        SELECT user_id, count(*) AS n FROM events WHERE {_LIVE} GROUP BY user_id
    ),
    candidates AS {{materialized}}(
        SELECT e.id, e.user_id, e.destination, e.due_us FROM events AS e
        WHERE {_EVENT_READY}
          AND (e.destination IS NULL OR e.destination NOT IN (
                  SELECT destination FROM busy_destinations
                  WHERE destination IS NOT NULL AND n >= :per_destination))
          AND e.user_id NOT IN (SELECT user_id FROM busy_users WHERE n >= :per_user)
        ORDER BY e.due_us
        LIMIT :window
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
CLAIM_EVENTS = {
    "postgresql": "WITH"
    + _FAIR_EVENTS.format(materialized="MATERIALIZED ")
    + """
        UPDATE events AS ev
        SET lease_owner = :owner, lease_until_us = :until, attempts = ev.attempts + 1,
            claims = ev.claims + 1
        FROM (
            SELECT id FROM events
            WHERE id IN (SELECT id FROM picked)
              AND due_us <= :now AND (lease_until_us IS NULL OR lease_until_us < :now)
            FOR UPDATE SKIP LOCKED
        ) AS locked
        WHERE ev.id = locked.id
        RETURNING ev.*
    """,
    "sqlite": "WITH"
    + _FAIR_EVENTS.format(materialized="")
    + """
        UPDATE events
        SET lease_owner = :owner, lease_until_us = :until, attempts = attempts + 1,
            claims = claims + 1
        WHERE id IN (SELECT id FROM picked)
        RETURNING *
    """,
}
# Ready events looked at per claim, per event claimed.
WINDOW_PER_CLAIMED = 4

# Reserve the next send slot of a rate-limited number; answers the end of the slot.
RESERVE_SLOT = {
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


@cache
def _text(sql: str) -> TextClause:
    return text(sql)


def any_due(conn: Connection, table: Table, now: int) -> bool:
    """Whether a row of ``table`` is due and not leased (a read-only look)."""
    c = table.c
    due = (
        select(c.id)
        .where(c.due_us <= now, or_(c.lease_until_us.is_(None), c.lease_until_us < now))
        .limit(1)
    )
    return conn.scalar(due) is not None


def next_due(conn: Connection, table: Table, now: int) -> int | None:
    """The earliest ``due_us`` of ``table`` still to come (one probe of its partial
    ``due_us`` index), or None: when the next scheduled or retried item becomes due."""
    due: int | None = conn.scalar(select(func.min(table.c.due_us)).where(table.c.due_us > now))
    return due


def claim_rows(conn: Connection, sql: str, params: Mapping[str, Any]) -> list[Row]:
    """Run one claiming statement (the dialect's text of :data:`CLAIM_MESSAGES` or
    :data:`CLAIM_EVENTS`); answers the rows it leased."""
    return [dict(row) for row in conn.execute(_text(sql), params).mappings()]


def extend_leases(
    conn: Connection, table: Table, owner: str, ids: Sequence[str], until: int
) -> int:
    """Renew the leases ``owner`` holds on ``ids``; answers how many it still held."""
    statement = (
        update(table)
        .where(table.c.lease_owner == owner, table.c.id.in_(list(ids)))
        .values(lease_until_us=until)
    )
    return int(conn.execute(statement).rowcount)


def reserve_slot(conn: Connection, number: str, now: int, interval_us: int) -> int:
    """Reserve the next send slot of ``number``; answers the end of the slot."""
    params = {"number": number, "now": now, "interval": interval_us}
    return int(conn.scalar(_text(RESERVE_SLOT[conn.dialect.name]), params))
