"""Users: their API credentials and callback secrets."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select

from trebuchet.server.domain.ids import new_id, new_secret
from trebuchet.server.domain.times import now_us
from trebuchet.server.store import tables as t
from trebuchet.server.store.inventory import take_number
from trebuchet.server.store.records import NewUser, User

if TYPE_CHECKING:
    from trebuchet.server.store.store import Store


def hash_secret(secret: str) -> str:
    # API secrets are 192-bit random tokens, so a fast hash is as safe as a slow one and
    # keeps per-request authentication cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)


class Users:
    def __init__(self, store: Store):
        self._store = store

    async def create(self, numbers: Sequence[str] = ()) -> NewUser:
        secret = new_secret()
        user = User(
            id=new_id("u"),
            api_token=new_id("t"),
            secret_hash=hash_secret(secret),
            callback_secret=new_secret(),
        )
        async with self._store.write() as conn:
            await conn.execute(
                insert(t.users).values(
                    id=user.id,
                    api_token=user.api_token,
                    secret_hash=user.secret_hash,
                    callback_secret=user.callback_secret,
                    created_us=now_us(),
                )
            )
            for number in numbers:
                await take_number(conn, user.id, {"number": number})
        return NewUser(user=user, api_secret=secret, numbers=list(numbers))

    async def by_token(self, token: str) -> User | None:
        """The token's user; a disabled user's token authenticates nobody (``accounts.py``)."""
        active = (t.users.c.api_token == token) & t.users.c.disabled_us.is_(None)
        async with self._store.read() as conn:
            row = (await conn.execute(select(t.users).where(active))).mappings().first()
        return None if row is None else _user(row)

    async def get(self, user_id: str) -> User | None:
        async with self._store.read() as conn:
            row = (await conn.execute(select(t.users).where(t.users.c.id == user_id))).mappings()
            first = row.first()
        return None if first is None else _user(first)

    async def count(self) -> int:
        async with self._store.read() as conn:
            return int(await conn.scalar(select(func.count()).select_from(t.users)) or 0)

    async def callback_secrets(self, user_ids: Sequence[str]) -> dict[str, str | None]:
        if not user_ids:
            return {}
        query = select(t.users.c.id, t.users.c.callback_secret).where(
            t.users.c.id.in_(sorted(set(user_ids)))
        )
        async with self._store.read() as conn:
            return {row.id: row.callback_secret for row in await conn.execute(query)}


def _user(row: Mapping[Any, Any]) -> User:
    return User(
        id=row["id"],
        api_token=row["api_token"],
        secret_hash=row["secret_hash"],
        callback_secret=row["callback_secret"],
    )
