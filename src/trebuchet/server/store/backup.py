"""A consistent copy of a live SQLite store, with SQLite's online backup API.

The copy is taken in one step: one read transaction on the source, which in WAL mode
blocks no writer, so the copy holds exactly the transactions committed when it began
(every message whose send was answered by then) and nothing half-written.  The copy is
switched to the rollback journal so that it is one self-contained file, and checked with
``PRAGMA quick_check``.  PostgreSQL has its own tools for this (``docs/operations.md``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from trebuchet.server.store.database import prepare_sqlite_file, sqlite_path

BUSY_TIMEOUT_SECONDS = 30.0


class NotSqlite(ValueError):
    def __init__(self) -> None:
        super().__init__(
            "trebuchet backup copies SQLite stores; back up PostgreSQL with pg_dump or "
            "pg_basebackup (docs/operations.md)"
        )


class BackupFailed(Exception):
    """The copy did not pass its check."""


@dataclass(frozen=True)
class SqliteBackup:
    path: Path
    pages: int
    bytes: int


def backup_sqlite(url: str, target: Path) -> SqliteBackup:
    """Copy the SQLite store at ``url`` into the new file ``target`` (owner-only)."""
    source_path = sqlite_path(url)
    if source_path is None:
        raise NotSqlite()
    if not Path(source_path).exists():
        raise FileNotFoundError(f"no store at {Path(source_path).absolute()}")
    if target.exists():
        raise FileExistsError(f"{target} exists already")
    prepare_sqlite_file(str(target))
    source = sqlite3.connect(source_path, timeout=BUSY_TIMEOUT_SECONDS)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # all pages in one step: one snapshot of the source
        copy.execute("PRAGMA journal_mode=DELETE")
        pages = int(copy.execute("PRAGMA page_count").fetchone()[0])
        verdict = copy.execute("PRAGMA quick_check").fetchone()[0]
    finally:
        copy.close()
        source.close()
    if verdict != "ok":
        raise BackupFailed(f"the copy in {target} failed its check: {verdict}")
    return SqliteBackup(target, pages, target.stat().st_size)
