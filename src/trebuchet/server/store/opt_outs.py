"""The opt-out list: who asked not to receive a user's messages, from one number or
from all of them (``number`` is :data:`ALL_NUMBERS`).

Three ways in: the API (add, remove, read, list with keyset paging, also what
``trebuchet export`` reads), inbound keywords (:func:`apply_keyword`, in the arrival's
transaction) and the send worker's claim (:func:`opted_out_among`, in the claim's
transaction, so a STOP committed before a claim stops every send claimed after it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, exists, or_, select, tuple_
from sqlalchemy.engine import Connection

from trebuchet.server.domain.ids import new_id
from trebuchet.server.domain.keywords import OptOutHandling
from trebuchet.server.domain.states import Direction, MessageState
from trebuchet.server.store import tables as t
from trebuchet.server.store.bulk import insert_ignoring_conflicts

if TYPE_CHECKING:
    from trebuchet.server.store.store import Store

Row = Mapping[str, Any]
# ``number`` of an opt-out from every number of the user.
ALL_NUMBERS = ""
# How an opt-out came to be.
SOURCE_KEYWORD = "keyword"
SOURCE_API = "api"


@dataclass(frozen=True)
class OptOutFilter:
    number: str | None = None  # ALL_NUMBERS for the user-wide ones only
    recipient: str | None = None


@dataclass(frozen=True)
class OptOutChange:
    """What an inbound keyword does to the list: ``add`` puts ``recipient`` on it for
    ``number`` (ALL_NUMBERS: every number); otherwise the recipient's entries for
    ``numbers`` go (all of the user's entries for the recipient when it is empty)."""

    user_id: str
    recipient: str
    add: bool
    number: str = ALL_NUMBERS
    numbers: tuple[str, ...] = ()
    now_us: int = 0


class OptOuts:
    def __init__(self, store: Store):
        self._store = store

    async def add(
        self, user_id: str, recipient: str, number: str, now_us: int, source: str = SOURCE_API
    ) -> tuple[Row, bool]:
        """Put ``recipient`` on the list for ``number``; answers the entry and whether it
        is new (adding one that exists changes nothing)."""
        row = _entry(user_id, recipient, number, now_us, source)
        async with self._store.write() as conn:
            await conn.execute(insert_ignoring_conflicts(conn.dialect.name, t.opt_outs), [row])
            found = (await conn.execute(_find(user_id, recipient, number))).mappings().one()
        return dict(found), found["id"] == row["id"]

    async def get(self, user_id: str, opt_out_id: str) -> Row | None:
        c = t.opt_outs.c
        query = select(t.opt_outs).where(c.user_id == user_id, c.id == opt_out_id)
        async with self._store.read() as conn:
            found = (await conn.execute(query)).mappings().first()
        return None if found is None else dict(found)

    async def remove(self, user_id: str, opt_out_id: str) -> bool:
        c = t.opt_outs.c
        async with self._store.write() as conn:
            result = await conn.execute(
                delete(t.opt_outs).where(c.user_id == user_id, c.id == opt_out_id)
            )
        return bool(result.rowcount)

    async def list(
        self,
        user_id: str | None,
        where: OptOutFilter = OptOutFilter(),
        *,
        after: tuple[int, str] | None = None,
        limit: int,
    ) -> list[Row]:
        """Entries oldest first, by keyset ``(created_us, id)`` after ``after``; every
        user's when ``user_id`` is None (an export of the whole list)."""
        c = t.opt_outs.c
        query = select(t.opt_outs)
        if user_id is not None:
            query = query.where(c.user_id == user_id)
        if where.number is not None:
            query = query.where(c.number == where.number)
        if where.recipient is not None:
            query = query.where(c.recipient == where.recipient)
        if after is not None:
            query = query.where(tuple_(c.created_us, c.id) > tuple_(*after))
        query = query.order_by(c.created_us, c.id).limit(limit)
        async with self._store.read() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]


def _entry(user_id: str, recipient: str, number: str, now_us: int, source: str) -> dict[str, Any]:
    return {
        "id": new_id("oo", now_us),
        "user_id": user_id,
        "number": number,
        "recipient": recipient,
        "source": source,
        "created_us": now_us,
    }


def _find(user_id: str, recipient: str, number: str) -> Any:
    c = t.opt_outs.c
    return select(t.opt_outs).where(
        c.user_id == user_id, c.recipient == recipient, c.number == number
    )


def apply_keyword(conn: Connection, changes: Sequence[OptOutChange]) -> None:
    """Apply inbound keywords' changes, in the arrivals' transaction."""
    c = t.opt_outs.c
    for change in changes:
        if change.add:
            row = _entry(change.user_id, change.recipient, change.number, change.now_us,
                         SOURCE_KEYWORD)  # fmt: skip
            conn.execute(insert_ignoring_conflicts(conn.dialect.name, t.opt_outs), [row])
        else:
            statement = delete(t.opt_outs).where(
                c.user_id == change.user_id, c.recipient == change.recipient
            )
            if change.numbers:
                statement = statement.where(c.number.in_(change.numbers))
            conn.execute(statement)


# The key a claimed row carries when its recipient opted out (see :func:`mark_opted_out`).
OPTED_OUT = "opted_out"


def mark_opted_out(conn: Connection, rows: list[Row]) -> list[Row]:
    """``rows`` as claimed, those :func:`opted_out_among` finds marked with OPTED_OUT."""
    stopped = opted_out_among(conn, rows)
    return [{**row, OPTED_OUT: True} if row["id"] in stopped else row for row in rows]


def opted_out_among(conn: Connection, rows: Sequence[Row]) -> set[str]:
    """The ids of claimed ``rows`` about to go to a carrier whose recipient opted out of
    their sender (or of all the user's numbers), unless the sending number hands opt-outs
    to the user's application.  Auto-replies (``keyword`` set) always go."""
    ids = [
        row["id"]
        for row in rows
        if row["direction"] == Direction.OUT
        and row["state"] == MessageState.SENDING
        and row["keyword"] is None
    ]
    if not ids:
        return set()
    m, o, s = t.messages.c, t.opt_outs.c, t.number_settings.c
    listed = exists().where(
        o.user_id == m.user_id,
        o.recipient == m.to_number,
        or_(o.number == m.from_number, o.number == ALL_NUMBERS),
    )
    handed_over = exists().where(
        and_(
            s.user_id == m.user_id,
            s.number == m.from_number,
            s.opt_out_handling == OptOutHandling.APPLICATION,
        )
    )
    query = select(m.id).where(m.id.in_(ids), listed, ~handed_over)
    return set(conn.execute(query).scalars())
