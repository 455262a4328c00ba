"""Leased work: what every queue of due rows does around its own processing.

A worker (``engine/worker.py``) claims due rows by leasing them, renews the leases of
the rows it still works on (the heartbeat), and finishes each one with a write fenced on
its lease (:class:`~trebuchet.server.store.delivery.Finish`).  :class:`LeasedQueue` does
those three for one kind of row the delivery store leases (:class:`Leasing`); the send
queue and the event queue subclass it with what they do to an item (``process``) and,
where they need it, what they look up for a claimed batch (``claimed``).

An item whose processing raised is handed to :meth:`LeasedQueue.crashed`: it is released
with a backoff, and parked once it has crashed ``crash_policy.max_crashes`` times
(``domain/dead_letters.py``).  A fault of the store itself is no crash: its lease runs
out and it is claimed again when the store answers.  An item claimed more often than that
bound without ever being finished (each process that took it died) is parked by
:meth:`LeasedQueue.claim` instead of being processed.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from trebuchet.server.domain.clock import Clock
from trebuchet.server.domain.dead_letters import (
    PROCESSING_ABANDONED,
    PROCESSING_CRASHED,
    CrashPolicy,
    abandoned_summary,
    crash_summary,
)
from trebuchet.server.domain.times import US
from trebuchet.server.store.faults import unavailable_reason
from trebuchet.server.store.finishes import Finish

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Leasing:
    """The delivery store's calls for one kind of leased row."""

    # (owner, limit, now, lease_us) -> the rows leased to owner until now + lease_us
    claim: Callable[[str, int, int, int], Awaitable[Sequence[Row]]]
    # (owner, ids, until) -> how many leases were renewed
    extend: Callable[[str, Sequence[str], int], Awaitable[int]]
    # False when the lease was lost and nothing was written
    finish: Callable[[Finish], Awaitable[bool]]
    # (now) -> when the next row not yet due becomes due, or None
    next_due: Callable[[int], Awaitable[int | None]] | None = None


class LeasedQueue:
    """A work queue (``engine/worker.py`` ``WorkQueue``) over leased rows.

    Subclasses name the queue and their items, and say what a new owner does with an
    item whose lease this worker lost (for the log).
    """

    name: str
    noun: ClassVar[str]
    lost_note: ClassVar[str]
    log: ClassVar[logging.Logger]
    # The engine sets it from the settings (``crash_max_attempts``).
    crash_policy: CrashPolicy = CrashPolicy()

    def __init__(self, leasing: Leasing, clock: Clock, lease_us: int):
        self._leasing = leasing
        self._clock = clock
        self._lease_us = lease_us
        self.crash_draw: Callable[[], float] = random.random

    async def claim(self, owner: str, limit: int) -> Sequence[Row]:
        """Lease up to ``limit`` due items; those claimed too often without finishing are
        parked here and left out of the answer."""
        rows = await self._leasing.claim(owner, limit, self._clock.now_us(), self._lease_us)
        policy = self.crash_policy
        abandoned = [row for row in rows if policy.abandoned(int(row.get("claims") or 0))]
        for row in abandoned:
            await self._park_abandoned(owner, row)
        if abandoned:
            rows = [row for row in rows if not policy.abandoned(int(row.get("claims") or 0))]
        await self.claimed(rows)
        return rows

    async def release(self, owner: str, items: Sequence[Row]) -> None:
        """Give back claimed items not processed: the lease goes, and the claim's count
        and attempt are taken back (the claim added one to each)."""
        for item in items:
            await self.finish(Finish(item["id"], owner, self.unclaimed(item)))

    def unclaimed(self, item: Row) -> dict[str, Any]:
        """The columns that take back the claim of ``item`` (its count and attempt)."""
        return {
            "claims": max(0, int(item.get("claims") or 0) - 1),
            "attempts": max(0, int(item.get("attempts") or 0) - 1),
        }

    async def _park_abandoned(self, owner: str, item: Row) -> None:
        claims = int(item.get("claims") or 0)
        summary = abandoned_summary(claims)
        crashes = int(item.get("crashes") or 0)
        values, error = self.parked(
            item, self._clock.now_us(), summary, crashes, PROCESSING_ABANDONED
        )
        self.log.error("%s %s parked: %s", self.noun, item["id"], summary)
        await self.finish(Finish(item["id"], owner, values, user_errors=[error]))

    async def due_in(self) -> float | None:
        """Seconds until the next item not yet due becomes due (a scheduled send, a
        retry), or None when none waits or the store cannot tell."""
        if self._leasing.next_due is None:
            return None
        now = self._clock.now_us()
        due = await self._leasing.next_due(now)
        return None if due is None else max(0.0, (due - now) / US)

    async def claimed(self, rows: Sequence[Row]) -> None:
        """Called with every claimed batch before its items are processed."""

    async def process(self, owner: str, item: Row) -> None:
        raise NotImplementedError

    def parked(
        self, item: Row, now: int, summary: str, crashes: int, code: str = PROCESSING_CRASHED
    ) -> tuple[dict[str, Any], dict[str, object]]:
        """A parked item's new columns and its user error (``domain/dead_letters.py``),
        with ``code`` saying why it was parked."""
        raise NotImplementedError

    async def heartbeat(self, owner: str, ids: Sequence[str]) -> None:
        until = self._clock.now_us() + self._lease_us
        await self._leasing.extend(owner, ids, until)

    async def finish(self, finish: Finish) -> bool:
        """Write ``finish`` while the lease holds; False (and a warning) when it was lost."""
        if await self._leasing.finish(finish):
            return True
        self.log.warning("%s %s: lease lost; %s", self.noun, finish.id, self.lost_note)
        return False

    async def crashed(self, owner: str, item: Row, exc: Exception) -> None:
        """Release ``item`` to be tried again later, or park it after its last crash."""
        if unavailable_reason(exc) is not None:
            return  # the store's fault, not the item's: the lease runs out
        crashes = int(item.get("crashes") or 0) + 1
        now = self._clock.now_us()
        summary = crash_summary(exc)
        due = self.crash_policy.next_due_us(crashes, now, self.crash_draw())
        if due is not None:
            await self.finish(Finish(item["id"], owner, {"crashes": crashes, "due_us": due}))
            return
        values, error = self.parked(item, now, summary, crashes)
        self.log.error("%s %s parked after %d crashes: %s", self.noun, item["id"], crashes,
                       summary)  # fmt: skip
        await self.finish(
            Finish(item["id"], owner, {"crashes": crashes, **values}, user_errors=[error])
        )
