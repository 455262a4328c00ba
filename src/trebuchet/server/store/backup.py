"""A consistent copy of a live SQLite store, with SQLite's online backup API, and back.

The copy is taken in one step: one read transaction on the source, which in WAL mode
blocks no writer, so the copy holds exactly the transactions committed when it began
(every message whose send was answered by then) and nothing half-written.  The copy is
switched to the rollback journal so that it is one self-contained file, and checked with
``PRAGMA quick_check``.  PostgreSQL has its own tools for this (``docs/operations.md``).

Restoring (:func:`restore_sqlite`) copies a backup next to the stopped store's file,
checks it in full (``PRAGMA integrity_check``) and its schema revision (one this version
knows; an older one is migrated), and only then moves it into place, removing the old
store's ``-wal`` and ``-shm`` files, which belong to the file replaced.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from trebuchet.server.store.database import (
    migrate,
    prepare_sqlite_file,
    schema_revisions,
    sqlite_path,
)

BUSY_TIMEOUT_SECONDS = 30.0


class NotSqlite(ValueError):
    def __init__(self) -> None:
        super().__init__(
            "trebuchet backup copies SQLite stores; back up PostgreSQL with pg_dump or "
            "pg_basebackup (docs/operations.md)"
        )


class BackupFailed(Exception):
    """The copy did not pass its check."""


class RestoreRefused(Exception):
    """The backup cannot be restored here (damaged, unknown schema, a store in the way)."""


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


@dataclass(frozen=True)
class SqliteRestore:
    path: Path
    bytes: int
    revision: str  # the backup's schema revision
    migrated_to: str | None  # the revision it was migrated to, when it was older


def _companions(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def _backup_revision(path: Path) -> str:
    connection = sqlite3.connect(path)
    try:
        verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise RestoreRefused(f"the backup failed its integrity check: {verdict}")
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError:
            row = None
        if row is None:
            raise RestoreRefused("the backup holds no Trebuchet schema (no alembic_version)")
        return str(row[0])
    finally:
        connection.close()


def _copy(source: Path, target: Path) -> None:
    prepare_sqlite_file(str(target))
    origin = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        origin.backup(copy)
    finally:
        copy.close()
        origin.close()


def _self_contained(path: Path) -> None:
    """Fold any write-ahead log into the file, so that the file alone is the store."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=DELETE")
    finally:
        connection.close()


def _target(source: Path, url: str, force: bool) -> Path:
    """Where the store goes; refuses what must not be replaced."""
    target_name = sqlite_path(url)
    if target_name is None:
        raise NotSqlite()
    if not source.is_file():
        raise FileNotFoundError(f"no backup file at {source}")
    target = Path(target_name)
    if any(path.exists() for path in _companions(target)) and not force:
        raise RestoreRefused(
            f"a store exists at {target.absolute()}; stop every server and worker using it "
            "and restore with --force to replace it"
        )
    return target


def _discard(staged: Path) -> None:
    for leftover in _companions(staged):
        leftover.unlink(missing_ok=True)


def _stage(source: Path, staged: Path) -> str:
    """Copy the backup to ``staged`` and check it; answers its schema revision."""
    _discard(staged)
    _copy(source, staged)
    revision = _backup_revision(staged)
    known = schema_revisions()
    if revision not in known:
        raise RestoreRefused(
            f"the backup's schema revision {revision} is newer than this version of "
            f"Trebuchet knows (up to {known[-1]}); restore it with the version that took it"
        )
    return revision


def _move_into_place(staged: Path, target: Path) -> int:
    _self_contained(staged)
    for old in _companions(target)[1:]:
        old.unlink(missing_ok=True)  # the old store's log would corrupt the new file
    os.replace(staged, target)
    return target.stat().st_size


async def restore_sqlite(source: Path, url: str, *, force: bool = False) -> SqliteRestore:
    """Put the backup file ``source`` in place of the (stopped) SQLite store at ``url``.

    Refuses an existing store unless ``force``, a backup that fails its integrity check,
    and one whose schema revision this version does not know (a newer one); an older one
    is migrated before it is moved into place.  Nothing is replaced until the checked,
    migrated copy is ready.
    """
    target = _target(source, url, force)
    staged = target.with_name(target.name + ".restoring")
    try:
        try:
            revision = _stage(source, staged)
        except sqlite3.DatabaseError as exc:
            raise RestoreRefused(f"the backup cannot be read: {exc}") from exc
        migrated_to = None
        if revision != schema_revisions()[-1]:
            _, migrated_to = await migrate(f"sqlite:///{staged}")
        size = _move_into_place(staged, target)
    except BaseException:
        _discard(staged)
        raise
    return SqliteRestore(target, size, revision, migrated_to)
