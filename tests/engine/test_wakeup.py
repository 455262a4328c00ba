"""Waking a delivery process from another process: real datagram sockets, and a real
second process writing the same SQLite file through the writer lock."""

from __future__ import annotations

import asyncio
import multiprocessing
import secrets
import stat
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from trebuchet.server.engine.wakeup import WakeListener, WakeSender, wake_address
from trebuchet.server.store import Store
from trebuchet.server.store import tables as t
from trebuchet.server.store.writer import LOCK_SUFFIX

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="abstract Unix sockets")


@linux_only
async def test_a_datagram_from_another_socket_wakes_the_listener() -> None:
    woken = asyncio.Event()
    address = wake_address(secrets.token_hex(8), 0)
    listener = WakeListener(address, woken.set)
    sender = WakeSender([address])
    try:
        sender()
        sender()  # two wakes queued before the loop runs are one wake
        await asyncio.wait_for(woken.wait(), 10)
    finally:
        listener.close()
        sender.close()


@linux_only
def test_a_sender_with_nobody_listening_drops_the_wake() -> None:
    sender = WakeSender([wake_address(secrets.token_hex(8), 0)])
    try:
        sender()  # no exception: a restarting delivery process only misses a wake
    finally:
        sender.close()


async def _write_rows(store: Store, prefix: str, count: int) -> None:
    """``count`` write transactions on the store's writer thread (``Store.transact``)."""
    for i in range(count):
        row = {"key": f"{prefix}-{i}", "value": "x"}
        await store.transact(lambda conn, row=row: conn.execute(insert(t.meta), row))


def _other_process(url: str, count: int) -> None:
    async def run() -> None:
        store = Store(url)
        await store.open(run_migrations=False)
        try:
            await _write_rows(store, "other", count)
        finally:
            await store.close()

    asyncio.run(run())


def test_two_processes_write_one_sqlite_file_through_the_writer_lock(tmp_path: Path) -> None:
    """A second process's writes and this one's all land; the lock file is owner-only."""
    db = tmp_path / "shared.db"
    url = f"sqlite:///{db}"

    async def migrate_and_write() -> None:
        store = Store(url)
        await store.open()
        try:
            other = multiprocessing.get_context("spawn").Process(
                target=_other_process, args=(url, 50)
            )
            other.start()
            await _write_rows(store, "this", 50)
            await asyncio.to_thread(other.join, 120)
            assert other.exitcode == 0
            count = select(func.count()).select_from(t.meta).where(t.meta.c.value == "x")
            assert await store.transact(lambda conn: conn.execute(count).scalar_one()) == 100
        finally:
            await store.close()

    asyncio.run(migrate_and_write())
    lock = tmp_path / f"shared.db{LOCK_SUFFIX}"
    assert lock.exists()
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
