"""Housekeeping: retention and pruning in the background of every engine process.

A :class:`Housekeeper` runs each retention step (``store/retention.py``) in bounded
batches, one short write transaction each, yielding to the event loop between them so
that sends and group commits go on meanwhile; then it sleeps ``interval`` seconds.  Any
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
from collections.abc import Sequence

from trebuchet.server.config import Settings
from trebuchet.server.domain.clock import Clock, SystemClock
from trebuchet.server.media.names import parse_media_url
from trebuchet.server.media.storage import MediaStorage
from trebuchet.server.store import Store
from trebuchet.server.store.retention import STEPS, MediaUse, RetentionPolicy

log = logging.getLogger("trebuchet.housekeeping")
# Batches of one step in one round, at most: a round always ends, the rest waits.
MAX_BATCHES_PER_STEP = 1000


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
    ):
        self.store = store
        self.policy = policy
        self.clock = clock or SystemClock()
        self.media = media
        self.batch = batch
        self.interval = interval
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
            batch=settings.housekeeping_batch,
            interval=settings.housekeeping_interval,
        )

    async def due(self) -> dict[str, int]:
        """How many rows each step would handle now (``trebuchet purge --dry-run``)."""
        return await self.store.retention.due(self.policy.cutoffs(self.clock.now_us()))

    async def run_once(self) -> dict[str, int]:
        """One round: every step until it has nothing left (or its batch budget is
        spent); answers the rows each step handled."""
        cutoffs = self.policy.cutoffs(self.clock.now_us())
        handled: dict[str, int] = {}
        for step in STEPS:
            handled[step] = 0
            for _ in range(MAX_BATCHES_PER_STEP):
                batch = await self.store.retention.batch(step, cutoffs[step], self.batch)
                handled[step] += batch.handled
                await self._forget_media(batch.media)
                # Whatever waits for the store (a group commit, a claim) goes first.
                await asyncio.sleep(0)
                if batch.handled < self.batch:
                    break
        return handled

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
