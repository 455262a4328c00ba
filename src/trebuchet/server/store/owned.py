"""What the user-owned resources (numbers, applications) share: changing one row of
``user_id``'s by its id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, and_, select, update

if TYPE_CHECKING:
    from trebuchet.server.store.store import Store


async def update_owned(
    store: Store, table: Table, user_id: str, ident: str, changes: Mapping[Any, Any]
) -> bool:
    """Set ``changes`` on ``user_id``'s row ``ident``; False when there is no such row."""
    where = and_(table.c.user_id == user_id, table.c.id == ident)
    async with store.write() as conn:
        if not changes:
            return (await conn.scalar(select(table.c.id).where(where))) is not None
        result = await conn.execute(update(table).where(where).values(dict(changes)))
        return bool(result.rowcount)
