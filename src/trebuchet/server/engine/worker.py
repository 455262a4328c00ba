"""A worker: claim due items, process them with bounded concurrency, keep leases alive.

One class, one small loop.  Items are claimed a batch per statement (``batch``) until
``concurrency`` are in flight, each processed in its own task.  ``run()`` works until
:meth:`Worker.stop`, then drains what it holds; ``run_until_idle()`` returns as soon as
nothing is due and nothing is in flight, so tests step the engine deterministically
instead of sleeping.

**Suspects go alone.**  An item whose previous claim never finished (its ``claims`` count
is above 1: the process that held it stopped, perhaps killed by that very item) is not
processed beside others: the worker keeps one suspect of a claimed batch and gives the
others back at once (:meth:`WorkQueue.release`, which takes back their claim), lets what
is in flight finish, then processes the suspect with nothing else in flight.  A row that
kills its process therefore takes no innocent neighbours with it, and is parked by its
queue once its claims pass the crash bound (``domain/dead_letters.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger("trebuchet.engine")
# Items per claim: with more in flight, batches overlap, each at its own step.
DEFAULT_BATCH = 100

Item = TypeVar("Item", bound=Mapping[str, Any])


def suspect(item: Mapping[str, Any]) -> bool:
    """Was ``item`` claimed before without being finished?"""
    return int(item.get("claims") or 0) > 1


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

    async def release(self, owner: str, items: Sequence[Item]) -> None:
        """Give back ``items``, claimed but not processed, as if they had not been
        claimed: due as they were, their claim not counted."""
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
        self._suspects: deque[Item] = deque()  # claimed, waiting to be processed alone
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
                if self._suspects:
                    await self._alone()
                    continue
                free = self.concurrency - len(self._tasks)
                limit = min(free, self.batch)
                claimed = await self._claim(limit) if limit > 0 else []
                given_back = []
                for item in claimed:
                    if not suspect(item):
                        self._spawn(item)
                    elif self._suspects:
                        given_back.append(item)
                    else:
                        self._suspects.append(item)
                if given_back:
                    await self._release(given_back)
                if len(claimed) == free and not self._suspects:
                    await self._wait(None)  # full: wait for a slot
                    continue
                if len(claimed) == limit:
                    continue  # a whole batch: claim the next while this one is in flight
                if claimed:
                    # A short batch: the store had no more to give (nothing else due, or
                    # the rest held back by caps), so look again when one of these
                    # finishes or new work arrives rather than at once.
                    await self._wait(self.poll_interval)
                    continue
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

    async def _release(self, items: Sequence[Item]) -> None:
        # If this fails, their leases run out and the claim counts: a suspect more.
        try:
            await self.queue.release(self.owner, items)
        except Exception:
            log.exception("%s: giving back claimed items failed", self.queue.name)

    async def _alone(self) -> None:
        """Process the waiting suspect with nothing else in flight (its lease is renewed
        while it waits)."""
        while self._tasks:
            await self._wait(None)
        self._spawn(self._suspects.popleft())
        while self._tasks:
            await self._wait(None)

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
            held = [*self._tasks.values(), *(str(item["id"]) for item in self._suspects)]
            if held:
                try:
                    await self.queue.heartbeat(self.owner, held)
                except Exception:
                    log.exception("%s: heartbeat failed", self.queue.name)
