"""In-process limiters: exact for one API process, nothing shared between processes."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from trebuchet.server.limits.base import Verdict, refill, take

# Past this many keys, entries that carry no information (full buckets, ended windows)
# are dropped; if all of them still matter, the oldest go.
MAX_KEYS = 100_000

Clock = Callable[[], float]


class MemoryRateLimiter:
    def __init__(self, rate: float, burst: int, *, clock: Clock = time.monotonic):
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limiter needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    async def hit(self, key: str) -> Verdict:
        now = self._clock()
        state = self._buckets.get(key)
        if state is None:
            if len(self._buckets) >= MAX_KEYS:
                self._prune(now)
            tokens = float(self.burst)
        else:
            tokens = refill(state[0], now - state[1], self.rate, self.burst)
        tokens, verdict = take(tokens, self.rate)
        self._buckets[key] = (tokens, now)
        return verdict

    def _prune(self, now: float) -> None:
        full = [
            key
            for key, (tokens, stamp) in self._buckets.items()
            if refill(tokens, now - stamp, self.rate, self.burst) >= self.burst
        ]
        for key in full:
            del self._buckets[key]
        _drop_oldest(self._buckets)

    async def aclose(self) -> None:
        self._buckets.clear()


class MemoryFailureCounter:
    def __init__(self, window: float, *, clock: Clock = time.monotonic):
        if window <= 0:
            raise ValueError("a failure window must be longer than 0 seconds")
        self.window = window
        self._clock = clock
        # key -> (window end, failures in the window)
        self._counts: dict[str, tuple[float, int]] = {}

    async def blocked(self, limits: Mapping[str, int]) -> float:
        if not self._counts:
            return 0.0
        now = self._clock()
        wait = 0.0
        for key, limit in limits.items():
            entry = self._counts.get(key)
            if entry is not None and entry[1] >= limit and entry[0] > now:
                wait = max(wait, entry[0] - now)
        return wait

    async def fail(self, keys: list[str]) -> None:
        now = self._clock()
        for key in keys:
            entry = self._counts.get(key)
            if entry is None or entry[0] <= now:
                if len(self._counts) >= MAX_KEYS:
                    self._prune(now)
                self._counts[key] = (now + self.window, 1)
            else:
                self._counts[key] = (entry[0], entry[1] + 1)

    def _prune(self, now: float) -> None:
        ended = [key for key, (end, _) in self._counts.items() if end <= now]
        for key in ended:
            del self._counts[key]
        _drop_oldest(self._counts)

    async def aclose(self) -> None:
        self._counts.clear()


def _drop_oldest(items: dict[str, tuple[float, float]] | dict[str, tuple[float, int]]) -> None:
    excess = len(items) - MAX_KEYS + MAX_KEYS // 10
    if excess > 0:
        for key in list(items)[:excess]:
            del items[key]
