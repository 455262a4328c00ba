"""Live updates: one shared reading of the store per process feeds every open page.

:class:`LiveFeed` runs a single loop while anyone is watching: each tick it reads the
recent messages of every watched user in one query (``store.console.changes``, an index
range per user), compares them with the last reading and hands each change to that
user's open pages.  Pages hold a server-sent-events stream (``/console/live``); a stream
ends after ``STREAM_SECONDS`` and the browser reconnects, so a server shutting down never
waits on an idle stream.  The same loop serves SQLite and PostgreSQL, and sees writes
made by any process.  A commit that adds or changes messages wakes it (the store's
``trebuchet_feed`` channel: this process's commits, and on PostgreSQL every process's
through LISTEN/NOTIFY); it then reads at once, at most one reading per ``MIN_GAP_SECONDS``
however many commits there were, and otherwise every ``tick`` (every
``TICK_LISTENING_SECONDS`` while the store listens), for the changes nobody announces.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response, StreamingResponse

from trebuchet.server.console.session import PREFIX, Page, console_route
from trebuchet.server.domain.times import now_us
from trebuchet.server.store import Store
from trebuchet.server.store.notifications import FEED

TICK_SECONDS = 1.0
TICK_LISTENING_SECONDS = 5.0
MIN_GAP_SECONDS = 0.2
WINDOW_US = 15 * 60 * 1_000_000  # changes to messages younger than this are seen
READ_LIMIT = 2000
STREAM_SECONDS = 20.0
QUEUE_LIMIT = 200

Snapshot = dict[str, tuple[Any, ...]]


@dataclass
class LiveFeed:
    store: Store
    tick: float = TICK_SECONDS
    # Read when the store announces a change (off: every ``tick`` only).
    listen: bool = True
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _watchers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = field(default_factory=dict)
    _known: dict[str, Snapshot] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    readings: int = 0  # how many times the store was read (tests count them)

    @contextlib.asynccontextmanager
    async def watch(self, user_id: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """A queue of the user's message changes for as long as the block runs."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self._watchers.setdefault(user_id, set()).add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="console-live-feed")
        try:
            yield queue
        finally:
            queues = self._watchers.get(user_id, set())
            queues.discard(queue)
            if not queues:
                self._watchers.pop(user_id, None)
                self._known.pop(user_id, None)
            if not self._watchers and self._task is not None:
                self._task.cancel()  # nobody watches: no reading until someone does
                self._task = None

    async def _run(self) -> None:
        unsubscribe = self.store.subscribe(FEED, self._changed.set) if self.listen else None
        try:
            while self._watchers:
                self._changed.clear()  # a change committed during the reading wakes again
                await self.read_once()
                await asyncio.sleep(MIN_GAP_SECONDS)  # a burst of changes: one reading
                tick = max(self.tick, TICK_LISTENING_SECONDS) if self.store.listening else self.tick
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), max(0.0, tick - MIN_GAP_SECONDS))
        finally:
            if unsubscribe is not None:
                unsubscribe()

    async def read_once(self) -> None:
        users = sorted(self._watchers)
        if not users:
            return
        rows = await self.store.console.changes(users, now_us() - WINDOW_US, READ_LIMIT)
        self.readings += 1
        seen: dict[str, Snapshot] = {user: {} for user in users}
        for row in rows:
            seen[row["user_id"]][row["id"]] = (row["state"], row["delivery_state"], row["text"])
        for user, snapshot in seen.items():
            before = self._known.get(user)
            self._known[user] = snapshot
            if before is None:
                continue  # the first reading for a user is the baseline
            for message_id, values in snapshot.items():
                if before.get(message_id) != values:
                    self._publish(user, {"id": message_id, "state": values[0],
                                         "deliveryState": values[1]})  # fmt: skip

    def _publish(self, user_id: str, change: dict[str, Any]) -> None:
        for queue in self._watchers.get(user_id, ()):
            with contextlib.suppress(asyncio.QueueFull):  # a stalled page reloads anyway
                queue.put_nowait(change)


def feed_of(page: Page) -> LiveFeed:
    state = page.request.app.state
    feed: LiveFeed | None = getattr(state, "console_live", None)
    if feed is None:
        feed = state.console_live = LiveFeed(page.ctx.store)
    return feed


async def live(p: Page) -> Response:
    feed = feed_of(p)

    async def stream() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        async with feed.watch(p.user_id) as queue:
            deadline = asyncio.get_running_loop().time() + STREAM_SECONDS
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                try:
                    change = await asyncio.wait_for(queue.get(), timeout=left)
                except TimeoutError:
                    break
                yield f"event: message\ndata: {json.dumps(change)}\n\n"

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


routes = [console_route(f"{PREFIX}/live", live)]
