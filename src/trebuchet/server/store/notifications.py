"""Wake-ups for new work: ``NOTIFY`` in the committing transaction, and who hears it.

A write that makes work for another part (new messages to send, callback events to
deliver, message rows the console's live feed shows) calls :func:`notify` inside its
transaction with the channels it concerns.  On PostgreSQL that is ``pg_notify``, which
the server delivers to every listening connection when the transaction commits, and
never when it rolls back; on SQLite it only records the channels on the connection.
Either way the store, once the transaction has committed, wakes this process's
subscribers of those channels (:meth:`Notifications.local`), and on PostgreSQL the
process's listener (:mod:`.listener`) wakes them for commits made by any process.

A subscriber is a plain callable that sets a flag (a worker's ``wake``, an
``asyncio.Event``'s ``set``): a burst of notifications coalesces into one look at the
store, and nothing queues up.  Notifications carry no payload; a wake-up only says "look
now", so a lost one costs latency (the next poll finds the work), never correctness.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from sqlalchemy.engine import Connection

log = logging.getLogger("trebuchet.store")

# New queued messages for the send workers (intake).
MESSAGES = "trebuchet_messages"
# New pending callback events for the callback workers.
EVENTS = "trebuchet_events"
# A message row was added or changed (the console's live feed).
FEED = "trebuchet_feed"
CHANNELS = (MESSAGES, EVENTS, FEED)
# Where a connection remembers the channels its open transaction notified.
NOTIFIED = "trebuchet_notified"

Listener = Callable[[], None]


def notify(conn: Connection, *channels: str) -> None:
    """Announce work on ``channels`` when the caller's transaction commits."""
    if not channels:
        return
    if conn.dialect.name == "postgresql":
        calls = ", ".join(f"pg_notify('{channel}', '')" for channel in channels)
        conn.exec_driver_sql(f"SELECT {calls}")
    conn.info.setdefault(NOTIFIED, set()).update(channels)


def take_notified(conn: Connection) -> set[str]:
    """The channels notified on ``conn`` since the last call, forgotten as answered."""
    channels: set[str] = conn.info.pop(NOTIFIED, set())
    return channels


class Notifications:
    """This process's subscribers, by channel."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Listener]] = {channel: [] for channel in CHANNELS}

    def subscribe(self, channel: str, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` on every wake-up of ``channel``; answers its remover."""
        listeners = self._subscribers[channel]
        listeners.append(listener)

        def remove() -> None:
            if listener in listeners:
                listeners.remove(listener)

        return remove

    @property
    def empty(self) -> bool:
        return not any(self._subscribers.values())

    def local(self, channels: Iterable[str]) -> None:
        """Wake the subscribers of ``channels`` (a commit of this process, or a
        notification the listener heard)."""
        for channel in channels:
            for listener in list(self._subscribers.get(channel, ())):
                try:
                    listener()
                except Exception:
                    log.exception("a wake-up listener of %s failed", channel)

    def everyone(self) -> None:
        """Wake every subscriber: the listener's connection came or went, so anything
        committed meanwhile may have gone unheard."""
        self.local(CHANNELS)
