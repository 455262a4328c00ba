"""Which schema revision a store is at, and which the code expects (``trebuchet doctor``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from trebuchet.server.store.database import MIGRATIONS

if TYPE_CHECKING:
    from trebuchet.server.store.store import Store


def head_revisions() -> set[str]:
    """The newest revision(s) the migrations define."""
    return set(ScriptDirectory(str(MIGRATIONS)).get_heads())


def _current(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def current_revisions(store: Store) -> set[str]:
    """The revision(s) the store's schema is at (empty for a store never migrated)."""
    async with store.read() as conn:
        return await conn.run_sync(_current)
