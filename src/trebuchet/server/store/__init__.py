"""Persistence: one SQL code path over SQLite (default) and PostgreSQL."""

from trebuchet.server.store.records import (
    Conflict,
    InsertJob,
    MessageFilter,
    NewUser,
    StoredResponse,
    User,
)
from trebuchet.server.store.store import Store

__all__ = ["Conflict", "InsertJob", "MessageFilter", "NewUser", "Store", "StoredResponse", "User"]
