"""The operator's inventory of phone numbers.

Every number the platform knows is one row of ``phone_numbers`` in one of three states:

    available --assign--> enabled (a user's) --release--> released
        ^                     |                               (never added again)
        +-------unassign------+

The operator adds numbers (optionally assigning them at once), assigns, unassigns and
releases them with the CLI or the admin API.  A user's ``DELETE /phoneNumbers/{id}``
releases the number too.  A user may claim a number with ``POST /phoneNumbers`` only
when self-service is on (:meth:`Inventory.claim`); otherwise ordering succeeds only for a
number the operator has already assigned to that user.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from trebuchet.server.domain.ids import new_id
from trebuchet.server.domain.states import NumberState
from trebuchet.server.domain.times import now_us
from trebuchet.server.store import tables as t
from trebuchet.server.store.records import Conflict

if TYPE_CHECKING:
    from trebuchet.server.store.store import Store

Row = Mapping[Any, Any]
STATES = tuple(state.value for state in NumberState)


def released_columns() -> dict[str, Any]:
    """What releasing a number sets, whoever releases it (the user or the operator)."""
    return {"number_state": NumberState.RELEASED, "released_us": now_us(), "application_id": None}


# What a number's holder set on it; cleared when the number leaves them.
_HOLDER_COLUMNS = {"name": None, "application_id": None, "fallback_number": None}


class NumberReleased(Conflict):
    """The number was released; a released number is never added again."""

    def __init__(self, number: str):
        super().__init__(f"the number {number} was released and cannot be added again")


class NumberTaken(Conflict):
    """The number is assigned to another user."""

    def __init__(self, number: str, holder: str):
        super().__init__(f"the number {number} is already allocated (to {holder})")
        self.holder = holder


class NumberUnavailable(Exception):
    """A user asked for a number that is not theirs while self-service is off."""

    def __init__(self, number: str):
        super().__init__(f"the number {number} is not assigned to this user")


class UnknownNumber(LookupError):
    def __init__(self, number: str):
        super().__init__(f"the number {number} is not in the inventory")


class UnknownUser(LookupError):
    def __init__(self, user_id: str):
        super().__init__(f"no user {user_id}")


async def _row(conn: AsyncConnection, number: str) -> Row | None:
    query = select(t.phone_numbers).where(t.phone_numbers.c.number == number).with_for_update()
    return (await conn.execute(query)).mappings().first()


async def _insert(conn: AsyncConnection, user_id: str | None, values: Row) -> Row:
    row = {
        "id": new_id("n"),
        "user_id": user_id,
        "number_state": NumberState.ENABLED if user_id else NumberState.AVAILABLE,
        "created_us": now_us(),
        "name": None,
        "application_id": None,
        "fallback_number": None,
        "city": None,
        "state": None,
        "price": None,
        "released_us": None,
        **values,
    }
    try:
        async with conn.begin_nested():
            await conn.execute(insert(t.phone_numbers).values(row))
    except IntegrityError as exc:  # added at the same moment by someone else
        raise Conflict(f"the number {values['number']} is already allocated") from exc
    return row


async def _set(conn: AsyncConnection, row: Row, changes: Row) -> Row:
    await conn.execute(
        update(t.phone_numbers).where(t.phone_numbers.c.id == row["id"]).values(dict(changes))
    )
    return {**row, **changes}


async def take_number(conn: AsyncConnection, user_id: str, values: Row) -> Row:
    """Give ``values["number"]`` to ``user_id``, with ``values`` set on it: added when the
    inventory does not have it, assigned when it is available, updated when it is already
    theirs.  Raises :class:`NumberTaken` or :class:`NumberReleased`."""
    number = values["number"]
    row = await _row(conn, number)
    if row is None:
        return await _insert(conn, user_id, values)
    if row["number_state"] == NumberState.RELEASED:
        raise NumberReleased(number)
    if row["number_state"] == NumberState.ENABLED and row["user_id"] != user_id:
        raise NumberTaken(number, row["user_id"])
    return await _set(
        conn, row, {**values, "user_id": user_id, "number_state": NumberState.ENABLED}
    )


class Inventory:
    """Operator and user operations on numbers, over a :class:`Store`."""

    def __init__(self, store: Store):
        self.store = store

    async def _check_user(self, user_id: str) -> None:
        if await self.store.users.get(user_id) is None:
            raise UnknownUser(user_id)

    async def add(self, numbers: Iterable[str], user_id: str | None = None) -> list[Row]:
        """Add numbers that the inventory has never held, all or none, each assigned to
        ``user_id`` when given.  Raises :class:`Conflict` (or :class:`NumberReleased`)
        for a number it already holds."""
        if user_id is not None:
            await self._check_user(user_id)
        added = []
        async with self.store.write() as conn:
            for number in numbers:
                row = await _row(conn, number)
                if row is not None and row["number_state"] == NumberState.RELEASED:
                    raise NumberReleased(number)
                if row is not None:
                    holder = f"assigned to {row['user_id']}" if row["user_id"] else "available"
                    raise Conflict(f"the number {number} is already in the inventory ({holder})")
                added.append(await _insert(conn, user_id, {"number": number}))
        return added

    async def assign(self, number: str, user_id: str) -> Row:
        """Assign an available number (a no-op when it is already ``user_id``'s)."""
        await self._check_user(user_id)
        async with self.store.write() as conn:
            row = await _row(conn, number)
            if row is None:
                raise UnknownNumber(number)
            return await take_number(conn, user_id, {"number": number})

    async def unassign(self, number: str) -> Row:
        """Take a number back from its user into the inventory (available again)."""
        async with self.store.write() as conn:
            row = await _row(conn, number)
            if row is None:
                raise UnknownNumber(number)
            if row["number_state"] == NumberState.RELEASED:
                raise NumberReleased(number)
            return await _set(
                conn,
                row,
                {**_HOLDER_COLUMNS, "user_id": None, "number_state": NumberState.AVAILABLE},
            )

    async def release(self, number: str) -> Row:
        """Release a number for good (idempotent); its user can no longer use it."""
        async with self.store.write() as conn:
            row = await _row(conn, number)
            if row is None:
                raise UnknownNumber(number)
            if row["number_state"] == NumberState.RELEASED:
                return row
            return await _set(conn, row, released_columns())

    async def move(self, number: str, user_id: str) -> Row:
        """Give a number that is enabled for one user to ``user_id`` (a no-op when it is
        theirs already); what its old holder set on it is cleared.  Raises
        :class:`UnknownNumber`, :class:`UnknownUser`, or :class:`Conflict` when the number
        is not held by anyone."""
        await self._check_user(user_id)
        async with self.store.write() as conn:
            row = await _row(conn, number)
            if row is None:
                raise UnknownNumber(number)
            if row["number_state"] != NumberState.ENABLED:
                raise Conflict(f"the number {number} is {row['number_state']}, not held by a user")
            if row["user_id"] == user_id:
                return row
            return await _set(conn, row, {**_HOLDER_COLUMNS, "user_id": user_id})

    async def get(self, number: str) -> Row | None:
        async with self.store.read() as conn:
            query = select(t.phone_numbers).where(t.phone_numbers.c.number == number)
            return (await conn.execute(query)).mappings().first()

    async def list(
        self,
        *,
        state: str | None = None,
        user_id: str | None = None,
        after: str | None = None,
        limit: int,
    ) -> list[Row]:
        """Numbers in number order, after the number ``after``."""
        c = t.phone_numbers.c
        query = select(t.phone_numbers)
        if state is not None:
            query = query.where(c.number_state == state)
        if user_id is not None:
            query = query.where(c.user_id == user_id)
        if after is not None:
            query = query.where(c.number > after)
        async with self.store.read() as conn:
            return list((await conn.execute(query.order_by(c.number).limit(limit))).mappings())

    async def claim(self, user_id: str, values: Row, *, self_service: bool) -> Row:
        """A user's ``POST /phoneNumbers``: with self-service on, take any number nobody
        holds; with it off, only update a number already assigned to ``user_id``
        (:class:`NumberUnavailable` otherwise, whatever the number's state)."""
        async with self.store.write() as conn:
            if not self_service:
                row = await _row(conn, values["number"])
                if (
                    row is None
                    or row["number_state"] != NumberState.ENABLED
                    or row["user_id"] != user_id
                ):
                    raise NumberUnavailable(values["number"])
            return await take_number(conn, user_id, values)
