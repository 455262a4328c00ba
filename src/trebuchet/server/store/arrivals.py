"""What reaches a message from outside: inbound arrivals and pushed receipts.

Both are decided by the engine (who a message is for, which events it causes) from rows
the store reads in the same transaction, and written with what they cause in that
transaction.  The functions here are synchronous, on a blocking ``Connection``, and take
the engine's decision as a plain function of the rows; :class:`DeliveryStore` runs them
through :meth:`Store.transact` (on SQLite, on the writer thread).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from trebuchet.server.domain.states import NumberState
from trebuchet.server.store import tables as t
from trebuchet.server.store.bulk import insert_ignoring_conflicts
from trebuchet.server.store.events import add_events
from trebuchet.server.store.messaging_settings import NumberSettings, UserSettings, settings_for
from trebuchet.server.store.notifications import FEED, MESSAGES, notify
from trebuchet.server.store.opt_outs import OptOutChange, apply_keyword
from trebuchet.server.store.redaction import redacted_among
from trebuchet.server.store.user_errors import add_user_errors

Row = Mapping[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class Change:
    """What a receipt changes on a message: its new columns, and the events it queues."""

    values: Mapping[str, Any]
    events: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True)
class Recipients:
    """What the store knows of a batch of arrivals, read in their transaction: the enabled
    numbers they are for (by number), those numbers' applications (by id), and which of
    the messages they copy were redacted since (sandbox copies, by ``origin_id``)."""

    numbers: Mapping[str, Row]
    applications: Mapping[str, Row]
    redacted: set[str]
    # The numbers' owners' messaging settings (by user id) and the numbers' own.
    user_settings: Mapping[str, UserSettings] = field(default_factory=dict)
    number_settings: Mapping[str, NumberSettings] = field(default_factory=dict)


@dataclass(frozen=True)
class NewMessage:
    """A message row to store once (by its id), with the events or user errors it
    causes, the opt-out change it asks for and the auto-replies (outbound message rows)
    answering it, written only when the row is new."""

    row: Mapping[str, Any]
    events: Sequence[Mapping[str, Any]] = ()
    user_errors: Sequence[Mapping[str, Any]] = ()
    opt_outs: Sequence[OptOutChange] = ()
    replies: Sequence[Mapping[str, Any]] = ()


def change_message(
    conn: Connection, message_id: str, decide: Callable[[Row], Change | None]
) -> bool:
    """Lock the message row and write what ``decide`` makes of it; False when the message
    is unknown or ``decide`` answers None."""
    query = select(t.messages).where(t.messages.c.id == message_id).with_for_update()
    found = conn.execute(query).mappings().first()
    change = None if found is None else decide(dict(found))
    if change is None:
        return False
    conn.execute(update(t.messages).where(t.messages.c.id == message_id).values(**change.values))
    add_events(conn, change.events)
    notify(conn, FEED)
    return True


def receive(
    conn: Connection,
    to_numbers: Iterable[str],
    origin_ids: Sequence[str],
    plan: Callable[[Recipients], tuple[T, Sequence[NewMessage]]],
) -> T:
    """Read the arrivals' :class:`Recipients`, store the messages ``plan`` makes of them
    (each once) with what they cause; answers what ``plan`` answered besides."""
    # Copies of messages redacted since they were sent are stored without their text;
    # the originals stay locked until the commit.
    redacted = redacted_among(conn, origin_ids)
    numbers = _enabled_numbers(conn, to_numbers)
    apps = _applications(conn, {n["application_id"] for n in numbers.values()} - {None})
    users, own = settings_for(conn, numbers.values())
    answer, new = plan(Recipients(numbers, apps, redacted, users, own))
    inserted = _insert_once(conn, [message.row for message in new])
    fresh = [message for message in new if message.row["id"] in inserted]
    no_events_yet = {message.row["id"]: 0 for message in fresh}
    add_events(conn, [event for message in fresh for event in message.events], no_events_yet)
    add_user_errors(conn, [error for message in fresh for error in message.user_errors])
    apply_keyword(conn, [change for message in fresh for change in message.opt_outs])
    _insert_once(conn, [reply for message in fresh for reply in message.replies])
    if fresh:
        notify(conn, FEED)
    if any(message.replies for message in fresh):
        notify(conn, MESSAGES)  # auto-replies are queued messages for the send workers
    return answer


def _enabled_numbers(conn: Connection, numbers: Iterable[str]) -> dict[str, Row]:
    c = t.phone_numbers.c
    query = select(t.phone_numbers).where(
        c.number.in_(sorted(set(numbers))), c.number_state == NumberState.ENABLED
    )
    return {row["number"]: dict(row) for row in conn.execute(query).mappings()}


def _applications(conn: Connection, app_ids: Iterable[str]) -> dict[str, Row]:
    wanted = sorted(set(app_ids))
    if not wanted:
        return {}
    query = select(t.applications).where(t.applications.c.id.in_(wanted))
    return {row["id"]: dict(row) for row in conn.execute(query).mappings()}


def _insert_once(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Insert each message unless one with its id exists; answers the ids inserted.

    Rows leave out the columns at their defaults (``message_rows``), so a batch can hold
    several shapes (a keyword, a sandbox copy); each shape is inserted on its own, as one
    statement takes its columns from its first row."""
    shapes: dict[frozenset[str], list[Mapping[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(frozenset(row), []).append(row)
    statement = insert_ignoring_conflicts(conn.dialect.name, t.messages).returning(t.messages.c.id)
    inserted: set[str] = set()
    for same in shapes.values():
        inserted.update(conn.execute(statement, same).scalars())
    return inserted
