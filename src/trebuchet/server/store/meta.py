"""Meta: persistent values every process shares, under a key, and the write probe's row."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from trebuchet.server.domain.times import now_us
from trebuchet.server.store import tables as t
from trebuchet.server.store.bulk import insert_ignoring_conflicts

if TYPE_CHECKING:
    from trebuchet.server.store.store import Store

# The meta row readiness writes to when writes have been failing.
WRITE_PROBE_KEY = "write_probe"


class Meta:
    def __init__(self, store: Store):
        self._store = store

    async def setting(self, key: str, default_factory: Callable[[], str] | None = None) -> str:
        """A persistent value shared by every process (created on first use)."""
        async with self._store.write() as conn:
            value = await conn.scalar(select(t.meta.c.value).where(t.meta.c.key == key))
            if value is None:
                value = default_factory() if default_factory else ""
                await conn.execute(
                    insert_ignoring_conflicts(conn.dialect.name, t.meta).values(
                        key=key, value=value
                    )
                )
                value = await conn.scalar(select(t.meta.c.value).where(t.meta.c.key == key))
            return str(value)


def write_probe(conn: Connection) -> None:
    """A real but harmless write: the time, under its own key."""
    value = str(now_us())
    changed = conn.execute(
        update(t.meta).where(t.meta.c.key == WRITE_PROBE_KEY).values(value=value)
    )
    if not changed.rowcount:
        conn.execute(insert(t.meta).values(key=WRITE_PROBE_KEY, value=value))
