"""Wake-up latency across processes on PostgreSQL: polling against LISTEN/NOTIFY.

    .venv/bin/python -m benchmarks.bench_wakeup              # 200 messages per way
    .venv/bin/python -m benchmarks.bench_wakeup --quick

The layout ``docs/scaling.md`` recommends: ``trebuchet serve`` with its engine off takes
the sends, a ``trebuchet worker`` in another process sends them through the sandbox and
delivers the ``sent`` callback to a receiver here on loopback.  Messages go one at a
time, each after a random pause (so they fall anywhere in a poll interval), and the
worker is idle when each arrives.  Per message:

* **sent**: from the API's answer (the message committed) to the worker's finish (the
  ``sent`` event's ``created_us``, written in the worker's finishing transaction);
* **callback**: from the API's answer to the ``sent`` callback reaching the receiver.

The two ways alternate in rounds within one run, each round with a fresh worker: polling
every 0.2 s (``db_listen = false``), and LISTEN/NOTIFY (``db_listen = true``, the poll
every 5 s as by default).  One machine's clock serves both ends.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiohttp import web
from sqlalchemy import func, select

from benchmarks.common import Row, postgres_available, postgres_database
from benchmarks.processes import ROOT, create_user, stop, trebuchet_server
from trebuchet.server.store import Store
from trebuchet.server.store import tables as t

NUMBERS = ("+15550100001",)
RECIPIENT = "+15550109999"  # nobody's number: the sandbox does not loop it back
POLL_INTERVAL = "0.2"
READY_LINE = "delivery worker"
LISTENING_LINE = "listening for notifications ("


@dataclass
class Receiver:
    arrived_us: dict[str, int] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        event = await request.json()
        if event.get("state") == "sent":
            self.arrived_us.setdefault(event["messageId"], time.time_ns() // 1000)
            self.wake.set()
        return web.Response(status=200)


@contextmanager
def worker_process(db: str, *, listen: bool) -> Iterator[None]:
    """``trebuchet worker`` on ``db`` until the block ends, ready when it yields."""
    env = {
        **os.environ,
        "TREBUCHET_DB": db,
        "TREBUCHET_DB_LISTEN": "true" if listen else "false",
        "TREBUCHET_POLL_INTERVAL": POLL_INTERVAL,
        "TREBUCHET_OUTBOUND_ALLOW_LOOPBACK": "true",
        "TREBUCHET_HOUSEKEEPING_INTERVAL": "0",
        "TREBUCHET_MEDIA_DIR": tempfile.mkdtemp(prefix="trebuchet-bench-media-"),
    }
    with tempfile.NamedTemporaryFile("w+", suffix=".log") as log:
        args = [sys.executable, "-m", "trebuchet.cli", "worker"]
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=log)
        try:
            wanted = LISTENING_LINE if listen else READY_LINE
            deadline = time.monotonic() + 30
            while wanted not in Path(log.name).read_text():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the worker did not start:\n{Path(log.name).read_text()}")
                time.sleep(0.05)
            yield
        finally:
            stop(proc)


async def _send_one_at_a_time(
    base: str, auth: tuple[str, str], user_id: str, callback: str, receiver: Receiver, count: int
) -> dict[str, int]:
    """Send ``count`` messages, each once the last one's callback came; answers each
    message's accepted time (µs)."""
    accepted: dict[str, int] = {}
    url = f"{base}/v1/users/{user_id}/messages"
    async with httpx.AsyncClient(auth=auth, timeout=10) as client:
        for i in range(count):
            await asyncio.sleep(random.uniform(0.05, 0.3))  # anywhere in a poll interval
            body = {"from": NUMBERS[0], "to": RECIPIENT, "text": f"w{i}", "callbackUrl": callback}
            response = await client.post(url, json=body)
            at = time.time_ns() // 1000
            response.raise_for_status()
            message_id = response.headers["Location"].rsplit("/", 1)[-1]
            accepted[message_id] = at
            while message_id not in receiver.arrived_us:
                receiver.wake.clear()
                await asyncio.wait_for(receiver.wake.wait(), 15)
    return accepted


async def _sent_times(db: str, ids: list[str]) -> dict[str, int]:
    store = Store(db, pool_size=1, listen=False)
    await store.open(run_migrations=False)
    try:
        e = t.events.c
        query = (
            select(e.message_id, func.min(e.created_us))
            .where(e.message_id.in_(ids))
            .group_by(e.message_id)
        )
        async with store.read() as conn:
            return {row[0]: int(row[1]) for row in await conn.execute(query)}
    finally:
        await store.close()


def _quantiles(values_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(values_ms)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


@dataclass
class Way:
    name: str
    listen: bool
    sent_ms: list[float] = field(default_factory=list)
    callback_ms: list[float] = field(default_factory=list)


async def _measure(db: str, count: int, rounds: int) -> list[Way]:
    account = create_user(db, NUMBERS)
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/cb", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    callback = f"http://127.0.0.1:{port}/cb"
    ways = [Way("polling every 0.2 s", False), Way("LISTEN/NOTIFY", True)]
    per_round = max(1, count // rounds)
    try:
        with trebuchet_server(db, engine="false", outbound_allow_loopback="true") as (base, _):
            for _ in range(rounds):
                for way in ways:
                    with worker_process(db, listen=way.listen):
                        accepted = await _send_one_at_a_time(
                            base, account.auth, account.user_id, callback, receiver, per_round
                        )
                    sent = await _sent_times(db, list(accepted))
                    for message_id, at in accepted.items():
                        way.sent_ms.append((sent[message_id] - at) / 1000)
                        way.callback_ms.append((receiver.arrived_us[message_id] - at) / 1000)
    finally:
        await runner.cleanup()
    return ways


def wakeup_latency(db: str, *, count: int, rounds: int) -> list[Row]:
    ways = asyncio.run(_measure(db, count, rounds))
    rows = []
    for way in ways:
        sent50, sent99 = _quantiles(way.sent_ms)
        cb50, cb99 = _quantiles(way.callback_ms)
        rows.append(
            Row(
                f"wake-up across processes, {way.name}, PostgreSQL",
                f"sent p50 {sent50:.1f} ms, p99 {sent99:.1f} ms",
                "report",
                None,
                f"{len(way.sent_ms)} messages one at a time; callback p50 {cb50:.1f} ms, "
                f"p99 {cb99:.1f} ms",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few messages: checks it runs")
    parser.add_argument("--count", type=int, default=200, help="messages per way")
    parser.add_argument("--rounds", type=int, default=4, help="alternations of the two ways")
    args = parser.parse_args()
    if not postgres_available():
        raise SystemExit("no PostgreSQL answers (TREBUCHET_BENCH_POSTGRES)")
    count, rounds = (6, 2) if args.quick else (args.count, args.rounds)
    with postgres_database() as db:
        for row in wakeup_latency(db, count=count, rounds=rounds):
            print(f"| {row.benchmark} | {row.measured} | {row.detail} |")


if __name__ == "__main__":
    main()
