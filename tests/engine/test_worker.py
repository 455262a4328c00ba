"""The worker loop on its own, over an in-memory queue: bounded concurrency, run until
idle, heartbeats only for items in flight, a crashing item does not stop the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from trebuchet.server.engine.worker import Worker


class MemoryQueue:
    name = "memory"

    def __init__(self, count: int, *, hold: asyncio.Event | None = None, poison: str = ""):
        self.due = [{"id": f"i{n}"} for n in range(count)]
        self.done: list[str] = []
        self.running = 0
        self.peak = 0
        self.beats: list[list[str]] = []
        self._hold = hold
        self._poison = poison

    async def claim(self, owner: str, limit: int) -> Sequence[dict[str, Any]]:
        taken, self.due = self.due[:limit], self.due[limit:]
        return taken

    async def process(self, owner: str, item: dict[str, Any]) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            if item["id"] == self._poison:
                raise RuntimeError("poison")
            if self._hold is not None:
                await self._hold.wait()
            await asyncio.sleep(0)
            self.done.append(item["id"])
        finally:
            self.running -= 1

    async def heartbeat(self, owner: str, ids: Sequence[str]) -> None:
        self.beats.append(sorted(ids))


def _worker(queue: MemoryQueue, concurrency: int = 4, heartbeat: float = 60) -> Worker[Any]:
    return Worker(queue, concurrency=concurrency, poll_interval=0.01, heartbeat_interval=heartbeat)


async def test_run_until_idle_processes_everything_within_the_bound() -> None:
    queue = MemoryQueue(50)
    worker = _worker(queue)
    assert await worker.run_until_idle() == 50
    assert sorted(queue.done) == sorted(f"i{n}" for n in range(50))
    assert queue.peak <= 4
    assert await worker.run_until_idle() == 0


async def test_a_crashing_item_is_logged_and_the_rest_go_on(caplog: Any) -> None:
    queue = MemoryQueue(5, poison="i2")
    assert await _worker(queue).run_until_idle() == 5
    assert "i2" not in queue.done and len(queue.done) == 4
    assert "processing failed" in caplog.text


async def test_heartbeats_name_only_the_items_in_flight() -> None:
    hold = asyncio.Event()
    queue = MemoryQueue(2, hold=hold)
    worker = _worker(queue, concurrency=8, heartbeat=0.01)
    running = asyncio.create_task(worker.run())
    for _ in range(500):
        if queue.beats:
            break
        await asyncio.sleep(0.01)
    hold.set()
    worker.stop()
    await asyncio.wait_for(running, 5)
    assert queue.beats and queue.beats[0] == ["i0", "i1"]
    assert sorted(queue.done) == ["i0", "i1"]  # stop() drained them


async def test_stop_before_run_returns_at_once() -> None:
    worker = _worker(MemoryQueue(3))
    worker.stop()
    await asyncio.wait_for(worker.run(), 1)


async def test_a_short_claim_waits_for_a_change_before_claiming_again() -> None:
    """A claim that brings fewer items than asked means the store has no more to give
    now: the worker looks again when one of them finishes or work arrives, not at once
    (each empty look is a query that reads past everything held back)."""
    hold = asyncio.Event()
    queue = MemoryQueue(3, hold=hold)
    claims: list[int] = []
    claim = queue.claim

    async def counted(owner: str, limit: int) -> Sequence[dict[str, Any]]:
        taken = await claim(owner, limit)
        claims.append(len(taken))
        return taken

    queue.claim = counted  # type: ignore[method-assign]
    worker = Worker(queue, concurrency=8, poll_interval=60, heartbeat_interval=60, batch=5)
    running = asyncio.create_task(worker.run())
    for _ in range(100):
        await asyncio.sleep(0.01)
    assert claims == [3]  # three of five: no second look while they are in flight
    queue.due.append({"id": "late"})
    worker.wake()  # new work arrived
    for _ in range(100):
        if len(claims) > 1:
            break
        await asyncio.sleep(0.01)
    assert claims == [3, 1]
    hold.set()  # all four finish: each finish is a change, so the worker looks again
    for _ in range(100):
        if len(queue.done) == 4 and len(claims) > 2:
            break
        await asyncio.sleep(0.01)
    worker.stop()
    await asyncio.wait_for(running, 5)
    assert sorted(queue.done) == ["i0", "i1", "i2", "late"]
    assert claims[2:] and not any(claims[2:])  # after they finished: empty looks only
