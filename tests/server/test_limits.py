"""Contract tests for the limiters, run on every implementation (memory, Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from trebuchet.server.config import Settings
from trebuchet.server.limits import FailureCounter, RateLimiter, build_limits, memory
from trebuchet.server.limits.base import refill, take
from trebuchet.server.limits.memory import MemoryFailureCounter, MemoryRateLimiter
from trebuchet.server.limits.redis_backend import (
    RedisFailureCounter,
    RedisRateLimiter,
    connect,
)

RateFactory = Callable[[float, int], RateLimiter]
FailureFactory = Callable[[float], FailureCounter]
SLACK = 0.05  # scheduling noise allowed on waits measured in real time
# The contract tests wait for Redis as long as a loaded machine needs: a client that gave
# up after the production timeout would let requests through (fail open, tested below) and
# the contract would not be checked at all.
PATIENT = 10.0


@pytest.fixture(params=["memory", "redis"])
async def make_rate(request: pytest.FixtureRequest) -> AsyncIterator[RateFactory]:
    made: list[RateLimiter] = []

    def factory(rate: float, burst: int) -> RateLimiter:
        limiter: RateLimiter
        if request.param == "memory":
            limiter = MemoryRateLimiter(rate, burst)
        else:
            url = request.getfixturevalue("redis_server")
            prefix = request.getfixturevalue("redis_prefix")
            limiter = RedisRateLimiter(connect(url, PATIENT), rate, burst, prefix=prefix)
        made.append(limiter)
        return limiter

    yield factory
    for limiter in made:
        await limiter.aclose()


@pytest.fixture(params=["memory", "redis"])
async def make_failures(request: pytest.FixtureRequest) -> AsyncIterator[FailureFactory]:
    made: list[FailureCounter] = []

    def factory(window: float) -> FailureCounter:
        counter: FailureCounter
        if request.param == "memory":
            counter = MemoryFailureCounter(window)
        else:
            url = request.getfixturevalue("redis_server")
            prefix = request.getfixturevalue("redis_prefix")
            counter = RedisFailureCounter(connect(url, PATIENT), window, prefix=prefix)
        made.append(counter)
        return counter

    yield factory
    for counter in made:
        await counter.aclose()


# -- rate limiter contract --------------------------------------------------------------


async def test_a_burst_is_allowed_then_the_wait_is_named(make_rate: RateFactory) -> None:
    limiter = make_rate(1.0, 3)
    verdicts = [await limiter.hit("u-1") for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert 0 < verdicts[-1].retry_after <= 1.0 + SLACK


async def test_keys_have_buckets_of_their_own(make_rate: RateFactory) -> None:
    limiter = make_rate(1.0, 1)
    assert (await limiter.hit("u-a")).allowed
    assert not (await limiter.hit("u-a")).allowed
    assert (await limiter.hit("u-b")).allowed


async def test_the_bucket_refills_at_the_rate(make_rate: RateFactory) -> None:
    limiter = make_rate(50.0, 1)
    assert (await limiter.hit("u-1")).allowed
    denied = await limiter.hit("u-1")
    assert not denied.allowed and denied.retry_after <= 0.02 + SLACK
    await asyncio.sleep(denied.retry_after + 0.01)
    assert (await limiter.hit("u-1")).allowed


async def test_refused_requests_do_not_spend_tokens(make_rate: RateFactory) -> None:
    limiter = make_rate(20.0, 1)
    assert (await limiter.hit("u-1")).allowed
    for _ in range(5):
        assert not (await limiter.hit("u-1")).allowed
    await asyncio.sleep(0.05 + 0.02)
    assert (await limiter.hit("u-1")).allowed


async def test_concurrent_hits_never_exceed_the_burst(make_rate: RateFactory) -> None:
    limiter = make_rate(0.001, 10)
    verdicts = await asyncio.gather(*(limiter.hit("u-1") for _ in range(40)))
    assert sum(v.allowed for v in verdicts) == 10


# -- failure counter contract -----------------------------------------------------------


async def test_a_key_is_blocked_once_it_reaches_its_limit(make_failures: FailureFactory) -> None:
    counter = make_failures(30.0)
    for _ in range(2):
        await counter.fail(["ip:a"])
        assert await counter.blocked({"ip:a": 3}) == 0
    await counter.fail(["ip:a"])
    wait = await counter.blocked({"ip:a": 3})
    assert 29 < wait <= 30.0


async def test_each_key_has_its_own_count_and_limit(make_failures: FailureFactory) -> None:
    counter = make_failures(30.0)
    await counter.fail(["ip:a", "token:t"])
    await counter.fail(["ip:a"])
    assert await counter.blocked({"ip:a": 5, "token:t": 2}) == 0
    assert await counter.blocked({"ip:a": 2}) > 0
    assert await counter.blocked({"token:t": 1, "ip:b": 1}) > 0
    assert await counter.blocked({"ip:b": 1, "token:other": 1}) == 0


async def test_the_window_ends(make_failures: FailureFactory) -> None:
    counter = make_failures(0.1)
    await counter.fail(["ip:a"])
    assert await counter.blocked({"ip:a": 1}) > 0
    await asyncio.sleep(0.1 + SLACK)
    assert await counter.blocked({"ip:a": 1}) == 0
    await counter.fail(["ip:a"])  # a new window starts with one failure
    assert await counter.blocked({"ip:a": 2}) == 0


# -- pure arithmetic and the in-process details -----------------------------------------


def test_token_bucket_arithmetic() -> None:
    assert refill(0.0, 0.5, rate=2.0, burst=5) == 1.0
    assert refill(4.5, 100.0, rate=2.0, burst=5) == 5.0
    assert refill(1.0, -3.0, rate=2.0, burst=5) == 1.0  # a clock step back adds nothing
    tokens, verdict = take(1.0, rate=2.0)
    assert tokens == 0.0 and verdict.allowed and verdict.retry_after == 0
    tokens, verdict = take(0.5, rate=2.0)
    assert tokens == 0.5 and not verdict.allowed and verdict.retry_after == 0.25


async def test_memory_limiter_follows_its_clock() -> None:
    now = [100.0]
    limiter = MemoryRateLimiter(2.0, 2, clock=lambda: now[0])
    assert [(await limiter.hit("k")).allowed for _ in range(3)] == [True, True, False]
    now[0] += 0.5
    assert (await limiter.hit("k")).allowed
    assert (await limiter.hit("k")).retry_after == 0.5


async def test_memory_state_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "MAX_KEYS", 100)
    now = [0.0]
    limiter = MemoryRateLimiter(1.0, 1, clock=lambda: now[0])
    counter = MemoryFailureCounter(10.0, clock=lambda: now[0])
    for index in range(1000):
        await limiter.hit(f"u-{index}")
        await counter.fail([f"ip:{index}"])
        now[0] += 0.001
    assert len(limiter._buckets) <= 100
    assert len(counter._counts) <= 100


async def test_redis_outage_lets_requests_through() -> None:
    dead = "redis://127.0.0.1:1/0"
    limiter = RedisRateLimiter(connect(dead), 1.0, 1)
    counter = RedisFailureCounter(connect(dead), 10.0)
    try:
        assert all([(await limiter.hit("u")).allowed for _ in range(3)])
        await counter.fail(["ip:a"])
        assert await counter.blocked({"ip:a": 1}) == 0
        assert not await counter.ping()
    finally:
        await limiter.aclose()
        await counter.aclose()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"limiter_backend": "carrier-pigeon"}, "limiter_backend"),
        ({"limiter_backend": "redis", "rate_limit_per_second": 1.0}, "redis_url"),
    ],
)
def test_bad_limiter_settings_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_limits(Settings(**overrides))


async def test_limits_are_off_when_the_settings_say_so() -> None:
    limits = build_limits(Settings(auth_failure_limit_ip=0, auth_failure_limit_token=0))
    assert limits.rate is None and limits.failures is None
    limits = build_limits(Settings(rate_limit_per_second=2.5))
    assert isinstance(limits.rate, MemoryRateLimiter) and limits.rate.burst == 3
    await limits.aclose()
