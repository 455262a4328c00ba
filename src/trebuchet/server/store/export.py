"""Reading a user's whole history in constant memory, for exports.

:func:`message_pages` walks the user's messages by keyset on ``(time_us, id)`` through
the same page query as ``GET /messages`` (:meth:`Messages.list`), one page at a time and
only when the consumer asks for the next, so an export of any size holds one page.
:func:`events_of` reads the events and attempts of a page of messages in two queries;
:func:`count_messages` says how many there will be (for a progress bar).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from trebuchet.server.store import tables as t
from trebuchet.server.store.messages import MESSAGE_COLUMN_NAMES
from trebuchet.server.store.records import MessageFilter

if TYPE_CHECKING:
    from trebuchet.server.store.store import Store

Row = Mapping[str, Any]
_ID, _TIME = MESSAGE_COLUMN_NAMES.index("id"), MESSAGE_COLUMN_NAMES.index("time_us")


async def message_pages(
    store: Store, user_id: str, where: MessageFilter, *, page_size: int
) -> AsyncIterator[Sequence[Sequence[Any]]]:
    """The user's messages matching ``where``, oldest first, a page at a time (rows in
    ``MESSAGE_COLUMNS`` order); the next page is read only when asked for."""
    after: tuple[int, str] | None = None
    while True:
        page = await store.messages.list(
            user_id, where, descending=False, after=after, limit=page_size
        )
        if page:
            yield page
        if len(page) < page_size:
            return
        after = (page[-1][_TIME], page[-1][_ID])


async def events_of(store: Store, message_ids: Sequence[str]) -> tuple[list[Row], list[Row]]:
    """The events of these messages in (message, sequence) order, and their attempts in
    time order."""
    if not message_ids:
        return [], []
    e, a = t.events.c, t.event_attempts.c
    events = (
        select(t.events).where(e.message_id.in_(message_ids)).order_by(e.message_id, e.sequence)
    )
    attempts = (
        select(t.event_attempts)
        .where(a.event_id.in_(select(e.id).where(e.message_id.in_(message_ids))))
        .order_by(a.time_us, a.id)
    )
    async with store.read() as conn:
        event_rows: list[Row] = [dict(row) for row in (await conn.execute(events)).mappings()]
        attempt_rows: list[Row] = [dict(row) for row in (await conn.execute(attempts)).mappings()]
    return event_rows, attempt_rows


async def count_messages(store: Store, user_id: str, where: MessageFilter) -> int:
    """How many of the user's messages match ``where``."""
    c = t.messages.c
    conditions = [c.user_id == user_id]
    for column, value in (
        (c.from_number, where.from_number),
        (c.to_number, where.to_number),
        (c.direction, where.direction),
        (c.state, where.state),
        (c.delivery_state, where.delivery_state),
    ):
        if value is not None:
            conditions.append(column == value)
    if where.from_us is not None:
        conditions.append(c.time_us >= where.from_us)
    if where.to_us is not None:
        conditions.append(c.time_us <= where.to_us)
    async with store.read() as conn:
        return int(await conn.scalar(select(func.count()).where(*conditions)) or 0)
