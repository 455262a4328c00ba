"""Telling a store that cannot serve right now from a bug.

A restarted or unreachable PostgreSQL, a read-only or full SQLite file: the request may
well work in a moment, so the API answers 503 (``unavailable``) instead of 500.  Anything
else a driver raises stays a server error.
"""

from __future__ import annotations

import errno

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

NOT_ANSWERING = "The store does not answer; try again shortly"
READ_ONLY = "The store is read-only; try again later"
FULL = "The store's disk is full; try again later"
BUSY = "The store is busy; try again shortly"

# SQLite reports every fault as OperationalError; only its text tells them apart.
_SQLITE_FAULTS = (
    ("readonly", READ_ONLY),
    ("read-only", READ_ONLY),
    ("disk is full", FULL),
    ("disk i/o error", NOT_ANSWERING),
    ("unable to open database", NOT_ANSWERING),
    ("database is locked", BUSY),
)
# PostgreSQL SQLSTATE codes and classes: connection exception, operator intervention
# (shutting down, starting up), insufficient resources, read-only transaction.
_POSTGRES_FAULTS = {"53100": FULL, "25006": READ_ONLY}
_POSTGRES_CLASSES = {"08": NOT_ANSWERING, "57": NOT_ANSWERING, "53": BUSY}
_OS_FAULTS = {
    errno.ENOSPC: FULL,
    errno.EDQUOT: FULL,
    errno.EROFS: READ_ONLY,
    errno.EIO: NOT_ANSWERING,
}


def _is_sqlite(exc: DBAPIError) -> bool:
    return type(exc.orig).__module__ == "sqlite3"


def unavailable_reason(exc: BaseException) -> str | None:
    """Why the store cannot serve now, or None when ``exc`` is not such a fault."""
    if isinstance(exc, PoolTimeout):
        return BUSY
    if isinstance(exc, DBAPIError):
        text = str(exc.orig).lower()
        for marker, reason in _SQLITE_FAULTS:
            if marker in text:
                return reason
        sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
        if sqlstate:
            return _POSTGRES_FAULTS.get(sqlstate) or _POSTGRES_CLASSES.get(sqlstate[:2])
        if exc.connection_invalidated:
            return NOT_ANSWERING
        if isinstance(exc, OperationalError | InterfaceError) and not _is_sqlite(exc):
            return NOT_ANSWERING  # PostgreSQL: the connection broke under the driver
        return None
    if isinstance(exc, ConnectionError | TimeoutError):
        return NOT_ANSWERING  # the driver could not reach the server at all
    if isinstance(exc, OSError):
        return _OS_FAULTS.get(exc.errno or 0)
    return None


STORE_FAULTS: tuple[type[Exception], ...] = (SQLAlchemyError, OSError)
