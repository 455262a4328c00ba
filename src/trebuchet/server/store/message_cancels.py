"""Cancelling a message before it reaches a carrier, race-safe against the engine's claim.

The message row is locked (``FOR UPDATE``; on SQLite the write transaction already
excludes the claim), and only a message still ``queued`` or ``scheduled`` with no live
lease becomes ``canceled``: a claim that took it first left it ``sending`` under a lease,
and a claim that comes after finds no ``due_us``.  The callback events the engine makes of
the cancelled row are added in the same transaction.  Synchronous, on a blocking
``Connection``: :class:`~trebuchet.server.store.delivery.DeliveryStore` runs it through
:meth:`Store.transact`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from trebuchet.server.domain.states import CANCELABLE, MessageState
from trebuchet.server.store import tables as t
from trebuchet.server.store.events import add_events
from trebuchet.server.store.notifications import FEED, notify

Row = Mapping[str, Any]


class CancelOutcome(StrEnum):
    CANCELED = "canceled"  # cancelled by this call
    ALREADY = "already"  # cancelled before: nothing changed
    TOO_LATE = "too-late"  # being sent, sent, failed, or inbound: not cancelled
    NOT_FOUND = "not-found"  # no such message of this user


@dataclass(frozen=True)
class Cancel:
    outcome: CancelOutcome
    # The message's row as it is after the call (None when not found).
    row: Row | None


def cancel_message(
    conn: Connection,
    user_id: str,
    message_id: str,
    now: int,
    events_for: Callable[[Row], Sequence[Mapping[str, Any]]],
) -> Cancel:
    """Cancel ``message_id`` of ``user_id`` if it has not reached a carrier; ``events_for``
    makes the callback events of the cancelled row."""
    c = t.messages.c
    query = select(t.messages).where(c.id == message_id, c.user_id == user_id).with_for_update()
    found = conn.execute(query).mappings().first()
    if found is None:
        return Cancel(CancelOutcome.NOT_FOUND, None)
    row = dict(found)
    if row["state"] == MessageState.CANCELED:
        return Cancel(CancelOutcome.ALREADY, row)
    leased = row["lease_owner"] is not None and (row["lease_until_us"] or 0) >= now
    if row["state"] not in CANCELABLE or leased:
        return Cancel(CancelOutcome.TOO_LATE, row)
    values = {
        "state": MessageState.CANCELED, "due_us": None, "slot_us": None,
        "lease_owner": None, "lease_until_us": None,
    }  # fmt: skip
    changed = conn.execute(
        update(t.messages).where(c.id == message_id, c.state.in_(CANCELABLE)).values(**values)
    ).rowcount
    if changed != 1:  # cannot happen under the lock; refuse rather than guess
        return Cancel(CancelOutcome.TOO_LATE, row)
    row.update(values)
    add_events(conn, events_for(row))
    notify(conn, FEED)
    return Cancel(CancelOutcome.CANCELED, row)
