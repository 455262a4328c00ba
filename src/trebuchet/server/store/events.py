"""The outbox's rows: callback events in each message's sequence, and their attempts.

Synchronous functions that add rows inside the caller's transaction, on a blocking
``Connection`` (finishes, pushed receipts and arrivals write them with what caused them;
see :mod:`.delivery`).  A message's events and attempts are read back by
``store.messages.events``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from trebuchet.server.domain.ids import new_id
from trebuchet.server.domain.states import EventState
from trebuchet.server.store import tables as t
from trebuchet.server.store.bulk import insert_rows
from trebuchet.server.store.notifications import EVENTS, notify


def add_events(
    conn: Connection, events: Sequence[Mapping[str, Any]], last: dict[str, int] | None = None
) -> None:
    """Append events to their messages' sequences; the caller holds the message rows.

    ``last`` maps message ids to their last sequence when the caller knows them (read
    with the rows, or 0 for messages inserted in this transaction).  The callback
    workers are notified (``notifications.py``) when the transaction commits.
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
    notify(conn, EVENTS)  # the callback workers of every process look at once


def add_attempts(conn: Connection, attempts: Sequence[Mapping[str, Any]]) -> None:
    if attempts:
        insert_rows(conn, t.event_attempts, [{"id": new_id("ea"), **a} for a in attempts])
