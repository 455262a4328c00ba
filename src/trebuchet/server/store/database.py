"""Connecting to SQLite or PostgreSQL through one SQLAlchemy async engine, and migrating.

``sqlite:///path`` uses aiosqlite in WAL mode; ``postgresql://...`` uses asyncpg.
Write transactions on SQLite begin ``IMMEDIATE`` so two writers never deadlock on a lock
upgrade; everything else is plain SQL shared by both backends.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, StaticPool

MIGRATIONS = Path(__file__).parent / "migrations"
# The database holds credentials and message text: readable by its owner only.
PRIVATE_FILE_MODE = 0o600
# Any constant shared by every process migrating the same PostgreSQL database.
_MIGRATION_LOCK_KEY = 0x7265_6263_6874  # "trebuchet"-ish
BEGIN_MODE = "begin_mode"
# A SQLite connection that met one of these stays unable to write after the file is
# writable again (it was opened read-only, or its file handle failed): replace it.
_SQLITE_STALE = ("readonly database", "disk i/o error", "unable to open database")


def async_url(url: str) -> str:
    """Map a user-facing database URL onto the async driver that serves it."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    shown = parsed.render_as_string(hide_password=True)
    raise ValueError(f"unsupported database URL {shown!r}: use sqlite:///path or postgresql://...")


def shown_url(url: str) -> str:
    """``url`` without its password (as given when it does not parse)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is lazy).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        if any(marker in str(context.original_exception).lower() for marker in _SQLITE_STALE):
            context.is_disconnect = True

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(BEGIN_MODE, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def sqlite_path(url: str) -> str | None:
    """The database file of a SQLite URL, or ``None`` for PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if parsed.database in (None, "", ":memory:"):
        raise ValueError("SQLite needs a file path (sqlite:///path/to/trebuchet.db)")
    return parsed.database


def prepare_sqlite_file(path: str) -> None:
    """Create the database file readable by its owner only (SQLite gives its ``-wal`` and
    ``-shm`` files the same mode).  A missing folder is refused rather than created: it is
    more often a typo than a wish."""
    folder = Path(path).absolute().parent
    if not folder.is_dir():
        raise ValueError(f"the folder {folder} does not exist")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    except OSError:
        return  # SQLite will fail to create it too, and say why in its own words
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # whatever the umask
    finally:
        os.close(fd)


def create_engine(
    url: str, *, pool_size: int = 10, sqlite_synchronous: str = "NORMAL"
) -> AsyncEngine:
    engine = create_async_engine(
        async_url(url), pool_size=pool_size, max_overflow=pool_size, hide_parameters=True
    )
    path = sqlite_path(url)
    if path is not None:
        prepare_sqlite_file(path)
        _configure_sqlite(engine.sync_engine, sqlite_synchronous)
    return engine


def create_sqlite_reader_engine(path: str, synchronous: str, connections: int) -> Engine:
    """Blocking connections for reader threads (see ``reader.py``)."""
    engine = create_sync_engine(
        f"sqlite:///{path}",
        pool_size=connections,
        max_overflow=0,
        connect_args={"check_same_thread": False},
        hide_parameters=True,
    )
    _configure_sqlite(engine, synchronous)
    return engine


def create_sqlite_writer_engine(path: str, synchronous: str) -> Engine:
    """One blocking connection for a dedicated writer thread (see ``writer.py``)."""
    engine = create_sync_engine(
        f"sqlite:///{path}",
        poolclass=StaticPool,
        connect_args={"check_same_thread": False},
        hide_parameters=True,  # errors would otherwise quote message text into the logs
    )
    _configure_sqlite(engine, synchronous)
    return engine


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def schema_revisions() -> list[str]:
    """Every schema revision this version knows, oldest first (the last is the head)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection) -> tuple[str | None, str | None]:
    if connection.dialect.name == "postgresql":
        # Several API and worker processes may start at once on one database.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    before = _revision(connection)
    command.upgrade(_alembic_config(connection), "head")
    return before, _revision(connection)


async def migrate(url: str) -> tuple[str | None, str | None]:
    """Bring the schema at ``url`` up to the newest revision (idempotent); answers the
    revision before (``None`` for a new database) and after."""
    engine = create_async_engine(async_url(url), poolclass=NullPool)
    path = sqlite_path(url)
    if path is not None:
        prepare_sqlite_file(path)
        _configure_sqlite(engine.sync_engine, "NORMAL")
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(**{BEGIN_MODE: "IMMEDIATE"})
            async with conn.begin():
                return await conn.run_sync(_upgrade)
    finally:
        await engine.dispose()
