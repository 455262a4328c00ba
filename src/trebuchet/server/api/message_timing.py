"""``sendAt``, ``expiration`` and ``validityPeriod`` of a send request: when a message goes
and until when it may go.  Extensions of the Catapult API: a request without them gets a
message queued now that never expires, exactly as before.

* ``sendAt``: an ISO 8601 time up to 35 days ahead; the message is ``scheduled`` until
  then.  A time already passed (by a minute at most, for clocks behind ours) sends now.
* ``expiration`` (an ISO 8601 time) or ``validityPeriod`` (seconds, counted from
  ``sendAt`` or from acceptance), not both: a message not handed to a carrier by then ends
  ``error`` (code ``message-expired``).  At most 14 days after the start.
"""

from __future__ import annotations

from dataclasses import dataclass

from trebuchet.server.domain import errors
from trebuchet.server.domain.controls import (
    MAX_SCHEDULE_AHEAD_US,
    MAX_VALIDITY_SECONDS,
    MAX_VALIDITY_US,
    SCHEDULE_SKEW_US,
    parse_instant,
)
from trebuchet.server.domain.states import MessageState
from trebuchet.server.domain.times import US, format_time

RESOURCE = "message"


@dataclass(frozen=True)
class Timing:
    state: MessageState
    due_us: int
    send_at_us: int | None = None
    expires_us: int | None = None


def _instant(prop: str, value: str) -> int:
    try:
        return parse_instant(value)
    except ValueError:
        raise errors.invalid_property(
            RESOURCE, prop, f"must be an ISO 8601 date and time like 2026-12-07T10:00:00Z, "
            f"not '{value}'"
        ) from None  # fmt: skip


def _send_at(value: str | None, now_us: int) -> int | None:
    if value is None:
        return None
    send_at = _instant("sendAt", value)
    if send_at < now_us - SCHEDULE_SKEW_US:
        raise errors.invalid_property(
            RESOURCE, "sendAt", f"must not be in the past (now is {format_time(now_us)})"
        )
    if send_at > now_us + MAX_SCHEDULE_AHEAD_US:
        days = MAX_SCHEDULE_AHEAD_US // (86_400 * US)
        raise errors.invalid_property(RESOURCE, "sendAt", f"must be at most {days} days ahead")
    return send_at


def _expiry(expiration: str | None, validity: int | None, start_us: int) -> int | None:
    if expiration is not None and validity is not None:
        raise errors.invalid_property(
            RESOURCE, "validityPeriod", "cannot be combined with expiration: give one of them"
        )
    if validity is not None:
        if not 1 <= validity <= MAX_VALIDITY_SECONDS:
            raise errors.invalid_property(
                RESOURCE, "validityPeriod", f"must be 1 to {MAX_VALIDITY_SECONDS} seconds"
            )
        return start_us + validity * US
    if expiration is None:
        return None
    expires = _instant("expiration", expiration)
    if expires <= start_us:
        raise errors.invalid_property(
            RESOURCE, "expiration", "must be later than sendAt, or than now without sendAt"
        )
    if expires > start_us + MAX_VALIDITY_US:
        days = MAX_VALIDITY_US // (86_400 * US)
        raise errors.invalid_property(
            RESOURCE, "expiration", f"must be at most {days} days after sendAt, or after now"
        )
    return expires


def timing(
    send_at: str | None, expiration: str | None, validity: int | None, now_us: int
) -> Timing:
    """When the message goes (its state and ``due_us``) and until when; raises
    :class:`~trebuchet.server.domain.errors.ApiError` naming the property at fault."""
    if send_at is None and expiration is None and validity is None:
        return Timing(MessageState.QUEUED, now_us)
    scheduled = _send_at(send_at, now_us)
    start = now_us if scheduled is None else max(scheduled, now_us)
    expires = _expiry(expiration, validity, start)
    if scheduled is None or scheduled <= now_us:
        return Timing(MessageState.QUEUED, now_us, scheduled, expires)
    return Timing(MessageState.SCHEDULED, scheduled, scheduled, expires)
