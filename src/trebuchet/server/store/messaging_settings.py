"""A user's messaging settings (smart encoding by default, the opt-out scope) and each
number's opt-out settings (who handles opt-outs, auto-replies).  Missing rows are the
defaults, so users and numbers from before these settings need nothing written."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from trebuchet.server.domain.keywords import OptOutHandling, OptOutScope
from trebuchet.server.store import tables as t

if TYPE_CHECKING:
    from trebuchet.server.store.store import Store


@dataclass(frozen=True)
class UserSettings:
    smart_encoding: bool = False
    opt_out_scope: OptOutScope = OptOutScope.NUMBER


@dataclass(frozen=True)
class NumberSettings:
    opt_out_handling: OptOutHandling = OptOutHandling.PLATFORM
    auto_replies: bool = True


def _user_settings(row: Mapping[Any, Any] | None) -> UserSettings:
    if row is None:
        return UserSettings()
    return UserSettings(bool(row["smart_encoding"]), OptOutScope(row["opt_out_scope"]))


def _number_settings(row: Mapping[Any, Any] | None) -> NumberSettings:
    if row is None:
        return NumberSettings()
    return NumberSettings(OptOutHandling(row["opt_out_handling"]), bool(row["auto_replies"]))


def _upsert(dialect: str, table: Any, row: Mapping[str, Any], keys: Iterable[str]) -> Any:
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    base = dialect_insert(table).values(**row)
    values = {name: value for name, value in row.items() if name not in set(keys)}
    return base.on_conflict_do_update(index_elements=list(keys), set_=values)


class MessagingSettings:
    def __init__(self, store: Store):
        self._store = store

    async def user(self, user_id: str) -> UserSettings:
        query = select(t.messaging_settings).where(t.messaging_settings.c.user_id == user_id)
        async with self._store.read() as conn:
            return _user_settings((await conn.execute(query)).mappings().first())

    async def set_user(self, user_id: str, settings: UserSettings) -> None:
        row = {"user_id": user_id, **asdict(settings)}
        async with self._store.write() as conn:
            await conn.execute(_upsert(conn.dialect.name, t.messaging_settings, row, ["user_id"]))

    async def number(self, user_id: str, number: str) -> NumberSettings:
        c = t.number_settings.c
        query = select(t.number_settings).where(c.user_id == user_id, c.number == number)
        async with self._store.read() as conn:
            return _number_settings((await conn.execute(query)).mappings().first())

    async def set_number(self, user_id: str, number: str, settings: NumberSettings) -> None:
        row = {"user_id": user_id, "number": number, **asdict(settings)}
        async with self._store.write() as conn:
            statement = _upsert(conn.dialect.name, t.number_settings, row, ["user_id", "number"])
            await conn.execute(statement)


def settings_for(
    conn: Connection, numbers: Iterable[Mapping[str, Any]]
) -> tuple[dict[str, UserSettings], dict[str, NumberSettings]]:
    """The settings of the owners of ``numbers`` (phone number rows) by user id, and of
    the numbers themselves by number, read in the caller's transaction."""
    owned = [(row["user_id"], row["number"]) for row in numbers]
    if not owned:
        return {}, {}
    u, n = t.messaging_settings.c, t.number_settings.c
    user_ids = sorted({user_id for user_id, _ in owned})
    users = {row["user_id"]: _user_settings(row) for row in conn.execute(
        select(t.messaging_settings).where(u.user_id.in_(user_ids))).mappings()}  # fmt: skip
    found = conn.execute(
        select(t.number_settings).where(n.number.in_(sorted({num for _, num in owned})))
    ).mappings()
    mine = set(owned)
    by_number = {
        row["number"]: _number_settings(row)
        for row in found
        if (row["user_id"], row["number"]) in mine
    }
    return (
        {user_id: users.get(user_id, UserSettings()) for user_id in user_ids},
        {number: by_number.get(number, NumberSettings()) for _, number in owned},
    )
