"""One ``LISTEN`` connection per process on PostgreSQL (``docs/scaling.md``).

:class:`PgListener` holds a dedicated asyncpg connection, outside the pool, listening on
every channel of :mod:`.notifications`; each notification wakes that channel's
subscribers in this process.  If the connection drops (a restart, a failover, an
operator's ``pg_terminate_backend``), :attr:`PgListener.listening` turns false and
everyone is woken, so the workers go back to the short ``poll_interval``; the listener
reconnects with backoff and, once it listens again, wakes everyone once more, since
whatever was committed in between went unheard.  A connection that is silently gone (no
reset ever arrives) is found by a trivial statement every ``KEEPALIVE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

from trebuchet.server.store.notifications import CHANNELS, Notifications

log = logging.getLogger("trebuchet.store")
BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 30.0
CONNECT_TIMEOUT = 10.0
KEEPALIVE_SECONDS = 15.0


class PgListener:
    def __init__(
        self,
        connect_args: dict[str, Any],
        notifications: Notifications,
        *,
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_max: float = BACKOFF_MAX,
        keepalive: float = KEEPALIVE_SECONDS,
    ):
        self._connect_args = connect_args
        self._notifications = notifications
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._keepalive = keepalive
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None
        self.connects = 0  # how many times the listener has started listening

    @property
    def listening(self) -> bool:
        """True while notifications are heard: the workers may poll rarely."""
        return self._conn is not None

    @property
    def backend_pid(self) -> int | None:
        """The server process of the listening connection (``pg_stat_activity.pid``)."""
        return None if self._conn is None else int(self._conn.get_server_pid())

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="trebuchet-pg-listener")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        delay = self._backoff_initial
        while True:
            if await self._session():
                delay = self._backoff_initial  # it worked: the next try comes soon
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff_max)

    async def _session(self) -> bool:
        """Connect and listen until the connection is lost; answers whether it listened."""
        try:
            conn = await asyncpg.connect(**self._connect_args, timeout=CONNECT_TIMEOUT)
        except Exception as exc:  # whatever it was, the workers poll until a later try
            log.warning("listening for notifications failed: %s", exc)
            return False
        try:
            await self._listen(conn)
        except Exception as exc:  # a lost connection, whichever way it shows
            log.warning("the notification connection was lost (%s); polling until it is back",
                        exc)  # fmt: skip
        finally:
            listened = self._conn is not None
            self._conn = None
            conn.terminate()
            if listened:
                self._notifications.everyone()  # back to the short poll at once
        return listened

    async def _listen(self, conn: Any) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        for channel in CHANNELS:
            await conn.add_listener(channel, self._heard)
        self._conn = conn
        self.connects += 1
        log.info("listening for notifications (%s)", ", ".join(CHANNELS))
        self._notifications.everyone()  # whatever was committed before we listened
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self._keepalive)
            if lost.is_set() or conn.is_closed():
                raise ConnectionResetError("the server closed the connection")
            await conn.fetchval("SELECT 1", timeout=self._keepalive)

    def _heard(self, _conn: Any, _pid: int, channel: str, _payload: str) -> None:
        self._notifications.local((channel,))
