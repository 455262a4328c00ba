"""Web console sessions: created at sign-in, read (and kept alive) on every page, ended at
sign-out or when idle too long (by the next page the browser asks for, or else by the
housekeeping step ``console_sessions``, ``retention.py``).  Only the SHA-256 of the
browser's key is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, update

from trebuchet.server.domain.times import now_us
from trebuchet.server.store import tables as t

if TYPE_CHECKING:
    from trebuchet.server.store.store import Store

# A session's last use is written at most this often (microseconds): pages read it, and
# a write per page would make every page a write.
TOUCH_EVERY_US = 60_000_000


@dataclass(frozen=True)
class ConsoleSession:
    key_hash: str
    user_id: str | None
    operator: bool
    csrf: str
    seen_us: int


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class ConsoleSessions:
    def __init__(self, store: Store):
        self._store = store

    async def start(self, user_id: str | None, *, operator: bool) -> tuple[str, ConsoleSession]:
        """A new session: the key for the browser's cookie, and the session."""
        key = secrets.token_urlsafe(32)
        now = now_us()
        session = ConsoleSession(key_hash(key), user_id, operator, secrets.token_urlsafe(24), now)
        async with self._store.write() as conn:
            await conn.execute(
                insert(t.console_sessions).values(
                    id=session.key_hash,
                    user_id=user_id,
                    operator=operator,
                    csrf=session.csrf,
                    created_us=now,
                    seen_us=now,
                )
            )
        return key, session

    async def resume(self, key: str, idle_us: int) -> ConsoleSession | None:
        """The session of ``key`` if it was used within ``idle_us``; its use is noted.
        An idle session is deleted."""
        ident = key_hash(key)
        c = t.console_sessions.c
        async with self._store.read() as conn:
            row = (await conn.execute(select(t.console_sessions).where(c.id == ident))).first()
        if row is None:
            return None
        now = now_us()
        if now - row.seen_us > idle_us:
            await self.end(key)
            return None
        if now - row.seen_us > TOUCH_EVERY_US:
            async with self._store.write() as conn:
                await conn.execute(
                    update(t.console_sessions).where(c.id == ident).values(seen_us=now)
                )
        return ConsoleSession(ident, row.user_id, bool(row.operator), row.csrf, row.seen_us)

    async def choose_user(self, key: str, user_id: str) -> None:
        """The operator's session now acts as ``user_id``."""
        c = t.console_sessions.c
        async with self._store.write() as conn:
            await conn.execute(
                update(t.console_sessions)
                .where(c.id == key_hash(key), c.operator.is_(True))
                .values(user_id=user_id)
            )

    async def end(self, key: str) -> None:
        async with self._store.write() as conn:
            await conn.execute(
                delete(t.console_sessions).where(t.console_sessions.c.id == key_hash(key))
            )
