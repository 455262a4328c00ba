"""Scheduling and expiry as pure rules: the bounds on ``sendAt`` and ``expiration``, the
times they are read from, and what an expiry means to a message waiting to be sent.

Times are integer microseconds since the epoch (``US`` per second), as everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime

from trebuchet.server.domain.times import US

DAY_US = 86_400 * US
# ``sendAt`` may lie this far ahead at most.
MAX_SCHEDULE_AHEAD_US = 35 * DAY_US
# A ``sendAt`` this far in the past is still taken (the client's clock may be behind ours):
# the message goes at once.
SCHEDULE_SKEW_US = 60 * US
# A message may stay sendable this long after its start (``sendAt``, or acceptance).
MAX_VALIDITY_US = 14 * DAY_US
MAX_VALIDITY_SECONDS = MAX_VALIDITY_US // US
# The delivery code and description an expired message shows (spec §3.4's 902).
EXPIRED_CODE = 902
EXPIRED_ERROR = "message-expired"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_instant(value: str) -> int:
    """An ISO 8601 date and time (``2026-12-07T10:00:00Z``, an offset, or none for UTC)
    as epoch microseconds; raises ``ValueError`` for anything else."""
    stripped = value.strip()
    if "T" not in stripped.upper() and " " not in stripped:
        raise ValueError(value)  # a date alone is no instant
    parsed = datetime.fromisoformat(stripped)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def expired(expires_us: int | None, now_us: int) -> bool:
    """Whether a message with this expiry may no longer be handed to a carrier."""
    return expires_us is not None and now_us >= expires_us


def capped_due(due_us: int, expires_us: int | None) -> int:
    """A retry or a rate slot after the expiry comes due at the expiry instead, so the
    message ends ``error`` on time rather than when it would have been tried."""
    return due_us if expires_us is None else min(due_us, expires_us)


def validity_seconds(expires_us: int | None, now_us: int) -> int | None:
    """The validity period to hand a carrier: whole seconds left, at least 1."""
    if expires_us is None:
        return None
    return max(1, (expires_us - now_us) // US)
