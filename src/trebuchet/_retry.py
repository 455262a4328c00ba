"""The retry policy: a pure object that decides whether and how long to wait.

It never sleeps and never reads the clock: callers pass ``now`` (Unix seconds) and
``rand`` (a number in ``[0, 1)``), so every decision can be tested exactly.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_MAX_RETRIES = 2
DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_BACKOFF_MAX = 8.0
DEFAULT_JITTER = 0.25
DEFAULT_MAX_RETRY_AFTER = 60.0

# X-RateLimit-Reset is documented as epoch milliseconds; a value this small can only be
# seconds (1e11 ms is March 1973, 1e11 s is the year 5138), so it is read as seconds.
_SECONDS_NOT_MILLIS_BELOW = 100_000_000_000


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry a request and how long to wait first.

    Retried: connection errors and timeouts (``status=None``), 408, 409, 429 and every
    5xx. The wait is ``min(backoff_max, backoff_base * 2**attempt)`` shortened by up to
    ``jitter`` (a fraction), unless the server said how long to wait: ``Retry-After``
    (seconds or an HTTP date) on any retryable status, or ``X-RateLimit-Reset`` (epoch
    milliseconds) on 429. A server-requested wait longer than ``max_retry_after`` is not
    honoured by waiting; the error is raised instead so the caller can decide.

    Example::

        policy = RetryPolicy(max_retries=5, backoff_base=0.2)
        policy.delay(0, status=503, headers={}, now=0.0, rand=0.0)  # 0.2
        RetryPolicy(max_retries=0).delay(0, status=503, headers={}, now=0.0, rand=0.0)  # None
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_base: float = DEFAULT_BACKOFF_BASE
    backoff_max: float = DEFAULT_BACKOFF_MAX
    jitter: float = DEFAULT_JITTER
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be 0 (no retries) or more")
        if self.backoff_base < 0 or self.backoff_max < 0:
            raise ValueError("backoff_base and backoff_max must not be negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    @staticmethod
    def is_retryable_status(status: int) -> bool:
        """True for 408, 409, 429 and 5xx."""
        return status in (408, 409, 429) or status >= 500

    def backoff(self, attempt: int, rand: float) -> float:
        """Exponential backoff for retry number ``attempt`` (0-based) with jitter."""
        base = min(self.backoff_max, self.backoff_base * 2.0**attempt)
        return base * (1.0 - self.jitter * rand)

    def delay(
        self,
        attempt: int,
        *,
        status: int | None,
        headers: Mapping[str, str] | None = None,
        now: float,
        rand: float,
        idempotent: bool = True,
    ) -> float | None:
        """Seconds to wait before retry number ``attempt`` (0-based), or ``None`` to give up.

        ``status`` is the HTTP status, or ``None`` for a connection error or timeout.
        ``idempotent`` is False for a request that must not be repeated (a POST without
        an idempotency key): such a request is never retried.
        """
        if not idempotent or attempt >= self.max_retries:
            return None
        if status is not None and not self.is_retryable_status(status):
            return None
        requested = server_requested_delay(status, headers or {}, now)
        if requested is None:
            return self.backoff(attempt, rand)
        if requested > self.max_retry_after:
            return None
        return requested


def server_requested_delay(
    status: int | None, headers: Mapping[str, str], now: float
) -> float | None:
    """Seconds the server asked us to wait, from ``Retry-After`` or (on 429) ``X-RateLimit-Reset``.

    ``headers`` must look names up case-insensitively (``httpx.Headers`` does); a plain
    dict should use lower-case names.
    """
    if status is None:
        return None
    retry_after = parse_retry_after(headers.get("retry-after"), now)
    if retry_after is not None:
        return retry_after
    if status == 429:
        return parse_rate_limit_reset(headers.get("x-ratelimit-reset"), now)
    return None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now``: delta-seconds or an HTTP date; never negative."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - now
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


def parse_rate_limit_reset(value: str | None, now: float) -> float | None:
    """``X-RateLimit-Reset`` (epoch milliseconds) as seconds from ``now``; never negative."""
    if value is None:
        return None
    try:
        reset = float(value.strip())
    except ValueError:
        return None
    if reset != reset or reset in (float("inf"), float("-inf")):
        return None
    reset_seconds = reset if reset < _SECONDS_NOT_MILLIS_BELOW else reset / 1000.0
    return max(0.0, reset_seconds - now)
