"""The multi-row INSERTs the hot writes use: the same text SQLAlchemy compiles, made by
repeating one row's VALUES group, on both drivers the store runs on."""

from __future__ import annotations

import pytest
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from trebuchet.server.store import tables as t
from trebuchet.server.store.bulk import MAX_ROWS_PER_INSERT, _compiled_insert, _insert_sql

DIALECTS = [sqlite.pysqlite.dialect(), postgresql.asyncpg.dialect()]
TABLES = [t.messages, t.events, t.event_attempts, t.user_errors]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.driver)
@pytest.mark.parametrize("table", TABLES, ids=lambda table: table.name)
@pytest.mark.parametrize("count", [1, 2, 3, 16, MAX_ROWS_PER_INSERT])
def test_repeated_insert_is_what_sqlalchemy_compiles(
    dialect: Dialect, table: Table, count: int
) -> None:
    every = frozenset(column.name for column in table.columns)
    some = frozenset(["id", *sorted(every)[: len(every) // 2]])  # a subset, as rows have
    for columns in (every, some):
        sql, order = _insert_sql(dialect, table, columns, count)
        assert sql == _compiled_insert(dialect, table, columns, count)
        assert set(order) == columns
