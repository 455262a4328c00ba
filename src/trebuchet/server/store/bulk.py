"""Writing many rows through statements compiled once, with the driver's own parameters.

SQLAlchemy's per-row parameter processing costs more than SQLite's insert of the row, and
every statement it builds pays for a cache key.  The hot writes (accepted messages, the
engine's outcomes, events and attempts) instead go to the driver as flat tuples through
statements compiled once per table, column set and size.  Inserts are multi-row
``INSERT … VALUES (…), (…)``: SQLite inserts a statement's rows while the GIL is released
once (an ``executemany`` takes the GIL back between rows, and waits for it while the
event loop is busy), and PostgreSQL gets one round trip per statement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect

# Rows per INSERT statement, at most; a power of two (see :func:`_chunk_sizes`).
MAX_ROWS_PER_INSERT = 256

Row = Mapping[str, Any]


def _chunk_sizes(count: int) -> Iterator[int]:
    """Split ``count`` rows into powers of two of at most ``MAX_ROWS_PER_INSERT``.

    Few distinct statement sizes, so every statement stays in the driver's cache.
    """
    while count:
        size = min(MAX_ROWS_PER_INSERT, 1 << (count.bit_length() - 1))
        yield size
        count -= size


@cache
def _insert_sql(
    dialect: Dialect, table: Table, columns: frozenset[str], count: int
) -> tuple[str, tuple[str, ...]]:
    """A multi-row INSERT of ``count`` rows, compiled once, and the columns in the order
    each row's parameters take (the table's)."""
    compiled = insert(table).values([dict.fromkeys(columns)] * count).compile(dialect=dialect)
    order = tuple(column.name for column in table.columns if column.name in columns)
    expected = [f"{column}_m{row}" for row in range(count) for column in order]
    if compiled.positiontup != expected:
        raise RuntimeError("unexpected parameter order in the compiled INSERT")
    return str(compiled), order


@cache
def _update_sql(
    dialect: Dialect, table: Table, key: str, columns: tuple[str, ...]
) -> tuple[str, tuple[str, ...]]:
    """``UPDATE table SET columns WHERE key = ?``, and the columns in parameter order."""
    statement = (
        update(table)
        .where(table.c[key] == bindparam("key_"))
        .values({column: bindparam(f"set_{column}") for column in columns})
    )
    compiled = statement.compile(dialect=dialect)
    if compiled.positiontup is None:
        raise RuntimeError("the UPDATE needs a positional parameter style")
    order = tuple(key if name == "key_" else name.removeprefix("set_")
                  for name in compiled.positiontup)  # fmt: skip
    return str(compiled), order


def _by_columns(rows: Sequence[Row], skip: str | None = None) -> dict[tuple[str, ...], list[Row]]:
    groups: dict[tuple[str, ...], list[Row]] = {}
    for row in rows:
        groups.setdefault(tuple(name for name in row if name != skip), []).append(row)
    return groups


def _getter(columns: Sequence[str]) -> Callable[[Row], tuple[Any, ...]]:
    """A row's values of ``columns`` as a tuple (``itemgetter`` does it in C)."""
    if len(columns) == 1:
        (column,) = columns
        return lambda row: (row[column],)
    return itemgetter(*columns)


def insert_rows(conn: Connection, table: Table, rows: Sequence[Row]) -> None:
    """Insert ``rows`` (mappings of column to value) in the caller's transaction."""
    for columns, same in _by_columns(rows).items():
        start = 0
        for size in _chunk_sizes(len(same)):
            sql, order = _insert_sql(conn.dialect, table, frozenset(columns), size)
            values = _getter(order)
            conn.exec_driver_sql(
                sql, tuple([value for row in same[start : start + size] for value in values(row)])
            )
            start += size


def update_rows(conn: Connection, table: Table, key: str, rows: Sequence[Row]) -> None:
    """Set each row's other columns on the row of ``table`` whose ``key`` it names."""
    for columns, same in _by_columns(rows, skip=key).items():
        sql, order = _update_sql(conn.dialect, table, key, columns)
        values = _getter(order)
        conn.exec_driver_sql(sql, [values(row) for row in same])


def insert_ignoring_conflicts(dialect: str, table: Any) -> Any:
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return dialect_insert(table).on_conflict_do_nothing()
