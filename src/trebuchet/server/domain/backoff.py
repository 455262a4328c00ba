"""Retry policies: pure objects, no clock, no randomness of their own.

``Backoff.delay(attempt, draw)`` is the wait after failed attempt ``attempt`` (1-based):
``initial * factor ** (attempt - 1)`` capped at ``maximum``, less a jitter of up to
``jitter`` of itself chosen by ``draw`` in [0, 1).  Callers pass ``random.random()``;
tests pass fixed draws.
"""

from __future__ import annotations

from dataclasses import dataclass

from trebuchet.server.domain.times import US


@dataclass(frozen=True)
class Backoff:
    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 3600.0
    jitter: float = 0.2

    def delay(self, attempt: int, draw: float = 0.0) -> float:
        """Seconds to wait after failed attempt ``attempt``."""
        if attempt < 1:
            raise ValueError("attempts count from 1")
        exponent = min(attempt - 1, 64)  # no overflow, however long it keeps failing
        base = min(self.maximum, self.initial * self.factor**exponent)
        return base * (1.0 - self.jitter * min(max(draw, 0.0), 1.0))

    def delay_us(self, attempt: int, draw: float = 0.0) -> int:
        return round(self.delay(attempt, draw) * US)


@dataclass(frozen=True)
class SendRetry:
    """Transient carrier failures: back off, honour the carrier's hint, stop after a count."""

    backoff: Backoff
    max_attempts: int

    def next_delay_us(self, attempt: int, retry_after: float | None, draw: float) -> int | None:
        """Microseconds until the next try, or None when the message should fail."""
        if attempt >= self.max_attempts:
            return None
        delay = self.backoff.delay(attempt, draw)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return round(delay * US)


@dataclass(frozen=True)
class CallbackRetry:
    """Callbacks: back off until a window measured from the event's creation closes."""

    backoff: Backoff
    window_us: int

    def next_due_us(self, attempt: int, now: int, expires_us: int, draw: float) -> int | None:
        """When to try again, or None when the event has run out of time."""
        if now >= expires_us:
            return None
        return min(now + self.backoff.delay_us(attempt, draw), expires_us)
