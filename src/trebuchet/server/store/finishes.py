"""Finishing leased work: a worker's last write to each item, fenced on its lease.

Workers claim many rows per statement (:mod:`.claims`) and finish them in batches: each
item's outcome is a :class:`Finish`, and the finishes that come in while one batch is
written are applied together by :func:`finish_leased`, in one transaction on a blocking
``Connection`` (on SQLite, on the store's writer thread).  Every write is fenced on
``lease_owner``: a worker that lost its lease cannot overwrite what the new owner does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, func, null, select
from sqlalchemy.engine import Connection

from trebuchet.server.store import tables as t
from trebuchet.server.store.bulk import update_rows
from trebuchet.server.store.events import add_attempts, add_events
from trebuchet.server.store.notifications import FEED, notify
from trebuchet.server.store.redaction import scrub_events
from trebuchet.server.store.user_errors import add_user_errors


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
    released = {"lease_owner": None, "lease_until_us": None, "claims": 0}
    update_rows(conn, table, "id", [{"id": f.id, **released, **f.values} for f in done])
    new_events = [
        event
        for finish in done
        for event in (scrub_events(finish.events) if finish.id in redacted else finish.events)
    ]
    add_events(conn, new_events, last)
    add_attempts(conn, [attempt for finish in done for attempt in finish.attempts])
    add_user_errors(conn, [error for finish in done for error in finish.user_errors])
    if messages and done:
        notify(conn, FEED)
    return applied
