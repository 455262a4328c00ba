"""Carrier references: the network's id for each message (or part) a carrier sent.

Receipts name the network's id, not ours, and may come hours later, after a restart, to
another process: the mapping is kept in the database (``carrier_refs``).  A message sent
in several parts has one row per part; :func:`aggregate` decides, as the parts' receipts
come in, when the message has its receipt and which code it gets:

* ``first``: the first receipt of any part;
* ``last``: once every part has one, the one that came last;
* ``all``: once every part has one, delivered only if every part was, else the code of
  the first failed part.

:class:`SqlRefs` is the real store; :class:`MemoryRefs` keeps the same contract in memory
(for a carrier without a database, and tests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import and_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from trebuchet.server.carriers.codes import DELIVERED
from trebuchet.server.domain.states import MessageState
from trebuchet.server.domain.times import now_us
from trebuchet.server.store import tables as t
from trebuchet.server.store.store import Store

RULES = ("all", "first", "last")


@dataclass(frozen=True)
class Part:
    message_id: str
    part: int
    parts: int
    ref: str


def aggregate(rule: str, codes: Mapping[int, int | None], part: int, code: int) -> int | None:
    """The message's receipt code once part ``part`` reports ``code``, or None (not yet).

    ``codes`` holds every part's code before this report (None: no receipt yet).  A part
    that already had a receipt reports nothing new.
    """
    if codes.get(part) is not None:
        return None
    after = {**codes, part: code}
    if rule == "first":
        return code if all(value is None for value in codes.values()) else None
    if any(value is None for value in after.values()):
        return None
    if rule == "last":
        return code
    failed = [after[number] for number in sorted(after) if after[number] != DELIVERED]
    return failed[0] if failed else DELIVERED


class Refs(Protocol):
    async def record(self, carrier: str, parts: Sequence[Part]) -> None: ...

    async def sent_parts(self, carrier: str, message_id: str) -> dict[int, str]:
        """Refs of the parts of ``message_id`` already accepted, by part number."""
        ...

    async def find(self, carrier: str, ref: str) -> Part | None: ...

    async def message_state(self, message_id: str) -> str | None: ...

    async def report(self, carrier: str, ref: str, code: int, rule: str) -> int | None:
        """Record a part's receipt; the message's receipt code when it is now decided."""
        ...


class MemoryRefs:
    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], Part] = {}
        self._codes: dict[tuple[str, str], int] = {}
        self.states: dict[str, str] = {}

    async def record(self, carrier: str, parts: Sequence[Part]) -> None:
        for part in parts:
            self._rows[(carrier, part.ref)] = part
            self._codes.pop((carrier, part.ref), None)

    async def sent_parts(self, carrier: str, message_id: str) -> dict[int, str]:
        return {
            row.part: row.ref
            for (name, _), row in self._rows.items()
            if name == carrier and row.message_id == message_id
        }

    async def find(self, carrier: str, ref: str) -> Part | None:
        return self._rows.get((carrier, ref))

    async def message_state(self, message_id: str) -> str | None:
        return self.states.get(message_id, MessageState.SENT)

    async def report(self, carrier: str, ref: str, code: int, rule: str) -> int | None:
        row = self._rows.get((carrier, ref))
        if row is None:
            return None
        siblings = {
            other.part: self._codes.get((name, other.ref))
            for (name, _), other in self._rows.items()
            if name == carrier and other.message_id == row.message_id
        }
        self._codes.setdefault((carrier, ref), code)
        return aggregate(rule, siblings, row.part, code)


class SqlRefs:
    def __init__(self, store: Store):
        self.store = store

    def _upsert(self, dialect: str) -> Any:
        table = t.carrier_refs
        insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
        return insert.on_conflict_do_update(
            index_elements=[table.c.carrier, table.c.ref],
            set_={
                "message_id": insert.excluded.message_id,
                "part": insert.excluded.part,
                "parts": insert.excluded.parts,
                "code": None,
                "created_us": insert.excluded.created_us,
            },
        )

    async def record(self, carrier: str, parts: Sequence[Part]) -> None:
        if not parts:
            return
        now = now_us()
        rows = [
            {"carrier": carrier, "ref": part.ref, "message_id": part.message_id,
             "part": part.part, "parts": part.parts, "code": None, "created_us": now}
            for part in parts
        ]  # fmt: skip
        async with self.store.write() as conn:
            await conn.execute(self._upsert(conn.dialect.name), rows)

    async def sent_parts(self, carrier: str, message_id: str) -> dict[int, str]:
        c = t.carrier_refs.c
        query = select(c.part, c.ref).where(and_(c.message_id == message_id, c.carrier == carrier))
        async with self.store.read() as conn:
            return {row.part: row.ref for row in await conn.execute(query)}

    async def find(self, carrier: str, ref: str) -> Part | None:
        c = t.carrier_refs.c
        query = select(c.message_id, c.part, c.parts).where(
            and_(c.carrier == carrier, c.ref == ref)
        )
        async with self.store.read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else Part(row.message_id, row.part, row.parts, ref)

    async def message_state(self, message_id: str) -> str | None:
        query = select(t.messages.c.state).where(t.messages.c.id == message_id)
        async with self.store.read() as conn:
            state = (await conn.execute(query)).scalar_one_or_none()
        return None if state is None else str(state)

    async def report(self, carrier: str, ref: str, code: int, rule: str) -> int | None:
        c = t.carrier_refs.c
        async with self.store.write() as conn:
            found = await conn.execute(
                select(c.message_id).where(and_(c.carrier == carrier, c.ref == ref))
            )
            message_id = found.scalar_one_or_none()
            if message_id is None:
                return None
            # Locked in part order, so that concurrent receipts of one message take turns.
            siblings = select(c.part, c.ref, c.code).where(
                and_(c.carrier == carrier, c.message_id == message_id)
            )
            if conn.dialect.name == "postgresql":
                siblings = siblings.order_by(c.part).with_for_update()
            rows = list(await conn.execute(siblings))
            codes = {row.part: row.code for row in rows}
            part = next(row.part for row in rows if row.ref == ref)
            await conn.execute(
                update(t.carrier_refs)
                .where(and_(c.carrier == carrier, c.ref == ref, c.code.is_(None)))
                .values(code=code)
            )
        return aggregate(rule, codes, part, code)
