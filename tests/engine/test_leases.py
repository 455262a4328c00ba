"""The claim, heartbeat and finish steps the send queue and the event queue share
(``store/leases.py``), over an in-memory leasing."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from trebuchet.server.callbacks.dispatcher import EventQueue
from trebuchet.server.engine.sending import SendQueue
from trebuchet.server.store.delivery import Finish
from trebuchet.server.store.leases import LeasedQueue, Leasing

LEASE_US = 30_000_000


class FixedClock:
    def __init__(self, now: int) -> None:
        self.now = now

    def now_us(self) -> int:
        return self.now


class MemoryLeases:
    """Rows leased in a dict: id -> (owner, until)."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.due = list(ids)
        self.leases: dict[str, tuple[str, int]] = {}

    async def claim(
        self, owner: str, limit: int, now: int, lease_us: int
    ) -> list[Mapping[str, Any]]:
        taken, self.due = self.due[:limit], self.due[limit:]
        for item in taken:
            self.leases[item] = (owner, now + lease_us)
        return [{"id": item} for item in taken]

    async def extend(self, owner: str, ids: Sequence[str], until: int) -> int:
        mine = [item for item in ids if self.leases.get(item, ("", 0))[0] == owner]
        for item in mine:
            self.leases[item] = (owner, until)
        return len(mine)

    async def finish(self, finish: Finish) -> bool:
        if self.leases.get(finish.id, ("", 0))[0] != finish.owner:
            return False
        del self.leases[finish.id]
        return True


class Items(LeasedQueue):
    name = "items"
    noun = "item"
    lost_note = "its new owner takes it"
    log = logging.getLogger("trebuchet.test")

    def __init__(self, leases: MemoryLeases, clock: FixedClock) -> None:
        super().__init__(Leasing(leases.claim, leases.extend, leases.finish), clock, LEASE_US)
        self.batches: list[list[str]] = []

    async def claimed(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.batches.append([row["id"] for row in rows])


async def test_claim_leases_until_now_plus_the_lease_and_calls_the_hook() -> None:
    leases, clock = MemoryLeases(["a", "b", "c"]), FixedClock(1_000)
    queue = Items(leases, clock)
    rows = await queue.claim("w1", 2)
    assert [row["id"] for row in rows] == ["a", "b"]
    assert leases.leases == {"a": ("w1", 1_000 + LEASE_US), "b": ("w1", 1_000 + LEASE_US)}
    assert queue.batches == [["a", "b"]]


async def test_heartbeat_renews_from_the_clock_now() -> None:
    leases, clock = MemoryLeases(["a"]), FixedClock(1_000)
    queue = Items(leases, clock)
    await queue.claim("w1", 10)
    clock.now = 5_000
    await queue.heartbeat("w1", ["a"])
    assert leases.leases["a"] == ("w1", 5_000 + LEASE_US)


async def test_a_finish_without_the_lease_is_refused_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    leases = MemoryLeases(["a"])
    queue = Items(leases, FixedClock(1_000))
    await queue.claim("w1", 1)
    assert not await queue.finish(Finish("a", "w2", {}))
    assert "item a: lease lost; its new owner takes it" in caplog.text
    assert await queue.finish(Finish("a", "w1", {}))


def test_the_send_and_event_queues_share_the_leased_steps() -> None:
    for queue in (SendQueue, EventQueue):
        assert issubclass(queue, LeasedQueue)
        for step in ("claim", "heartbeat", "finish"):
            assert step not in vars(queue), f"{queue.__name__} repeats {step}"
