"""Time as the engine sees it; tests hand in a clock they move by hand."""

from __future__ import annotations

from typing import Protocol

from trebuchet.server.domain.times import now_us


class Clock(Protocol):
    def now_us(self) -> int: ...


class SystemClock:
    def now_us(self) -> int:
        return now_us()
