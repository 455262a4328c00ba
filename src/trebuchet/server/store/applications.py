"""Applications: a user's callback settings, which their numbers point at."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update

from trebuchet.server.domain.ids import new_id
from trebuchet.server.domain.times import now_us
from trebuchet.server.store import tables as t
from trebuchet.server.store.owned import update_owned

if TYPE_CHECKING:
    from trebuchet.server.store.store import Store

Row = Mapping[Any, Any]


class Applications:
    def __init__(self, store: Store):
        self._store = store

    async def add(self, user_id: str, values: Row) -> Row:
        row = {"id": new_id("a"), "user_id": user_id, "created_us": now_us(), **values}
        async with self._store.write() as conn:
            await conn.execute(insert(t.applications).values(row))
        return row

    async def list(self, user_id: str, after_id: str | None, limit: int) -> list[Row]:
        query = select(t.applications).where(t.applications.c.user_id == user_id)
        if after_id is not None:
            query = query.where(t.applications.c.id > after_id)
        query = query.order_by(t.applications.c.id).limit(limit)
        async with self._store.read() as conn:
            return list((await conn.execute(query)).mappings())

    async def get(self, user_id: str, app_id: str) -> Row | None:
        query = select(t.applications).where(
            t.applications.c.user_id == user_id, t.applications.c.id == app_id
        )
        async with self._store.read() as conn:
            return (await conn.execute(query)).mappings().first()

    async def update(self, user_id: str, app_id: str, changes: Row) -> bool:
        return await update_owned(self._store, t.applications, user_id, app_id, changes)

    async def delete(self, user_id: str, app_id: str) -> bool:
        async with self._store.write() as conn:
            result = await conn.execute(
                delete(t.applications).where(
                    t.applications.c.user_id == user_id, t.applications.c.id == app_id
                )
            )
            if result.rowcount:
                await conn.execute(
                    update(t.phone_numbers)
                    .where(
                        t.phone_numbers.c.user_id == user_id,
                        t.phone_numbers.c.application_id == app_id,
                    )
                    .values(application_id=None)
                )
            return bool(result.rowcount)
