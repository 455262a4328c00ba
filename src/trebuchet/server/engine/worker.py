"""A worker: claim due items, process them with bounded concurrency, keep leases alive.

One class, one small loop.  Items are claimed a batch per statement (``batch``) until
``concurrency`` are in flight, each processed in its own task.  ``run()`` works until
:meth:`Worker.stop`, then drains what it holds; ``run_until_idle()`` returns as soon as
nothing is due and nothing is in flight, so tests step the engine deterministically
instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger("trebuchet.engine")
# Items per claim: with more in flight, batches overlap, each at its own step.
DEFAULT_BATCH = 100

Item = TypeVar("Item", bound=Mapping[str, Any])


class WorkQueue(Protocol[Item]):
    """A kind of due work in the store (messages to send, events to deliver).

    Items are rows with an ``id``.
    """

    name: str

    async def claim(self, owner: str, limit: int) -> Sequence[Item]: ...

    async def process(self, owner: str, item: Item) -> None: ...

    async def heartbeat(self, owner: str, ids: Sequence[str]) -> None:
        """Extend the leases ``owner`` holds on ``ids``, the items still in flight.

        An item whose processing crashed is not among them.
        """
        ...

    async def crashed(self, owner: str, item: Item, exc: Exception) -> None:
        """Processing ``item`` raised ``exc``: try it again later, or park it for good."""
        ...

    async def due_in(self) -> float | None:
        """Seconds until the next item not yet due becomes due, or None (unknown)."""
        ...


class Worker(Generic[Item]):
    def __init__(
        self,
        queue: WorkQueue[Item],
        *,
        concurrency: int,
        poll_interval: float,
        heartbeat_interval: float,
        batch: int = DEFAULT_BATCH,
        owner: str | None = None,
        listening: Callable[[], bool] = lambda: False,
        listening_interval: float | None = None,
    ):
        """``listening`` tells whether new work wakes the worker from other processes too
        (PostgreSQL's LISTEN works); while it does, an idle worker looks every
        ``listening_interval`` seconds rather than every ``poll_interval``."""
        self.queue = queue
        self.concurrency = concurrency
        self.batch = batch
        self.poll_interval = poll_interval
        self.listening = listening
        self.listening_interval = listening_interval or poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.owner = owner or f"{queue.name}-{uuid.uuid4().hex[:16]}"
        self.processed = 0
        self._tasks: dict[asyncio.Task[None], str] = {}
        self._changed = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Look for work now instead of at the next poll."""
        self._changed.set()

    def stop(self) -> None:
        self._stopping = True
        self._changed.set()

    async def run(self) -> None:
        await self._loop(until_idle=False)

    async def run_until_idle(self) -> int:
        """Work until nothing is due; answers how many items were processed."""
        before = self.processed
        await self._loop(until_idle=True)
        return self.processed - before

    async def _loop(self, *, until_idle: bool) -> None:
        heartbeats = asyncio.create_task(self._heartbeats())
        try:
            while not self._stopping:
                free = self.concurrency - len(self._tasks)
                limit = min(free, self.batch)
                claimed = await self._claim(limit) if limit > 0 else []
                for item in claimed:
                    self._spawn(item)
                if len(claimed) == free:
                    await self._wait(None)  # full: wait for a slot
                    continue
                if claimed:
                    continue  # claim the next batch while this one is in flight
                if until_idle and not self._tasks:
                    return
                await self._wait(None if until_idle else await self._idle_wait())
        finally:
            await self._drain()
            heartbeats.cancel()
            await asyncio.gather(heartbeats, return_exceptions=True)

    def idle_interval(self) -> float:
        """How long an idle worker waits for a wake-up before it looks anyway, at most."""
        return self.listening_interval if self.listening() else self.poll_interval

    async def _idle_wait(self) -> float:
        """The wait before the next look.  While listening, new work wakes the worker
        but time-based work (a scheduled send, a retry) does not: the worker asks when
        the next such item becomes due and looks then, though never sooner than
        ``poll_interval`` (time-based work is found as promptly as by polling, at least)."""
        longest = self.idle_interval()
        if not self.listening():
            return longest
        try:
            due_in = await self.queue.due_in()
        except Exception:
            log.exception("%s: asking for the next due time failed", self.queue.name)
            return self.poll_interval
        return longest if due_in is None else min(longest, max(due_in, self.poll_interval))

    async def _claim(self, limit: int) -> Sequence[Item]:
        try:
            return await self.queue.claim(self.owner, limit)
        except Exception:
            log.exception("%s: claiming failed", self.queue.name)
            return []

    def _spawn(self, item: Item) -> None:
        task = asyncio.create_task(self._process(item))
        self._tasks[task] = str(item["id"])
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        self._changed.set()

    async def _process(self, item: Item) -> None:
        try:
            await self.queue.process(self.owner, item)
        except Exception as exc:
            log.exception("%s: processing failed", self.queue.name)
            await self._crashed(item, exc)
        finally:
            self.processed += 1

    async def _crashed(self, item: Item, exc: Exception) -> None:
        # If this fails too, the lease runs out and the item is claimed again.
        try:
            await self.queue.crashed(self.owner, item, exc)
        except Exception:
            log.exception("%s: recording a crash failed", self.queue.name)

    async def _wait(self, seconds: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)
        self._changed.clear()

    async def _drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            if self._tasks:
                try:
                    await self.queue.heartbeat(self.owner, list(self._tasks.values()))
                except Exception:
                    log.exception("%s: heartbeat failed", self.queue.name)
