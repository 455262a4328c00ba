"""Group commit: many concurrent writers, one transaction per batch.

Each request hands its write to :meth:`GroupCommitter.submit` and waits.  A writer task
takes everything that is queued at that moment (no artificial delay), runs it in one
transaction, then answers every waiter.  Under load, batches grow by themselves; when
idle, a lone write is committed at once.  A batch stops growing at ``max_batch`` units of
work (rows, say, through ``weigh``): while one batch is written, the next is being
prepared, instead of every request waiting on one large commit and the event loop idling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")

FlushFn = Callable[[Sequence[Job]], Awaitable[Sequence[Result]]]


class GroupCommitter(Generic[Job, Result]):
    def __init__(
        self,
        flush: FlushFn[Job, Result],
        *,
        max_batch: int = 2000,
        writers: int = 1,
        weigh: Callable[[Job], int] | None = None,
    ):
        self._flush = flush
        self._max_batch = max_batch
        self._weigh = weigh or (lambda job: 1)
        self._writers = writers
        self._queue: asyncio.Queue[tuple[Job, asyncio.Future[Result]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._run()) for _ in range(self._writers)]

    async def stop(self) -> None:
        """Commit what is queued, then stop the writers."""
        await self._queue.join()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def submit(self, job: Job) -> Result:
        if not self._tasks:
            raise RuntimeError("the store is not open")
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((job, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            weight = self._weigh(batch[0][0])
            while weight < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
                weight += self._weigh(batch[-1][0])
            try:
                await write_batch(self._flush, batch)
            finally:
                for _ in batch:
                    self._queue.task_done()


class Batcher(Generic[Job, Result]):
    """Group commit with nothing to start or stop: a flush task runs while writes wait.

    Concurrent :meth:`submit` calls made while a batch is being written become the next
    batch.  For objects that come and go freely (the engine's queues, a router made per
    request): once the writes are done, nothing is left running.
    """

    def __init__(self, flush: FlushFn[Job, Result], *, max_batch: int = 1000):
        self._flush = flush
        self._max_batch = max_batch
        self._waiting: list[tuple[Job, asyncio.Future[Result]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, job: Job) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((job, future))
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await write_batch(self._flush, batch)
        finally:
            self._task = None
            for _, future in self._waiting:  # only when cancelled
                future.cancel()
            self._waiting.clear()


async def write_batch(
    flush: FlushFn[Job, Result], batch: list[tuple[Job, asyncio.Future[Result]]]
) -> None:
    """Flush the batch's jobs in one go and answer each waiter with its result or the error."""
    try:
        results = await flush([job for job, _ in batch])
    except asyncio.CancelledError:
        for _, future in batch:
            future.cancel()
        raise
    except Exception as exc:
        for _, future in batch:
            if not future.done():
                future.set_exception(exc)
    else:
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
