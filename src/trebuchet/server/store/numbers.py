"""A user's phone numbers: the enabled numbers assigned to them (the operator's side of
numbers, adding, assigning and releasing them, is :mod:`.inventory`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from trebuchet.server.domain.states import NumberState
from trebuchet.server.store import tables as t
from trebuchet.server.store.inventory import released_columns
from trebuchet.server.store.owned import update_owned

if TYPE_CHECKING:
    from trebuchet.server.store.store import Store

Row = Mapping[Any, Any]


class Numbers:
    def __init__(self, store: Store):
        self._store = store

    async def list(
        self, user_id: str, filters: Mapping[str, str], after_id: str | None, limit: int
    ) -> list[Row]:
        query = select(t.phone_numbers).where(
            t.phone_numbers.c.user_id == user_id,
            t.phone_numbers.c.number_state == NumberState.ENABLED,
        )
        for column, value in filters.items():
            query = query.where(t.phone_numbers.c[column] == value)
        if after_id is not None:
            query = query.where(t.phone_numbers.c.id > after_id)
        query = query.order_by(t.phone_numbers.c.id).limit(limit)
        async with self._store.read() as conn:
            return list((await conn.execute(query)).mappings())

    async def get(self, user_id: str, id_or_number: str) -> Row | None:
        query = select(t.phone_numbers).where(
            t.phone_numbers.c.user_id == user_id,
            t.phone_numbers.c.number_state == NumberState.ENABLED,
            or_(t.phone_numbers.c.id == id_or_number, t.phone_numbers.c.number == id_or_number),
        )
        async with self._store.read() as conn:
            return (await conn.execute(query)).mappings().first()

    async def update(self, user_id: str, number_id: str, changes: Row) -> bool:
        return await update_owned(self._store, t.phone_numbers, user_id, number_id, changes)

    async def release(self, user_id: str, number_id: str) -> bool:
        """Release the number (spec: a released number cannot be added again)."""
        return await update_owned(
            self._store, t.phone_numbers, user_id, number_id, released_columns()
        )

    async def owns(self, user_id: str, number: str) -> bool:
        query = select(t.phone_numbers.c.id).where(
            t.phone_numbers.c.number == number,
            t.phone_numbers.c.user_id == user_id,
            t.phone_numbers.c.number_state == NumberState.ENABLED,
        )
        async with self._store.read() as conn:
            return (await conn.scalar(query)) is not None

    async def has_any(self, user_id: str) -> bool:
        query = (
            select(t.phone_numbers.c.id)
            .where(
                t.phone_numbers.c.user_id == user_id,
                t.phone_numbers.c.number_state == NumberState.ENABLED,
            )
            .limit(1)
        )
        async with self._store.read() as conn:
            return (await conn.scalar(query)) is not None

    async def find_enabled(self, number: str) -> Row | None:
        """The enabled number record for ``number``, whoever owns it (inbound routing)."""
        c = t.phone_numbers.c
        query = select(t.phone_numbers).where(
            c.number == number, c.number_state == NumberState.ENABLED
        )
        async with self._store.read() as conn:
            return (await conn.execute(query)).mappings().first()
