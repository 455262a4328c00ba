"""Reading pages of rows from SQLite on a few threads, straight from the driver.

A page of 1000 messages through the async driver costs two thread hops, a greenlet
switch per call and a result object per row; here one hop runs the statement on a
blocking connection and hands back the driver's own tuples.  SQLite in WAL mode lets
these readers run beside the writer thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.engine import Engine

from trebuchet.server.store.database import create_sqlite_reader_engine


class SqliteReader:
    def __init__(self, path: str, synchronous: str, *, threads: int = 4):
        self._engine: Engine = create_sqlite_reader_engine(path, synchronous, threads)
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="trebuchet-sqlite-reader")
        self._local = threading.local()
        self._connections: list[Any] = []

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        connection = getattr(self._local, "connection", None)
        if connection is None:  # one per thread, kept for the reader's life
            connection = self._local.connection = self._engine.raw_connection()
            self._connections.append(connection)
        cursor = connection.cursor()
        try:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Every row ``sql`` selects, as the driver's tuples."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._fetch, sql, params)

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        for connection in self._connections:
            connection.close()
        self._connections.clear()
        self._engine.dispose()
