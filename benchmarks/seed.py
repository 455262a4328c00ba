"""Filling a store with many messages quickly (straight into the table, not through the API)."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from sqlalchemy import insert, text

from trebuchet.server.domain.ids import new_message_id
from trebuchet.server.domain.message import Message
from trebuchet.server.domain.states import Direction, MessageState
from trebuchet.server.store import Store, tables
from trebuchet.server.store.message_rows import message_to_row

FROM, TO = "+15550100001", "+15550100002"
BASE_US = 1_700_000_000_000_000
STEP_US = 1000  # one message per millisecond of history


def message_row(user_id: str, index: int) -> dict[str, Any]:
    time_us = BASE_US + index * STEP_US
    message = Message(
        id=new_message_id(time_us),
        user_id=user_id,
        from_number=FROM,
        to_number=TO,
        direction=Direction.OUT,
        text=f"History message number {index}",
        state=MessageState.SENT,
        time_us=time_us,
        segment_count=1,
    )
    return message_to_row(message)


def _seed_sqlite(path: str, user_id: str, count: int, batch: int) -> None:
    columns = list(message_row(user_id, 0))
    sql = f"INSERT INTO messages ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        for start in range(0, count, batch):
            rows = [
                tuple(message_row(user_id, i).values())
                for i in range(start, min(start + batch, count))
            ]
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, rows)
            conn.execute("COMMIT")
    finally:
        conn.close()


async def seed_messages(store: Store, user_id: str, count: int, batch: int = 20_000) -> None:
    """``count`` sent messages for ``user_id``, one millisecond apart, oldest first."""
    if store.dialect == "sqlite":
        path = store.url.split("sqlite:///", 1)[1]
        await asyncio.to_thread(_seed_sqlite, path, user_id, count, batch)
        return
    for start in range(0, count, batch):
        rows = [message_row(user_id, i) for i in range(start, min(start + batch, count))]
        async with store.write() as conn:
            await conn.execute(insert(tables.messages), rows)
    # A table that grew to this size has planner statistics (autovacuum gathers them a
    # while after a bulk load); without them PostgreSQL may sort the whole user's rows.
    async with store.read() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE messages"))
