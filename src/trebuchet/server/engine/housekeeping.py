"""Housekeeping: retention and pruning in the background of every engine process.

A :class:`Housekeeper` runs each retention step (``store/retention.py``) in bounded
batches, one short write transaction each, pausing between them so that sends and group
commits go on meanwhile; then it sleeps ``interval`` seconds.

**Pacing.** After each batch the housekeeper sleeps in proportion to how long the batch
took (its transaction, including any wait for the write lock): ``took x (1/duty_cycle -
1)``, so that it holds write transactions at most ``duty_cycle`` of its time (0.1 by
default: a batch of 30 ms is followed by 270 ms of pause).  On SQLite, where one write
lock serves every process, the batch is also smaller (``housekeeping_batch_sqlite``).
A duty cycle of 1 only yields to the event loop between batches.  Any
number of engine processes may run one over the same store: on PostgreSQL each batch
skips the rows another has locked, on SQLite the batches take turns on the write lock.

After a batch of deleted messages commits, the media files their received MMS named are
deleted from the recipient's media store, unless a message the user keeps still names
them.  A crash between the two leaves the files (an operator removes them by hand; see
``docs/operations.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from trebuchet.server.config import Settings
from trebuchet.server.domain.clock import Clock, SystemClock
from trebuchet.server.media.names import parse_media_url
from trebuchet.server.media.storage import MediaStorage
from trebuchet.server.store import Store
from trebuchet.server.store.retention import STEPS, MediaUse, RetentionPolicy

log = logging.getLogger("trebuchet.housekeeping")
# Batches of one step in one round, at most: a round always ends, the rest waits.
MAX_BATCHES_PER_STEP = 1000

Sleep = Callable[[float], Awaitable[None]]


def pause_after(took: float, duty_cycle: float) -> float:
    """Seconds to pause after a batch that took ``took`` seconds, so that batches take at
    most ``duty_cycle`` of the time."""
    return max(0.0, took) * (1.0 / duty_cycle - 1.0)


def batch_size(settings: Settings, dialect: str) -> int:
    """Rows per housekeeping transaction on this store's database."""
    if dialect == "sqlite":
        return min(settings.housekeeping_batch, settings.housekeeping_batch_sqlite)
    return settings.housekeeping_batch


class Housekeeper:
    def __init__(
        self,
        store: Store,
        policy: RetentionPolicy,
        *,
        clock: Clock | None = None,
        media: MediaStorage | None = None,
        batch: int = 500,
        interval: float = 60.0,
        duty_cycle: float = 1.0,
        sleep: Sleep | None = None,
        timer: Callable[[], float] = time.monotonic,
    ):
        if not 0 < duty_cycle <= 1:
            raise ValueError(f"duty_cycle must be above 0 and at most 1, got {duty_cycle}")
        self.store = store
        self.policy = policy
        self.clock = clock or SystemClock()
        self.media = media
        self.batch = batch
        self.interval = interval
        self.duty_cycle = duty_cycle
        self._sleep = sleep or self._pause
        self._timer = timer
        self._stopping = asyncio.Event()

    @classmethod
    def from_settings(
        cls,
        store: Store,
        settings: Settings,
        *,
        clock: Clock | None = None,
        media: MediaStorage | None = None,
    ) -> Housekeeper:
        return cls(
            store,
            RetentionPolicy.from_settings(settings),
            clock=clock,
            media=media,
            batch=batch_size(settings, store.dialect),
            interval=settings.housekeeping_interval,
            duty_cycle=settings.housekeeping_duty_cycle,
        )

    async def due(self) -> dict[str, int]:
        """How many rows each step would handle now (``trebuchet purge --dry-run``)."""
        return await self.store.retention.due(self.policy.cutoffs(self.clock.now_us()))

    async def run_once(self) -> dict[str, int]:
        """One round: every step until it has nothing left (or its batch budget is
        spent); answers the rows each step handled."""
        cutoffs = self.policy.cutoffs(self.clock.now_us())
        handled = dict.fromkeys(STEPS, 0)
        for step in STEPS:
            for _ in range(MAX_BATCHES_PER_STEP):
                if self._stopping.is_set():
                    return handled
                started = self._timer()
                batch = await self.store.retention.batch(step, cutoffs[step], self.batch)
                took = self._timer() - started
                handled[step] += batch.handled
                await self._forget_media(batch.media)
                # Whatever waits for the store (a group commit, a claim) goes first, and
                # gets the write lock to itself for the pause.
                await self._sleep(pause_after(took, self.duty_cycle))
                if batch.handled < self.batch:
                    break
        return handled

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds`` (at least one turn of the event loop), or until :meth:`stop`."""
        await asyncio.sleep(0)
        if seconds > 0 and not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _forget_media(self, uses: Sequence[MediaUse]) -> None:
        if self.media is None:
            return
        for use in uses:
            ref = parse_media_url(use.url)
            if ref is None or ref.user_id != use.user_id:
                continue  # not a file of this platform's store
            await self.media.delete(ref.user_id, ref.name)

    async def run(self) -> None:
        """Rounds every ``interval`` seconds until :meth:`stop`."""
        self._stopping.clear()
        while not self._stopping.is_set():
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("housekeeping round failed; trying again next round")
            else:
                if any(handled.values()):
                    log.info("housekeeping: %s", _summary(handled))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)

    def stop(self) -> None:
        self._stopping.set()


def _summary(handled: dict[str, int]) -> str:
    return ", ".join(f"{step} {count}" for step, count in handled.items() if count)


def build_housekeeper(
    store: Store, settings: Settings, clock: Clock, media: MediaStorage
) -> Housekeeper | None:
    """The engine's housekeeper, or None when this process runs none."""
    if settings.housekeeping_interval <= 0:
        return None
    return Housekeeper.from_settings(store, settings, clock=clock, media=media)
