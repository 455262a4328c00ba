"""``kill -9`` of a real ``trebuchet serve`` in the middle of a run loses nothing.

Messages are accepted over HTTP while callbacks flow to a loopback receiver; the server
is killed without warning, restarted, and then every accepted message must reach a final
state and every event written for it must arrive (duplicates allowed, loss not).  On
PostgreSQL a separate ``trebuchet worker`` process shares the work and is killed too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.engine.conftest import Receiver
from trebuchet.server.store import Store
from trebuchet.server.store import tables as t

FROM = "+15550001111"
MESSAGES = 240
DEADLINE = 60.0
LAUNCH = "from trebuchet.cli.main import main; main()"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    def __init__(self, db: str, log_dir: Path):
        self.db = db
        self.log_dir = log_dir
        self.running: list[subprocess.Popen[bytes]] = []
        self.env = {
            **os.environ,
            "TREBUCHET_DB": db,
            "TREBUCHET_DEMO_USER": "0",
            "TREBUCHET_POLL_INTERVAL": "0.05",
            "TREBUCHET_POLL_INTERVAL_LISTENING": "0.05",  # expired leases are polled for
            "TREBUCHET_LEASE_SECONDS": "2",
            "TREBUCHET_SEND_CONCURRENCY": "8",
            "TREBUCHET_OUTBOUND_ALLOW_LOOPBACK": "1",  # the receiver is on 127.0.0.1
        }

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{args[0]}-{len(self.running)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, *args], env=self.env, stdout=log, stderr=log
        )
        log.close()
        self.running.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Any]:
    made: list[Processes] = []

    def make(db: str) -> Processes:
        made.append(Processes(db, tmp_path))
        return made[-1]

    yield make
    for group in made:
        group.stop_all()


def _tail(path: Path) -> str:
    return path.read_text()[-2000:]


async def _wait_healthy(base: str, process: subprocess.Popen[bytes], log_dir: Path) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(timeout=1) as http:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if (await http.get(f"{base}/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    logs = "\n".join(_tail(path) for path in sorted(log_dir.glob("serve-*.log")))  # noqa: ASYNC240
    raise AssertionError(f"the server at {base} did not come up:\n{logs}")


async def _submit(base: str, creds: Any, receiver: Receiver, accepted: list[str]) -> None:
    """Send messages until done or the server dies; keeps the ids answered 201."""
    path = f"{base}/v1/users/{creds.user.id}/messages"
    auth = (creds.user.api_token, creds.api_secret)
    gate = asyncio.Semaphore(8)
    async with httpx.AsyncClient(auth=auth, timeout=5) as http:

        async def one(index: int) -> None:
            body = {"from": FROM, "to": "+15557654321", "text": f"m{index}",
                    "callbackUrl": receiver.url("/events")}  # fmt: skip
            if index % 2:
                body["receiptRequested"] = "all"
            async with gate:
                try:
                    response = await http.post(path, json=body)
                except httpx.TransportError:
                    return
            if response.status_code == 201:
                accepted.append(response.headers["location"].rsplit("/", 1)[1])

        await asyncio.gather(*(one(i) for i in range(MESSAGES)))


async def _outcome(db: str, ids: list[str]) -> tuple[list[Any], list[Any]]:
    store = Store(db)
    await store.open(run_migrations=False)
    try:
        async with store.read() as conn:
            messages = (
                await conn.execute(select(t.messages).where(t.messages.c.id.in_(ids)))
            ).all()
            events = (
                await conn.execute(select(t.events).where(t.events.c.message_id.in_(ids)))
            ).all()
        return list(messages), list(events)
    finally:
        await store.close()


def _final(message: Any) -> bool:
    return message.state in ("sent", "error") and message.delivery_state != "waiting"


async def _crash_and_recover(db: str, procs: Processes, receiver: Receiver, workers: int) -> None:
    store = Store(db)
    await store.open()
    creds = await store.users.create([FROM])
    await store.close()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = procs.start("serve", "--port", str(port))
    extra = [procs.start("worker") for _ in range(workers)]
    await _wait_healthy(base, server, procs.log_dir)

    accepted: list[str] = []
    submitting = asyncio.create_task(_submit(base, creds, receiver, accepted))
    deadline = time.monotonic() + 20
    while len(receiver.hits) < 40 and time.monotonic() < deadline and not submitting.done():
        receiver.arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(receiver.arrived.wait(), 1)
    for process in [server, *extra]:  # mid-run: messages in flight, callbacks half sent
        procs.kill(process)
    await submitting
    seen_before = len(receiver.hits)
    assert 0 < len(accepted) < MESSAGES or seen_before < 2 * len(accepted), "no crash mid-run"

    restarted = procs.start("serve", "--port", str(port))
    await _wait_healthy(base, restarted, procs.log_dir)
    await _submit(base, creds, receiver, accepted)  # and keep going after the restart
    deadline = time.monotonic() + DEADLINE
    while True:
        messages, events = await _outcome(db, accepted)
        delivered = {hit.headers["Trebuchet-Event-Id"] for hit in receiver.hits}
        done = (
            len(messages) == len(accepted)
            and all(_final(m) for m in messages)
            and events
            and {e.id for e in events} <= delivered
        )
        if done or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert len(messages) == len(set(accepted)), "an accepted message was lost"
    assert [m.id for m in messages if not _final(m)] == []
    expected = {m.id: 2 if m.receipt_requested == "all" else 1 for m in messages}
    per_message: dict[str, int] = {}
    for event in events:
        per_message[event.message_id] = per_message.get(event.message_id, 0) + 1
    assert per_message == expected, "an event was never written"
    missing = {e.id for e in events} - {hit.headers["Trebuchet-Event-Id"] for hit in receiver.hits}
    assert missing == set(), f"{len(missing)} events never arrived"


@pytest.mark.slow
async def test_kill_9_loses_nothing_on_sqlite(
    sqlite_url: str, processes: Any, receiver: Receiver
) -> None:
    await _crash_and_recover(sqlite_url, processes(sqlite_url), receiver, workers=0)


@pytest.mark.slow
@pytest.mark.postgres
async def test_kill_9_of_server_and_worker_loses_nothing_on_postgres(
    postgres_url: str, processes: Any, receiver: Receiver
) -> None:
    await _crash_and_recover(postgres_url, processes(postgres_url), receiver, workers=1)


async def test_worker_exits_cleanly_on_sigterm(sqlite_url: str, processes: Any) -> None:
    store = Store(sqlite_url)
    await store.open()
    await store.close()
    procs = processes(sqlite_url)
    worker = procs.start("worker")
    log = procs.log_dir / "worker-0.log"
    deadline = time.monotonic() + 20
    while "started" not in _tail(log) and worker.poll() is None:
        assert time.monotonic() < deadline, _tail(log)
        await asyncio.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.wait, 15) == 0
