"""Carrier references: the network's id for each message (or part) a carrier sent.

Receipts name the network's id, not ours, and may come hours later, after a restart, to
another process: the mapping is kept in ``carrier_refs``, one row per part.  Which code a
message gets once its parts report is the carriers' rule
(``carriers/refs.py`` ``aggregate``); the store answers what the rule needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from trebuchet.server.domain.times import now_us
from trebuchet.server.store import tables as t

if TYPE_CHECKING:
    from trebuchet.server.store.store import Store


@dataclass(frozen=True)
class Part:
    message_id: str
    part: int
    parts: int
    ref: str


@dataclass(frozen=True)
class PartReport:
    """A part's receipt as recorded: its number, and every part's code before it (None:
    no receipt yet)."""

    part: int
    codes: Mapping[int, int | None]


def _upsert(dialect: str) -> Any:
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


class CarrierRefs:
    def __init__(self, store: Store):
        self._store = store

    async def record(self, carrier: str, parts: Sequence[Part]) -> None:
        """Remember the network's refs of parts just sent (a ref sent again starts over)."""
        if not parts:
            return
        now = now_us()
        rows = [
            {"carrier": carrier, "ref": part.ref, "message_id": part.message_id,
             "part": part.part, "parts": part.parts, "code": None, "created_us": now}
            for part in parts
        ]  # fmt: skip
        async with self._store.write() as conn:
            await conn.execute(_upsert(conn.dialect.name), rows)

    async def sent_parts(self, carrier: str, message_id: str) -> dict[int, str]:
        """Refs of the parts of ``message_id`` already accepted, by part number."""
        c = t.carrier_refs.c
        query = select(c.part, c.ref).where(and_(c.message_id == message_id, c.carrier == carrier))
        async with self._store.read() as conn:
            return {row.part: row.ref for row in await conn.execute(query)}

    async def find(self, carrier: str, ref: str) -> Part | None:
        c = t.carrier_refs.c
        query = select(c.message_id, c.part, c.parts).where(
            and_(c.carrier == carrier, c.ref == ref)
        )
        async with self._store.read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else Part(row.message_id, row.part, row.parts, ref)

    async def message_state(self, message_id: str) -> str | None:
        query = select(t.messages.c.state).where(t.messages.c.id == message_id)
        async with self._store.read() as conn:
            state = (await conn.execute(query)).scalar_one_or_none()
        return None if state is None else str(state)

    async def report(self, carrier: str, ref: str, code: int) -> PartReport | None:
        """Record a part's receipt code (its first only); None for an unknown ref."""
        c = t.carrier_refs.c
        async with self._store.write() as conn:
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
        return PartReport(part, codes)
