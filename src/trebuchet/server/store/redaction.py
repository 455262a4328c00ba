"""Redaction: a message's text leaves every place it is stored, in one transaction.

The text is in the message row, in the payload of each of its callback events (pending
ones would still carry it to a receiver), and in the copies the sandbox carrier stored of
it (inbound messages whose ``origin_id`` is the message), with their own events.  Delivery
attempts keep URLs, statuses and errors, never a body.

Work in flight when the text is redacted is written after it: a send worker that claimed
the message builds its events from the row as it was, and the sandbox stores its copy with
the text it was handed.  Both writes therefore look at the stored text as they commit, with
the row locked: a message whose text is now empty gets events without text
(:func:`scrub_events`), and a copy of it is stored without text (:func:`redacted_among`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from trebuchet.server.store import tables as t
from trebuchet.server.store.bulk import update_rows


def redact(conn: Connection, user_id: str, message_id: str) -> bool:
    """Empty the text of ``user_id``'s message and of every stored copy; False if unknown.

    The message row is written first: on PostgreSQL that waits for a worker holding it, so
    the events and copies that worker adds are there to be scrubbed next.
    """
    c = t.messages.c
    changed = conn.execute(
        update(t.messages).where(c.user_id == user_id, c.id == message_id).values(text="")
    )
    if not changed.rowcount:
        return False
    scrub_copies_and_events(conn, [message_id])
    return True


def scrub_messages(conn: Connection, message_ids: Sequence[str]) -> None:
    """Empty the text of ``message_ids`` wherever it is stored: the rows, their copies and
    the payloads of all their events (retention's scrub, the same as a redaction's)."""
    if not message_ids:
        return
    c = t.messages.c
    conn.execute(update(t.messages).where(c.id.in_(message_ids)).values(text=""))
    scrub_copies_and_events(conn, message_ids)


def scrub_copies_and_events(conn: Connection, message_ids: Sequence[str]) -> None:
    """With the rows of ``message_ids`` already emptied: empty their copies, then take the
    text out of the events of both."""
    c = t.messages.c
    copies = conn.execute(
        update(t.messages).where(c.origin_id.in_(message_ids)).values(text="").returning(c.id)
    ).scalars()
    e = t.events.c
    events = conn.execute(
        select(e.id, e.payload).where(e.message_id.in_([*message_ids, *copies]))
    ).all()
    scrubbed = []
    for row in events:
        payload = scrub_payload(row.payload)
        if payload != row.payload:
            scrubbed.append({"id": row.id, "payload": payload})
    update_rows(conn, t.events, "id", scrubbed)


def scrub_payload(payload: str) -> str:
    """An event payload (compact JSON, as the outbox writes it) without the message text."""
    body = json.loads(payload)
    if not body.get("text"):
        return payload
    body["text"] = ""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def scrub_events(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Outbox rows about to be written for a redacted message, without its text."""
    return [{**event, "payload": scrub_payload(event["payload"])} for event in events]


def redacted_among(conn: Connection, message_ids: Sequence[str]) -> set[str]:
    """Which of ``message_ids`` have no text now, their rows locked until the commit (so a
    redaction cannot slip in between this look and the write that depends on it)."""
    if not message_ids:
        return set()
    c = t.messages.c
    query = select(c.id, c.text).where(c.id.in_(sorted(set(message_ids)))).with_for_update()
    return {row.id for row in conn.execute(query) if row.text == ""}
