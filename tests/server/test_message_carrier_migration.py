"""Migration 0013 adds the carrier that took a message: rows already there keep every value
and have none; going back drops the column and keeps the rows; on both stores."""

from __future__ import annotations

from sqlalchemy import inspect, select, text, update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.server.test_state_checks import _alembic, _at_0007, _message, empty_url  # noqa: F401
from trebuchet.server.store import tables as t
from trebuchet.server.store.database import async_url

BEFORE = "0008"


async def test_the_carrier_column_comes_and_goes_with_the_rows_kept(empty_url: str) -> None:  # noqa: F811
    engine = create_async_engine(async_url(empty_url), poolclass=NullPool)
    rows = _at_0007([_message("m-1"), _message("m-2")])
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_alembic, BEFORE)
            await conn.execute(t.messages.insert(), rows)
            await conn.run_sync(_alembic, "0013")
            assert "carrier" in await conn.run_sync(_columns)
            await conn.execute(
                update(t.messages).where(t.messages.c.id == "m-1").values(carrier="smsc")
            )
            found = (await conn.execute(select(t.messages.c.id, t.messages.c.carrier)
                                        .order_by(t.messages.c.id))).all()  # fmt: skip
        assert [tuple(row) for row in found] == [("m-1", "smsc"), ("m-2", None)]
        async with engine.begin() as conn:
            await conn.run_sync(_alembic, BEFORE, down=True)
            assert "carrier" not in await conn.run_sync(_columns)
            count = await conn.scalar(text("SELECT count(*) FROM messages"))
        assert count == 2
    finally:
        await engine.dispose()


def _columns(connection: object) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns("messages")}
