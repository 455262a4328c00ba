"""Group commit: many concurrent writers, one transaction per batch.

Each request hands its write to :meth:`GroupCommitter.submit` and waits.  A writer task
takes everything that is queued at that moment (no artificial delay), runs it in one
transaction, then answers every waiter.  Under load, batches grow by themselves; when
idle, a lone write is committed at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")

FlushFn = Callable[[Sequence[Job]], Awaitable[Sequence[Result]]]


class GroupCommitter(Generic[Job, Result]):
    def __init__(self, flush: FlushFn[Job, Result], *, max_batch: int = 2000, writers: int = 1):
        self._flush = flush
        self._max_batch = max_batch
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
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results = await self._flush([job for job, _ in batch])
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
            finally:
                for _ in batch:
                    self._queue.task_done()
