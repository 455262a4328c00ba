"""Choosing and building the limiters from the settings."""

from __future__ import annotations

import math

from trebuchet.server.config import Settings
from trebuchet.server.limits.base import FailureCounter, Limits, RateLimiter
from trebuchet.server.limits.memory import MemoryFailureCounter, MemoryRateLimiter

BACKENDS = ("memory", "redis")
FAILURE_MODES = ("open", "closed")


def burst_for(settings: Settings) -> int:
    if settings.rate_limit_burst > 0:
        return settings.rate_limit_burst
    return max(1, math.ceil(settings.rate_limit_per_second))


def failure_limits_on(settings: Settings) -> bool:
    return settings.auth_failure_limit_ip > 0 or settings.auth_failure_limit_token > 0


def _check_settings(settings: Settings) -> None:
    if settings.limiter_backend not in BACKENDS:
        raise ValueError(f"limiter_backend must be one of {', '.join(BACKENDS)}")
    if settings.limiter_failure_mode not in FAILURE_MODES:
        raise ValueError(f"limiter_failure_mode must be one of {', '.join(FAILURE_MODES)}")
    if settings.limiter_backend == "redis" and not settings.redis_url:
        raise ValueError("limiter_backend = redis needs redis_url")


def build_limits(settings: Settings) -> Limits:
    """The limiters the settings ask for; raises ``ValueError`` on a bad combination."""
    _check_settings(settings)
    want_rate = settings.rate_limit_per_second > 0
    want_failures = failure_limits_on(settings) and settings.auth_failure_window_seconds > 0
    rate: RateLimiter | None = None
    failures: FailureCounter | None = None
    if settings.limiter_backend == "memory":
        if want_rate:
            rate = MemoryRateLimiter(settings.rate_limit_per_second, burst_for(settings))
        if want_failures:
            failures = MemoryFailureCounter(settings.auth_failure_window_seconds)
        return Limits(rate, failures)
    url = settings.redis_url
    assert url is not None  # _check_settings
    from trebuchet.server.limits import redis_backend

    closed = settings.limiter_failure_mode == "closed"
    if want_rate:
        rate = redis_backend.RedisRateLimiter(
            redis_backend.connect(url),
            settings.rate_limit_per_second,
            burst_for(settings),
            fail_closed=closed,
        )
    if want_failures:
        failures = redis_backend.RedisFailureCounter(
            redis_backend.connect(url),
            settings.auth_failure_window_seconds,
            fail_closed=closed,
        )
    return Limits(rate, failures)


async def check_backend(settings: Settings) -> None:
    """Raise :class:`LimiterUnavailable` (one line) when the shared backend does not answer,
    ``ValueError`` when the limiter settings do not fit together.

    Run at start-up, whatever ``limiter_failure_mode`` says: that mode is for outages of
    a backend that worked, not for an address that never did.
    """
    _check_settings(settings)
    if settings.limiter_backend != "redis" or not settings.redis_url:
        return
    from trebuchet.server.limits import redis_backend

    await redis_backend.ping(settings.redis_url)
