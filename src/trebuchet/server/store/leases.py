"""Leased work: what every queue of due rows does around its own processing.

A worker (``engine/worker.py``) claims due rows by leasing them, renews the leases of
the rows it still works on (the heartbeat), and finishes each one with a write fenced on
its lease (:class:`~trebuchet.server.store.delivery.Finish`).  :class:`LeasedQueue` does
those three for one kind of row the delivery store leases (:class:`Leasing`); the send
queue and the event queue subclass it with what they do to an item (``process``) and,
where they need it, what they look up for a claimed batch (``claimed``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from trebuchet.server.domain.clock import Clock
from trebuchet.server.store.delivery import Finish

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


class LeasedQueue:
    """A work queue (``engine/worker.py`` ``WorkQueue``) over leased rows.

    Subclasses name the queue and their items, and say what a new owner does with an
    item whose lease this worker lost (for the log).
    """

    name: str
    noun: ClassVar[str]
    lost_note: ClassVar[str]
    log: ClassVar[logging.Logger]

    def __init__(self, leasing: Leasing, clock: Clock, lease_us: int):
        self._leasing = leasing
        self._clock = clock
        self._lease_us = lease_us

    async def claim(self, owner: str, limit: int) -> Sequence[Row]:
        rows = await self._leasing.claim(owner, limit, self._clock.now_us(), self._lease_us)
        await self.claimed(rows)
        return rows

    async def claimed(self, rows: Sequence[Row]) -> None:
        """Called with every claimed batch before its items are processed."""

    async def process(self, owner: str, item: Row) -> None:
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
