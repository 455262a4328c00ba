"""A small asyncio load generator (aiohttp), bounded in request count and in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from benchmarks.common import basic_auth


@dataclass
class LoadResult:
    sent: int = 0
    failed: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


async def post_load(
    url: str,
    body: bytes,
    auth: tuple[str, str],
    *,
    requests: int,
    concurrency: int,
    max_seconds: float,
    expect: int,
    on_progress: Callable[[int], None] | None = None,
) -> LoadResult:
    """POST ``body`` up to ``requests`` times, ``concurrency`` at once, within ``max_seconds``."""
    result = LoadResult()
    remaining = requests
    deadline = time.monotonic() + max_seconds
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        connector=connector, headers={**headers, "Authorization": basic_auth(*auth)}
    ) as session:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0 and time.monotonic() < deadline:
                remaining -= 1
                started = time.perf_counter()
                async with session.post(url, data=body) as response:
                    await response.read()
                    ok = response.status == expect
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
                result.sent += ok
                result.failed += not ok
                if on_progress is not None:
                    on_progress(result.sent)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - started
    return result
