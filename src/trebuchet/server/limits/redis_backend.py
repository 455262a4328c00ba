"""Redis limiters: one limit shared by every API process that points at the same Redis.

The token bucket runs as one Lua script (atomic, one round trip, Redis's clock); failure
windows are ``SET NX PX`` + ``INCR`` counters.  When Redis does not answer, requests are
let through (``fail_closed`` off, the default) or refused with :class:`LimiterUnavailable`
(``fail_closed`` on), and Redis is left alone for :data:`RETRY_AFTER_ERROR` seconds, so an
outage costs no latency.  :func:`ping` is the start-up check: a Redis that does not
answer then is a configuration error, not an outage.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.exceptions import RedisError

from trebuchet.server import metrics
from trebuchet.server.domain.times import US
from trebuchet.server.limits.base import ALLOWED, LimiterUnavailable, Verdict

log = logging.getLogger("trebuchet.limits")

KEY_PREFIX = "trebuchet:"
SOCKET_TIMEOUT = 0.25
RETRY_AFTER_ERROR = 1.0
STARTUP_TIMEOUT = 2.0

# KEYS[1] bucket; ARGV rate (tokens/s), burst.  Returns {allowed, wait in microseconds}.
TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local state = redis.call('HMGET', KEYS[1], 't', 's')
local tokens = tonumber(state[1])
local stamp = tonumber(state[2])
if tokens == nil or stamp == nil then
  tokens = burst
else
  tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate / 1000000)
end
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) * 1000000 / rate)
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 's', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, wait}
"""


def connect(url: str, timeout: float = SOCKET_TIMEOUT) -> Redis:
    """A client that gives up on Redis after ``timeout`` seconds."""
    return Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


def where(url: str) -> str:
    """``host:port/db`` of a Redis URL, without its credentials (for messages)."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or ''}"


async def ping(url: str) -> None:
    """Raise :class:`LimiterUnavailable`, with one line saying why, unless Redis answers."""
    client = connect(url, STARTUP_TIMEOUT)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        raise LimiterUnavailable(
            f"limiter_backend = redis, but Redis at {where(url)} does not answer: {exc}"
        ) from None
    finally:
        await client.aclose()


class _Breaker:
    """Skips Redis for a moment after it failed, logging once per outage."""

    def __init__(self, what: str, fail_closed: bool):
        self.what = what
        self.fail_closed = fail_closed
        self.down_until = 0.0

    def open(self) -> bool:
        """Whether Redis is to be left alone; raises instead when failing closed."""
        if self.down_until <= time.monotonic():
            return False
        if self.fail_closed:
            raise LimiterUnavailable(self.what)
        return True

    def failed(self, exc: Exception) -> None:
        """Note an outage; raises :class:`LimiterUnavailable` when failing closed."""
        if not self.down_until:
            then = "refusing requests" if self.fail_closed else "letting requests through"
            log.warning("redis %s unavailable, %s: %s", self.what, then, exc)
        self.down_until = time.monotonic() + RETRY_AFTER_ERROR
        metrics.LIMITER_ERRORS.inc()
        if self.fail_closed:
            raise LimiterUnavailable(self.what) from exc

    def recovered(self) -> None:
        if self.down_until:
            log.warning("redis %s answers again", self.what)
        self.down_until = 0.0


class RedisRateLimiter:
    def __init__(
        self,
        client: Redis,
        rate: float,
        burst: int,
        *,
        prefix: str = KEY_PREFIX,
        fail_closed: bool = False,
    ):
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limiter needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._client = client
        self._prefix = f"{prefix}rate:"
        self._script: Any = client.register_script(TOKEN_BUCKET)
        self._breaker = _Breaker("rate limiter", fail_closed)

    async def hit(self, key: str) -> Verdict:
        if self._breaker.open():
            return ALLOWED
        try:
            allowed, wait_us = await self._script(
                keys=[self._prefix + key], args=[self.rate, self.burst]
            )
        except (RedisError, OSError) as exc:
            self._breaker.failed(exc)
            return ALLOWED
        self._breaker.recovered()
        return ALLOWED if int(allowed) else Verdict(False, int(wait_us) / US)

    async def aclose(self) -> None:
        await self._client.aclose()


class RedisFailureCounter:
    def __init__(
        self, client: Redis, window: float, *, prefix: str = KEY_PREFIX, fail_closed: bool = False
    ):
        if window <= 0:
            raise ValueError("a failure window must be longer than 0 seconds")
        self.window = window
        self._client = client
        self._prefix = f"{prefix}fail:"
        self._breaker = _Breaker("failure counter", fail_closed)

    async def blocked(self, limits: Mapping[str, int]) -> float:
        if self._breaker.open():
            return 0.0
        keys = list(limits)
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.get(self._prefix + key)
                    pipe.pttl(self._prefix + key)
                replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._breaker.failed(exc)
            return 0.0
        self._breaker.recovered()
        wait_ms = 0
        for index, key in enumerate(keys):
            count, ttl = replies[2 * index], replies[2 * index + 1]
            if count is not None and int(count) >= limits[key] and ttl > 0:
                wait_ms = max(wait_ms, int(ttl))
        return wait_ms / 1000

    async def fail(self, keys: list[str]) -> None:
        if self._breaker.open():
            return
        window_ms = max(1, math.ceil(self.window * 1000))
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                for key in keys:
                    pipe.set(self._prefix + key, 0, px=window_ms, nx=True)
                    pipe.incr(self._prefix + key)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._breaker.failed(exc)
            return
        self._breaker.recovered()

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    async def aclose(self) -> None:
        await self._client.aclose()
