"""Timestamps: stored as integer microseconds since the epoch (UTC), shown as ISO 8601.

The list filters ``fromDateTime``/``toDateTime`` take ``yyyy-MM-dd[ HH[:mm[:ss[.SSS]]]]``
(missing trailing parts are zero) or ISO 8601 with ``T`` and an optional ``Z`` or offset.
Bounds are inclusive at millisecond precision.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_FILTER = re.compile(
    r"""
    (?P<date>\d{4}-\d{2}-\d{2})
    (?:[ T](?P<hour>\d{2})
        (?::(?P<minute>\d{2})
            (?::(?P<second>\d{2})(?:\.(?P<frac>\d{1,6}))?)?
        )?
    )?
    (?P<zone>Z|[+-]\d{2}:?\d{2})?
    """,
    re.VERBOSE,
)


US = 1_000_000  # microseconds in a second: the unit of every stored time and duration


def now_us() -> int:
    return time.time_ns() // 1000


_SECONDS_CACHE: dict[int, str] = {}
_SECONDS_CACHE_LIMIT = 4096
_MILLIS = tuple(f".{millis:03d}Z" for millis in range(1000))


def format_time(epoch_us: int) -> str:
    """``2023-11-14T22:13:20.125Z``: UTC with milliseconds."""
    seconds = epoch_us // US
    stamp = _SECONDS_CACHE.get(seconds)
    if stamp is None:  # a page of messages mostly shares its seconds
        if len(_SECONDS_CACHE) >= _SECONDS_CACHE_LIMIT:
            _SECONDS_CACHE.clear()
        stamp = _SECONDS_CACHE[seconds] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return stamp + _MILLIS[epoch_us // 1000 % 1000]


def parse_filter_time(value: str) -> int:
    """Parse a list filter date into epoch microseconds, truncated to the millisecond.

    Raises ``ValueError`` for anything that is not a complete date with optional time.
    """
    match = _FILTER.fullmatch(value.strip())
    if match is None:
        raise ValueError(value)
    frac = (match["frac"] or "").ljust(3, "0")[:3]
    zone = match["zone"]
    iso = (
        f"{match['date']}T{match['hour'] or '00'}:{match['minute'] or '00'}:"
        f"{match['second'] or '00'}.{frac}"
    )
    if zone and zone != "Z":
        iso += zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    parsed = datetime.fromisoformat(iso)  # raises ValueError on impossible dates
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    # Integer arithmetic: float timestamps lose the last microsecond digit.
    delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds
