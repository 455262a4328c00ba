"""LISTEN/NOTIFY on PostgreSQL: work committed through one store wakes the workers and
the console's live feed of another at once, whatever their poll interval, and the
listener comes back after its connection is killed; a real ``trebuchet worker`` process
is woken the same way.

Each store here has its own connection pool and its own listening connection, as a
separate process would.  The listening poll interval is a minute (and so is the short one
unless a test is about it), so anything that finishes within the bounded waits below (far
shorter) was woken by a notification, or by the time it was due, not found by a poll.
The waits are bounds against hanging, not timings.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Connection, make_url

from tests.conftest import POSTGRES_ADMIN_URL, make_settings
from tests.engine.conftest import Receiver
from trebuchet.server.api.message_input import GLOBAL_ONLY, MessageIn, message_row
from trebuchet.server.config import Settings
from trebuchet.server.console.live import LiveFeed
from trebuchet.server.domain.times import now_us
from trebuchet.server.engine import Engine
from trebuchet.server.net.guard import AddressPolicy
from trebuchet.server.store import InsertJob, Store
from trebuchet.server.store import tables as t
from trebuchet.server.store.notifications import EVENTS, MESSAGES, notify

pytestmark = pytest.mark.postgres

POLL = 60.0  # no poll happens within a test
BOUND = 15.0  # generous, and still far below POLL
LAUNCH = "from trebuchet.cli.main import main; main()"
FROM, TO = "+15550104444", "+15557650000"


def _settings(url: str) -> Settings:
    return make_settings(url, poll_interval=POLL, poll_interval_listening=POLL)


async def _until(check: Any) -> None:
    """Wait (bounded) until ``check()`` is true."""
    async with asyncio.timeout(BOUND):
        while not check():  # noqa: ASYNC110 (state of other tasks, no event to await)
            await asyncio.sleep(0.02)


async def _listening(store: Store) -> None:
    await _until(lambda: store.listening)


async def _admin(sql: str) -> None:
    """``sql`` on the admin database (a database cannot refuse connections to itself)."""
    admin = Store(POSTGRES_ADMIN_URL, pool_size=1, listen=False)
    try:
        async with admin.write() as conn:
            await conn.exec_driver_sql(sql)
    finally:
        await admin.close()


@pytest.fixture
async def stores(postgres_url: str) -> AsyncIterator[list[Store]]:
    opened = [Store(postgres_url, pool_size=2) for _ in range(3)]
    for index, store in enumerate(opened):
        await store.open(run_migrations=index == 0)
    try:
        yield opened
    finally:
        for store in opened:
            await store.close()


async def _insert(
    store: Store, user_id: str, message: MessageIn, policy: AddressPolicy = GLOBAL_ONLY
) -> dict[str, Any]:
    """Store ``message`` as the API accepts it (one commit); answers its row."""
    row = message_row(message, user_id, now_us(), policy=policy)
    await store.messages.insert(InsertJob([row]))
    return row


async def _state(store: Store, message_id: str) -> str:
    async with store.read() as conn:
        query = t.messages.select().where(t.messages.c.id == message_id)
        return str((await conn.execute(query)).mappings().one()["state"])


async def test_another_store_sends_and_delivers_the_callback_without_polling(
    stores: list[Store], receiver: Receiver, postgres_url: str
) -> None:
    api, sending, calling = stores  # three "processes" on one database
    settings = _settings(postgres_url)
    senders = Engine(sending, settings)
    callers = Engine(calling, settings)
    # One process runs only the send worker, the other only the callback worker: the
    # message crosses from the API's store to the first, its event from there to the second.
    tasks = [
        asyncio.create_task(senders.send_worker.run()),
        asyncio.create_task(callers.event_worker.run()),
    ]
    try:
        await _listening(sending)
        await _listening(calling)
        created = await api.users.create([FROM])
        policy = AddressPolicy.from_settings(settings)
        message = MessageIn(from_=FROM, to=TO, text="wake up", callbackUrl=receiver.url("/cb"))
        row = await _insert(api, created.user.id, message, policy)

        await _until(lambda: receiver.at("/cb"))
        assert receiver.at("/cb")[0].json()["messageId"] == row["id"]
        assert await _state(api, row["id"]) == "sent"
        assert senders.send_worker.processed == 1
        await _until(lambda: callers.event_worker.processed == 1)  # its finish is written
    finally:
        senders.send_worker.stop()
        callers.event_worker.stop()
        await asyncio.gather(*tasks)
        await senders.close()
        await callers.close()


async def test_the_listener_reconnects_after_its_connection_is_killed(
    stores: list[Store], postgres_url: str
) -> None:
    writer, listener_store, _ = stores
    database = make_url(postgres_url).database
    engine = Engine(listener_store, replace(_settings(postgres_url), poll_interval=0.2))
    woken = asyncio.Event()
    remove = listener_store.subscribe(MESSAGES, woken.set)
    try:
        await _listening(listener_store)
        listener = listener_store.listener
        assert listener is not None
        assert engine.send_worker.idle_interval() == POLL  # listening: the long poll
        first_pid = listener.backend_pid
        # Kill the listening connection, and keep it from coming back for a while.
        await _admin(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        await _admin(f"SELECT pg_terminate_backend({first_pid})")
        await _until(lambda: not listener.listening)
        assert engine.send_worker.idle_interval() == 0.2  # down: back to the short poll
        await _admin(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        # Back on a new connection (after its backoff), and the long poll again.
        await _until(lambda: listener.listening and listener.backend_pid != first_pid)
        assert listener.connects == 2
        assert engine.send_worker.idle_interval() == POLL
        woken.clear()  # reconnecting wakes everyone once; the commit below must wake again
        created = await writer.users.create([FROM])
        await _insert(writer, created.user.id, MessageIn(from_=FROM, to=TO, text="after"))
        await asyncio.wait_for(woken.wait(), BOUND)
    finally:
        remove()
        await engine.close()


async def test_a_rolled_back_transaction_notifies_nobody(stores: list[Store]) -> None:
    writer, listener_store, _ = stores
    messages, events = asyncio.Event(), asyncio.Event()
    removers = [
        listener_store.subscribe(MESSAGES, messages.set),
        listener_store.subscribe(EVENTS, events.set),
    ]
    try:
        await _listening(listener_store)
        messages.clear()
        events.clear()

        def fail(conn: Connection) -> None:
            notify(conn, MESSAGES)
            raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError):
            await writer.transact(fail)
        await writer.transact(lambda conn: notify(conn, EVENTS))
        # One connection hears notifications in commit order: once the second commit's
        # has arrived, the first one's would have too.
        await asyncio.wait_for(events.wait(), BOUND)
        assert not messages.is_set()
    finally:
        for remove in removers:
            remove()


async def test_the_live_feed_hears_another_stores_commit(stores: list[Store]) -> None:
    api, watching, _ = stores
    created = await api.users.create([FROM])
    feed = LiveFeed(watching, tick=POLL)
    async with feed.watch(created.user.id) as changes:
        await _listening(watching)
        # The baseline, and the reading the listener's start causes (it wakes everyone):
        # from here on only a notification (or the minute's tick) makes the feed read.
        await _until(lambda: feed.readings >= 2)
        row = await _insert(api, created.user.id, MessageIn(from_=FROM, to=TO, text="seen"))
        change = await asyncio.wait_for(changes.get(), BOUND)
        assert change["id"] == row["id"]


def _start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """``trebuchet worker`` in a process of its own, logging to ``log_path``."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "worker"], env=env, stdout=log, stderr=log
        )


async def test_a_trebuchet_worker_process_is_woken_by_a_send_elsewhere(
    stores: list[Store], receiver: Receiver, postgres_url: str, tmp_path: Path
) -> None:
    api = stores[0]
    env = {
        **os.environ,
        "TREBUCHET_DB": postgres_url,
        "TREBUCHET_POLL_INTERVAL": str(POLL),
        "TREBUCHET_POLL_INTERVAL_LISTENING": str(POLL),
        "TREBUCHET_OUTBOUND_ALLOW_LOOPBACK": "1",
        "TREBUCHET_HOUSEKEEPING_INTERVAL": "0",
        "TREBUCHET_MEDIA_DIR": str(tmp_path / "media"),
    }
    log_path = tmp_path / "worker.log"
    worker = _start_worker(env, log_path)
    try:
        await _until(lambda: "listening for notifications (" in log_path.read_text())
        created = await api.users.create([FROM])
        policy = AddressPolicy.from_settings(_settings(postgres_url))
        message = MessageIn(from_=FROM, to=TO, text="elsewhere", callbackUrl=receiver.url("/cb"))
        row = await _insert(api, created.user.id, message, policy)
        await _until(lambda: receiver.at("/cb"))
        assert receiver.at("/cb")[0].json()["messageId"] == row["id"]
        assert await _state(api, row["id"]) == "sent"
    finally:
        worker.terminate()
        worker.wait(20)


async def test_a_scheduled_send_leaves_when_due_while_the_worker_listens(
    stores: list[Store], postgres_url: str
) -> None:
    """Nobody announces a time coming: the listening worker asks when the next message
    becomes due and looks then, instead of after ``poll_interval_listening``."""
    api, sending, _ = stores
    senders = Engine(sending, replace(_settings(postgres_url), poll_interval=0.2))
    task = asyncio.create_task(senders.send_worker.run())
    try:
        await _listening(sending)
        created = await api.users.create([FROM])
        send_at = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
        message = MessageIn(from_=FROM, to=TO, text="later", sendAt=send_at)
        row = await _insert(api, created.user.id, message)
        assert row["state"] == "scheduled"
        await _until(lambda: senders.send_worker.processed == 1)
        assert await _state(api, row["id"]) == "sent"
    finally:
        senders.send_worker.stop()
        await task
        await senders.close()
