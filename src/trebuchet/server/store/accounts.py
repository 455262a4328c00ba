"""The operator's view of users: list, summarise, disable, enable, rotate, delete.

Disabling sets ``users.disabled_us``; :meth:`Users.by_token` then finds nobody for the
user's token, so their API calls answer 401 as for any unknown credentials (a server
process that verified the token earlier keeps it for up to ``cache_seconds``).  Nothing is
deleted and enabling restores access with the same credentials.

Deleting removes everything the user owns: messages with their events, event attempts
and carrier references, idempotency keys, user errors and applications.  Their numbers
go back to the inventory (available); numbers released while theirs stay released, with
no holder.  Messages go in batches of :data:`DELETE_BATCH`, one transaction each, so a
user with millions of messages holds no long lock.  Their media files are not in the
database: the caller removes them (``trebuchet users delete`` does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from trebuchet.server.domain.ids import new_secret
from trebuchet.server.domain.states import NumberState
from trebuchet.server.domain.times import now_us
from trebuchet.server.store import tables as t
from trebuchet.server.store.users import hash_secret

if TYPE_CHECKING:
    from trebuchet.server.store.store import Store

DELETE_BATCH = 1000


@dataclass(frozen=True)
class Account:
    id: str
    api_token: str
    created_us: int
    disabled_us: int | None


@dataclass(frozen=True)
class AccountSummary:
    account: Account
    numbers: list[str]
    applications: int
    messages: int


@dataclass(frozen=True)
class Removed:
    """What deleting a user removed (rows), and the numbers returned to the inventory."""

    messages: int
    events: int
    applications: int
    numbers: list[str]


def _account(row: Mapping[Any, Any]) -> Account:
    return Account(
        id=row["id"],
        api_token=row["api_token"],
        created_us=row["created_us"],
        disabled_us=row["disabled_us"],
    )


class Accounts:
    def __init__(self, store: Store):
        self._store = store

    async def list(self, *, after: str | None, limit: int) -> list[Account]:
        """Users in id order, after the id ``after`` (keyset)."""
        query = select(t.users).order_by(t.users.c.id).limit(limit)
        if after is not None:
            query = query.where(t.users.c.id > after)
        async with self._store.read() as conn:
            return [_account(row) for row in (await conn.execute(query)).mappings()]

    async def get(self, user_id: str) -> Account | None:
        async with self._store.read() as conn:
            row = (
                (await conn.execute(select(t.users).where(t.users.c.id == user_id)))
                .mappings()
                .first()
            )
        return None if row is None else _account(row)

    async def summary(self, user_id: str) -> AccountSummary | None:
        account = await self.get(user_id)
        if account is None:
            return None
        numbers = select(t.phone_numbers.c.number).where(
            t.phone_numbers.c.user_id == user_id,
            t.phone_numbers.c.number_state == NumberState.ENABLED,
        )
        apps = select(func.count()).where(t.applications.c.user_id == user_id)
        messages = select(func.count()).where(t.messages.c.user_id == user_id)
        async with self._store.read() as conn:
            held = sorted((await conn.execute(numbers)).scalars())
            app_count = int(await conn.scalar(apps) or 0)
            message_count = int(await conn.scalar(messages) or 0)
        return AccountSummary(account, held, app_count, message_count)

    async def set_disabled(self, user_id: str, disabled: bool) -> Account | None:
        """Disable (or enable) a user; ``None`` when there is no such user.  Disabling a
        disabled user keeps the first time."""
        when = now_us() if disabled else None
        query = update(t.users).where(t.users.c.id == user_id)
        if disabled:
            query = query.where(t.users.c.disabled_us.is_(None))
        async with self._store.write() as conn:
            await conn.execute(query.values(disabled_us=when))
        return await self.get(user_id)

    async def rotate_secret(self, user_id: str) -> str | None:
        """A new API secret (stored hashed, answered once); the old one stops working."""
        secret = new_secret()
        async with self._store.write() as conn:
            result = await conn.execute(
                update(t.users)
                .where(t.users.c.id == user_id)
                .values(secret_hash=hash_secret(secret))
            )
        return secret if result.rowcount else None

    async def delete(self, user_id: str) -> Removed | None:
        """Delete the user and everything they own; ``None`` when there is no such user."""
        if await self.get(user_id) is None:
            return None
        messages = events = 0
        while True:
            async with self._store.write() as conn:
                batch = await _delete_message_batch(conn, user_id)
            if batch is None:
                break
            messages += batch[0]
            events += batch[1]
        async with self._store.write() as conn:
            events += await _delete_events(conn, t.events.c.user_id == user_id)
            apps = await conn.execute(
                delete(t.applications).where(t.applications.c.user_id == user_id)
            )
            for table in (t.idempotency_keys, t.user_errors):
                await conn.execute(delete(table).where(table.c.user_id == user_id))
            numbers = await _return_numbers(conn, user_id)
            await conn.execute(delete(t.users).where(t.users.c.id == user_id))
        return Removed(messages, events, apps.rowcount, numbers)


async def _delete_events(conn: AsyncConnection, where: Any) -> int:
    ids = select(t.events.c.id).where(where).scalar_subquery()
    await conn.execute(delete(t.event_attempts).where(t.event_attempts.c.event_id.in_(ids)))
    return int((await conn.execute(delete(t.events).where(where))).rowcount)


async def _delete_message_batch(conn: AsyncConnection, user_id: str) -> tuple[int, int] | None:
    """Up to :data:`DELETE_BATCH` of the user's messages with what hangs on them."""
    query = select(t.messages.c.id).where(t.messages.c.user_id == user_id).limit(DELETE_BATCH)
    ids = list((await conn.execute(query)).scalars())
    if not ids:
        return None
    events = await _delete_events(conn, t.events.c.message_id.in_(ids))
    await conn.execute(delete(t.carrier_refs).where(t.carrier_refs.c.message_id.in_(ids)))
    await conn.execute(delete(t.messages).where(t.messages.c.id.in_(ids)))
    return len(ids), events


async def _return_numbers(conn: AsyncConnection, user_id: str) -> list[str]:
    c = t.phone_numbers.c
    held = select(c.number).where(c.user_id == user_id, c.number_state == NumberState.ENABLED)
    numbers = sorted((await conn.execute(held)).scalars())
    await conn.execute(
        update(t.phone_numbers)
        .where(c.user_id == user_id, c.number_state == NumberState.ENABLED)
        .values(
            user_id=None,
            number_state=NumberState.AVAILABLE,
            name=None,
            application_id=None,
            fallback_number=None,
        )
    )
    # A released number stays released (never added again) but names no holder.
    await conn.execute(update(t.phone_numbers).where(c.user_id == user_id).values(user_id=None))
    return numbers
