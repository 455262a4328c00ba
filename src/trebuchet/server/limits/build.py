"""Choosing and building the limiters from the settings."""

from __future__ import annotations

import math

from trebuchet.server.config import Settings
from trebuchet.server.limits.base import FailureCounter, Limits, RateLimiter
from trebuchet.server.limits.memory import MemoryFailureCounter, MemoryRateLimiter

BACKENDS = ("memory", "redis")


def burst_for(settings: Settings) -> int:
    if settings.rate_limit_burst > 0:
        return settings.rate_limit_burst
    return max(1, math.ceil(settings.rate_limit_per_second))


def failure_limits_on(settings: Settings) -> bool:
    return settings.auth_failure_limit_ip > 0 or settings.auth_failure_limit_token > 0


def build_limits(settings: Settings) -> Limits:
    """The limiters the settings ask for; raises ``ValueError`` on a bad combination."""
    if settings.limiter_backend not in BACKENDS:
        raise ValueError(f"limiter_backend must be one of {', '.join(BACKENDS)}")
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
    if not settings.redis_url:
        raise ValueError("limiter_backend = redis needs redis_url")
    from trebuchet.server.limits import redis_backend

    if want_rate:
        rate = redis_backend.RedisRateLimiter(
            redis_backend.connect(settings.redis_url),
            settings.rate_limit_per_second,
            burst_for(settings),
        )
    if want_failures:
        failures = redis_backend.RedisFailureCounter(
            redis_backend.connect(settings.redis_url), settings.auth_failure_window_seconds
        )
    return Limits(rate, failures)
