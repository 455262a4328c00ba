"""The delivery engine's view of the store, all of it async: the one thing the engine
and the callback dispatcher call.

Its SQL lives in modules named for their part, as plain synchronous functions on a
blocking ``Connection`` that run in one transaction through :meth:`Store.claim` or
:meth:`Store.transact` (on SQLite, on the writer thread; on PostgreSQL, ``run_sync`` on a
pooled connection):

* :mod:`.claims`: claiming due messages and events, renewing leases, sender slots;
* :mod:`.finishes`: a worker's fenced last write to each leased item, in batches;
* :mod:`.events`: the outbox's events and their delivery attempts, added with what
  caused them;
* :mod:`.arrivals`: inbound arrivals and pushed receipts, decided by the engine from rows
  read in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.engine import Connection

from trebuchet.server.store import tables as t
from trebuchet.server.store.arrivals import (
    Change,
    NewMessage,
    Recipients,
    change_message,
    receive,
)
from trebuchet.server.store.claims import (
    CLAIM_EVENTS,
    CLAIM_MESSAGES,
    WINDOW_PER_CLAIMED,
    any_due,
    claim_rows,
    extend_leases,
    next_due,
    reserve_slot,
)
from trebuchet.server.store.finishes import Finish, finish_leased
from trebuchet.server.store.group_commit import Batcher
from trebuchet.server.store.message_cancels import Cancel, CancelOutcome, cancel_message
from trebuchet.server.store.opt_outs import mark_opted_out
from trebuchet.server.store.store import Store

__all__ = [
    "Cancel", "CancelOutcome", "Change", "DeliveryStore", "Finish", "NewMessage", "Recipients",
    "Row",
]  # fmt: skip

Row = Mapping[str, Any]
T = TypeVar("T")
# ``order_hold`` for strict sequence order: an earlier pending event always holds.
STRICT_ORDER = 2**31 - 1


class DeliveryStore:
    """Claiming, fencing, the outbox and its attempts, arrivals and receipts."""

    def __init__(self, store: Store):
        self.store = store
        self._dialect = store.dialect
        self._message_finishes: Batcher[Finish, bool] = Batcher(self._finish_messages)
        self._event_finishes: Batcher[Finish, bool] = Batcher(self._finish_events)

    # -- messages to send --------------------------------------------------------------

    async def claim_messages(self, owner: str, limit: int, now: int, lease_us: int) -> list[Row]:
        """Lease up to ``limit`` due messages; those whose recipient opted out of their
        sender are marked (``opt_outs.OPTED_OUT``), read in the claim's transaction."""
        return await self._claim(
            t.messages, CLAIM_MESSAGES, owner, limit, now, lease_us, checked=mark_opted_out
        )

    async def finish_message(self, finish: Finish) -> bool:
        """Apply ``finish`` to its message in the next batch; False if the lease was lost."""
        return await self._message_finishes.submit(finish)

    async def _finish_messages(self, batch: Sequence[Finish]) -> list[bool]:
        return await self.store.transact(lambda conn: finish_leased(conn, t.messages, batch))

    async def next_message_due(self, now: int) -> int | None:
        """When the next scheduled or retried message becomes due (µs), or None."""
        return await self._next_due(t.messages, now)

    async def extend_message_leases(self, owner: str, ids: Sequence[str], until: int) -> int:
        """Renew the leases ``owner`` holds on ``ids`` (the items it is working on)."""
        return await self._extend(t.messages, owner, ids, until)

    async def reserve_slot(self, number: str, now: int, interval_us: int) -> int:
        """The start of the send slot reserved for one message from ``number``."""
        end = await self.store.transact(lambda conn: reserve_slot(conn, number, now, interval_us))
        return end - interval_us

    # -- events to deliver -------------------------------------------------------------

    async def claim_events(
        self,
        owner: str,
        limit: int,
        now: int,
        lease_us: int,
        *,
        per_destination: int,
        per_user: int,
        order_hold: int = STRICT_ORDER,
    ) -> list[Row]:
        """Lease up to ``limit`` due events, keeping the callbacks in flight (live leases of
        every worker) within ``per_destination`` per receiver and ``per_user`` per user.
        An earlier pending event of the same message holds an event back while it has
        started fewer than ``order_hold`` rounds."""
        return await self._claim(
            t.events, CLAIM_EVENTS, owner, limit, now, lease_us,
            per_destination=per_destination, per_user=per_user,
            window=limit * WINDOW_PER_CLAIMED, hold=order_hold,
        )  # fmt: skip

    async def finish_event(self, finish: Finish) -> bool:
        """Apply ``finish`` to its event in the next batch; False if the lease was lost."""
        return await self._event_finishes.submit(finish)

    async def _finish_events(self, batch: Sequence[Finish]) -> list[bool]:
        return await self.store.transact(lambda conn: finish_leased(conn, t.events, batch))

    async def next_event_due(self, now: int) -> int | None:
        """When the next retried event becomes due (µs), or None."""
        return await self._next_due(t.events, now)

    async def extend_event_leases(self, owner: str, ids: Sequence[str], until: int) -> int:
        return await self._extend(t.events, owner, ids, until)

    async def callback_secrets(self, user_ids: Sequence[str]) -> dict[str, str | None]:
        """The users' secrets that sign their callbacks."""
        return await self.store.users.callback_secrets(user_ids)

    # -- what reaches a message from outside -------------------------------------------

    async def change_message(self, message_id: str, decide: Callable[[Row], Change | None]) -> bool:
        """Lock the message and write what ``decide`` makes of its row, with the events it
        queues, in one transaction; False when it is unknown or ``decide`` answers None.
        ``decide`` runs inside the transaction (on SQLite, on the writer thread)."""
        return await self.store.transact(lambda conn: change_message(conn, message_id, decide))

    async def cancel_message(
        self,
        user_id: str,
        message_id: str,
        now: int,
        events_for: Callable[[Row], Sequence[Mapping[str, Any]]],
    ) -> Cancel:
        """Cancel a message that has not reached a carrier, with the events
        ``events_for`` makes of the cancelled row, in one transaction
        (:mod:`.message_cancels`)."""
        return await self.store.transact(
            lambda conn: cancel_message(conn, user_id, message_id, now, events_for)
        )

    async def receive(
        self,
        to_numbers: Iterable[str],
        origin_ids: Sequence[str],
        plan: Callable[[Recipients], tuple[T, Sequence[NewMessage]]],
    ) -> T:
        """Store a batch of arrivals in one transaction: ``plan`` makes the messages to
        store (each once, by id) from the :class:`Recipients` read first; answers what
        ``plan`` answered besides.  ``plan`` runs inside the transaction."""
        return await self.store.transact(lambda conn: receive(conn, to_numbers, origin_ids, plan))

    # -- shared ------------------------------------------------------------------------

    async def _claim(
        self,
        table: Table,
        sql: Mapping[str, str],
        owner: str,
        limit: int,
        now: int,
        lease_us: int,
        checked: Callable[[Connection, list[Row]], list[Row]] = lambda conn, rows: rows,
        **extra: int,
    ) -> list[Row]:
        params = {"owner": owner, "until": now + lease_us, "now": now, "limit": limit, **extra}
        statement = sql[self._dialect]
        return await self.store.claim(
            lambda conn: any_due(conn, table, now),
            lambda conn: checked(conn, claim_rows(conn, statement, params)),
        )

    async def _next_due(self, table: Table, now: int) -> int | None:
        async with self.store.read() as conn:
            return await conn.run_sync(lambda sync: next_due(sync, table, now))

    async def _extend(self, table: Table, owner: str, ids: Sequence[str], until: int) -> int:
        if not ids:
            return 0
        return await self.store.transact(lambda conn: extend_leases(conn, table, owner, ids, until))
