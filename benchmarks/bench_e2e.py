"""End to end: accepted -> engine -> sandbox carrier -> sent -> callback at a local receiver.

Each message carries its send time in ``tag``; the receiver (aiohttp, loopback) notes when
the ``sent`` event arrives.  First a burst measures sustained throughput (time until every
callback has arrived), then a paced run at half that rate measures latency.  The server
under test and the rows are ``bench_topology``'s (``e2e_rows``).
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
from aiohttp import web

from benchmarks.common import basic_auth
from benchmarks.processes import free_port

NUMBERS = ("+15550100001",)
# Not a number of any user: a phone outside, as in real traffic (a message to one of the
# user's own numbers would also come back in through the sandbox as an inbound message).
RECIPIENT = "+15550109999"


class Receiver:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.seen: set[str] = set()
        self.last_arrival = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        event = await request.json()
        if event.get("state") == "sent" and event.get("messageId") not in self.seen:
            self.seen.add(event["messageId"])
            now = time.time()
            self.last_arrival = now
            self.latencies_ms.append((now - float(event["tag"])) * 1000)
        return web.Response(status=200)


async def _wait_for(receiver: Receiver, count: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while len(receiver.seen) < count and time.monotonic() < deadline:  # noqa: ASYNC110 - bounded poll
        await asyncio.sleep(0.05)
    return len(receiver.seen) >= count


def _batch(callback: str, size: int) -> bytes:
    tag = f"{time.time():.6f}"
    return json.dumps(
        [
            {
                "from": NUMBERS[0],
                "to": RECIPIENT,
                "text": "e2e",
                "callbackUrl": callback,
                "tag": tag,
            }
            for _ in range(size)
        ]
    ).encode()


async def run(
    base: str, user_id: str, auth: tuple[str, str], burst: int, paced_s: float
) -> tuple[float, list[float], int, float]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/events", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    callback = f"http://127.0.0.1:{port}/events"
    url = f"{base}/v1/users/{user_id}/messages"
    try:
        async with aiohttp.ClientSession(headers={"Authorization": basic_auth(*auth)}) as session:

            async def post(size: int) -> None:
                async with session.post(
                    url, data=_batch(callback, size), headers={"Content-Type": "application/json"}
                ) as response:
                    if response.status != 202:
                        raise RuntimeError(f"bulk send answered {response.status}")

            started = time.time()
            for start in range(0, burst, 800):  # 16 requests of 50 in flight
                await asyncio.gather(*(post(50) for _ in range(min(800, burst - start) // 50)))
            if not await _wait_for(receiver, burst, seconds=120):
                raise RuntimeError(f"only {len(receiver.seen)} of {burst} callbacks arrived")
            throughput = burst / (receiver.last_arrival - started)

            # Paced run at half the sustained rate, ten messages per request.
            receiver.latencies_ms.clear()
            rate = throughput / 2
            interval = 10 / rate
            sent = 0
            deadline = time.monotonic() + paced_s
            next_at = time.monotonic()
            tasks = []
            while time.monotonic() < deadline:
                tasks.append(asyncio.create_task(post(10)))
                sent += 10
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            await asyncio.gather(*tasks)
            await _wait_for(receiver, burst + sent, seconds=60)
            return throughput, list(receiver.latencies_ms), sent, rate
    finally:
        await runner.cleanup()
