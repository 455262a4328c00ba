"""User errors: what went wrong on a user's behalf, listed newest first."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, tuple_
from sqlalchemy.engine import Connection

from trebuchet.server.domain.ids import new_id
from trebuchet.server.domain.times import now_us
from trebuchet.server.store import tables as t
from trebuchet.server.store.bulk import insert_rows

if TYPE_CHECKING:
    from trebuchet.server.store.store import Store

Row = Mapping[Any, Any]


class UserErrors:
    def __init__(self, store: Store):
        self._store = store

    async def add(
        self, user_id: str, category: str, code: str, message: str, details: Mapping[str, str]
    ) -> str:
        error_id = new_id("ue")
        async with self._store.write() as conn:
            await conn.execute(
                insert(t.user_errors).values(
                    id=error_id,
                    user_id=user_id,
                    time_us=now_us(),
                    category=category,
                    code=code,
                    message=message,
                    details=json.dumps(details),
                )
            )
        return error_id

    async def list(self, user_id: str, after: tuple[int, str] | None, limit: int) -> list[Row]:
        c = t.user_errors.c
        query = select(t.user_errors).where(c.user_id == user_id)
        if after is not None:
            query = query.where(tuple_(c.time_us, c.id) < tuple_(*after))
        query = query.order_by(c.time_us.desc(), c.id.desc()).limit(limit)
        async with self._store.read() as conn:
            return list((await conn.execute(query)).mappings())

    async def get(self, user_id: str, error_id: str) -> Row | None:
        query = select(t.user_errors).where(
            t.user_errors.c.user_id == user_id, t.user_errors.c.id == error_id
        )
        async with self._store.read() as conn:
            return (await conn.execute(query)).mappings().first()


def add_user_errors(conn: Connection, errors: Sequence[Mapping[str, Any]]) -> None:
    """:meth:`UserErrors.add` for many, inside the caller's transaction on a blocking
    connection (the delivery engine's outcomes)."""
    if errors:
        insert_rows(conn, t.user_errors, [{"id": new_id("ue"), **e} for e in errors])
