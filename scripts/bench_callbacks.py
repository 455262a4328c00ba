"""Callbacks per second to a local receiver: aiohttp's client against httpx's AsyncClient.

Usage: ``python scripts/bench_callbacks.py [--count 20000] [--concurrency 256] [--seconds 20]``

The receiver is an aiohttp.web app in a child process on 127.0.0.1 (answers 204), so the
sender's event loop is measured alone.  Each run is bounded by a request count and a wall
clock limit; only loopback is ever contacted.  Every request is a POST of a typical
``sms`` event body with the headers the dispatcher sends.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
from aiohttp import web

BODY = json.dumps(
    {
        "eventType": "sms",
        "direction": "out",
        "from": "+15550001111",
        "to": "+15550002222",
        "messageId": "m-x3q5w7e2r4t6y2u3i4o5p6a",
        "messageUri": "http://127.0.0.1:8080/v1/users/u-abc/messages/m-x3q5w7e2r4t6y2u3i4o5p6a",
        "text": "Your code is 4417",
        "time": "2024-01-01T00:00:00.000Z",
        "state": "sent",
        "segmentCount": 1,
        "tag": "otp-17",
    }
).encode()
HEADERS = {
    "Content-Type": "application/json; charset=utf-8",
    "User-Agent": "BandwidthAPI/v1 (bench)",
    "Trebuchet-Event-Id": "ev-bench",
    "Trebuchet-Event-Sequence": "1",
}
Send = Callable[[], Awaitable[int]]


def _receiver(port: int, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/events", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _drive(send: Send, count: int, concurrency: int, seconds: float) -> tuple[int, float]:
    """Send up to ``count`` requests, ``concurrency`` at a time, for at most ``seconds``."""
    done = 0
    failures = 0
    deadline = time.monotonic() + seconds
    started = time.perf_counter()

    async def lane(share: int) -> None:
        nonlocal done, failures
        for _ in range(share):
            if time.monotonic() > deadline:
                return
            status = await send()
            if 200 <= status < 300:
                done += 1
            else:
                failures += 1

    shares = [
        count // concurrency + (1 if i < count % concurrency else 0) for i in range(concurrency)
    ]
    await asyncio.gather(*(lane(share) for share in shares))
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{failures} requests failed")
    return done, elapsed


async def bench_aiohttp(
    url: str, count: int, concurrency: int, seconds: float
) -> tuple[int, float]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def send() -> int:
            async with session.post(url, data=BODY, headers=HEADERS) as response:
                await response.read()
                return response.status

        return await _drive(send, count, concurrency, seconds)


async def bench_httpx(url: str, count: int, concurrency: int, seconds: float) -> tuple[int, float]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def send() -> int:
            response = await client.post(url, content=BODY, headers=HEADERS)
            return response.status_code

        return await _drive(send, count, concurrency, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    port = _free_port()
    ready = multiprocessing.Event()
    receiver = multiprocessing.Process(target=_receiver, args=(port, ready), daemon=True)
    receiver.start()
    try:
        if not ready.wait(10):
            raise SystemExit("the receiver did not start")
        url = f"http://127.0.0.1:{port}/events"
        for round_ in range(1, args.rounds + 1):
            for name, bench in (("aiohttp", bench_aiohttp), ("httpx", bench_httpx)):
                done, elapsed = asyncio.run(bench(url, args.count, args.concurrency, args.seconds))
                print(
                    f"round {round_} {name:8s} {done:6d} callbacks in {elapsed:6.2f} s "
                    f"= {done / elapsed:8.0f}/s (concurrency {args.concurrency})"
                )
    finally:
        receiver.terminate()
        receiver.join(5)


if __name__ == "__main__":
    main()
