"""Per-sender throughput limits: messages over the rate wait for a slot, never fail.

A limit is a rate in messages per second for one sending number.  ``sender_rate`` sets
the default for every number (0 = unlimited); ``sender_rates`` overrides it per number,
written ``+15550001111=1,+15550002222=0.5``.  Slots are reserved in the store, so every
worker process shares them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from trebuchet.server.domain.times import US


def parse_rates(spec: str | Mapping[str, float]) -> dict[str, float]:
    if isinstance(spec, Mapping):
        return {number: float(rate) for number, rate in spec.items()}
    rates: dict[str, float] = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        number, sep, rate = item.partition("=")
        if not sep:
            raise ValueError(f"sender rate {item!r} is not written number=rate")
        rates[number.strip()] = float(rate)
    return rates


@dataclass(frozen=True)
class SenderLimits:
    default: float = 0.0
    per_number: Mapping[str, float] = field(default_factory=dict)

    def interval_us(self, number: str) -> int | None:
        """Microseconds between two sends from ``number``, or None when unlimited."""
        rate = self.per_number.get(number, self.default)
        if rate <= 0:
            return None
        return max(1, round(US / rate))
