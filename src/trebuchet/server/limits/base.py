"""The limiter interfaces and the pure token-bucket arithmetic both backends share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


class LimiterUnavailable(Exception):
    """The shared backend did not answer and the limiter fails closed (or at start-up)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    # Seconds until one more request would be allowed (0 when allowed).
    retry_after: float = 0.0


ALLOWED = Verdict(True)


class RateLimiter(Protocol):
    """A token bucket per key: ``burst`` tokens, refilled at ``rate`` per second."""

    rate: float
    burst: int

    async def hit(self, key: str) -> Verdict:
        """Take one token from ``key``'s bucket, or say how long until one is there."""
        ...

    async def aclose(self) -> None: ...


class FailureCounter(Protocol):
    """Counts failures per key in fixed windows that start at a key's first failure."""

    window: float

    async def blocked(self, limits: Mapping[str, int]) -> float:
        """Seconds until every key is under its limit again (0 when none is over)."""
        ...

    async def fail(self, keys: list[str]) -> None:
        """Count one failure against each key."""
        ...

    async def aclose(self) -> None: ...


@dataclass
class Limits:
    """What :func:`build_limits` made from the settings; ``None`` means switched off."""

    rate: RateLimiter | None = None
    failures: FailureCounter | None = None

    async def aclose(self) -> None:
        for part in (self.rate, self.failures):
            if part is not None:
                await part.aclose()


def refill(tokens: float, elapsed: float, rate: float, burst: int) -> float:
    return min(float(burst), tokens + max(0.0, elapsed) * rate)


def take(tokens: float, rate: float) -> tuple[float, Verdict]:
    """Spend one token if there is one; otherwise the wait until there is."""
    if tokens >= 1.0:
        return tokens - 1.0, ALLOWED
    return tokens, Verdict(False, (1.0 - tokens) / rate)
