"""Client-side checks that raise ``ValueError`` before any request is sent.

Each function returns the value to put on the wire, so callers can write
``params["size"] = check_size(size)``. ``None`` always passes through as "not given".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from typing import Any

DIRECTIONS = ("in", "out")
STATES = ("received", "queued", "sending", "sent", "error")
DELIVERY_STATES = ("waiting", "delivered", "not-delivered")
SORT_ORDERS = ("asc", "desc")
RECEIPT_REQUESTED = ("none", "all", "error")
CALLBACK_HTTP_METHODS = ("GET", "POST")

MAX_PAGE_SIZE = 1000
MAX_CALLBACK_TIMEOUT_MS = 10_000

_E164 = re.compile(r"\+[1-9]\d{1,14}")
_SHORT_CODE = re.compile(r"\d{5,6}")
# yyyy-MM-dd, optionally followed by " HH", ":mm", ":ss" and ".SSS" in that order.
_CATAPULT_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?: (\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{3}))?)?)?)?"
)
# ISO 8601 with a "T": seconds, fraction and zone optional.
_ISO_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|z|[+-]\d{2}:?\d{2})?"
)


def check_choice(
    name: str, value: str | None, allowed: Sequence[str], *, ignore_case: bool = False
) -> str | None:
    """``value`` unchanged if it is one of ``allowed`` (case-insensitively if asked)."""
    if value is None:
        return None
    if isinstance(value, str):
        candidate = value.upper() if ignore_case else value
        if candidate in allowed:
            return value
    choices = ", ".join(repr(choice) for choice in allowed)
    raise ValueError(f"{name} must be one of {choices}, not {value!r}")


def check_e164(name: str, value: str | None, *, short_code: bool = False) -> str | None:
    """An E.164 number such as ``+15550001111`` (or a 5-6 digit short code if allowed)."""
    if value is None:
        return None
    if isinstance(value, str) and (
        _E164.fullmatch(value) or (short_code and _SHORT_CODE.fullmatch(value))
    ):
        return value
    expected = "an E.164 number like '+15550001111'"
    if short_code:
        expected += " or a 5-6 digit short code"
    raise ValueError(f"{name} must be {expected}, not {value!r}")


def check_int_range(name: str, value: int | str | None, low: int, high: int) -> int | None:
    """An integer (or a string of digits) between ``low`` and ``high`` inclusive."""
    if value is None:
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or not low <= number <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, not {value!r}")
    return number


def check_size(size: int | str | None) -> int | None:
    """Page size: 1 to 1000."""
    return check_int_range("size", size, 1, MAX_PAGE_SIZE)


def check_callback_timeout(timeout: int | str | None) -> int | None:
    """Callback timeout in milliseconds: 1 to 10000."""
    return check_int_range("callback_timeout", timeout, 1, MAX_CALLBACK_TIMEOUT_MS)


def format_date_time(name: str, value: str | dt.datetime | dt.date | None) -> str | None:
    """A date-time filter as the server expects it.

    Accepted: strings ``yyyy-MM-dd``, ``yyyy-MM-dd HH``, ``yyyy-MM-dd HH:mm``,
    ``yyyy-MM-dd HH:mm:ss``, ``yyyy-MM-dd HH:mm:ss.SSS`` (sent unchanged); ISO 8601
    strings with ``T`` (converted to UTC, ``yyyy-MM-dd HH:mm:ss.SSS``); ``datetime``
    objects (same conversion; a naive datetime is taken to be UTC) and ``date`` objects
    (``yyyy-MM-dd``).
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return _canonical(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        match = _CATAPULT_DATE_TIME.fullmatch(value)
        if match:
            year, month, day, hour, minute, second, millis = (
                int(part) if part else 0 for part in match.groups()
            )
            try:
                dt.datetime(year, month, day, hour, minute, second, millis * 1000)
            except ValueError as exc:
                raise ValueError(f"{name} is not a valid date-time: {value!r} ({exc})") from None
            return value
        if _ISO_DATE_TIME.fullmatch(value):
            try:
                parsed = dt.datetime.fromisoformat(value.replace("z", "Z"))
            except ValueError as exc:
                raise ValueError(f"{name} is not a valid date-time: {value!r} ({exc})") from None
            return _canonical(parsed)
    raise ValueError(
        f"{name} must be a datetime or a string like '2014-05-25', '2014-05-25 12:00:00', "
        f"'2014-05-25 12:00:00.000' or '2014-05-25T12:00:00Z', not {value!r}"
    )


def _canonical(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def check_media(media: str | Iterable[str] | None) -> str | list[str] | None:
    """One media URL or a list of them."""
    if media is None or isinstance(media, str):
        return media
    if isinstance(media, bytes | dict):
        raise ValueError("media must be a URL or a list of URLs")
    urls = list(media)
    if not all(isinstance(url, str) for url in urls):
        raise ValueError("media must be a URL or a list of URLs")
    return urls


def check_messages_data(messages: Any) -> list[Any]:
    """The bulk-send argument: a list of message objects (sent as they are)."""
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
        raise ValueError("messages_data must be a list of message dicts")
    if not all(isinstance(message, dict) for message in messages):
        raise ValueError("every element of messages_data must be a dict")
    return list(messages)


# send_message's extension keywords (scheduling and expiry) and the properties they set.
TIMING_KEYWORDS = {
    "send_at": "sendAt",
    "expiration": "expiration",
    "validity_period": "validityPeriod",
}


def format_instant(name: str, value: str | dt.datetime) -> str:
    """``send_at``/``expiration``: a timezone-aware datetime (sent as ISO 8601 UTC) or a
    string (sent as it is; the server checks it)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"{name} must be a timezone-aware datetime (tzinfo=UTC, say)")
        utc = value.astimezone(dt.UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    if isinstance(value, str):
        return value
    raise ValueError(f"{name} must be a datetime or an ISO 8601 string, not {value!r}")


def check_validity(value: int | dt.timedelta) -> int:
    """``validity_period``: whole seconds, or a timedelta of them."""
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
        if seconds != int(seconds):
            raise ValueError("validity_period must be a whole number of seconds")
        return int(seconds)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"validity_period must be seconds (an int) or a timedelta, not {value!r}")
    return value


def timing_properties(extra: dict[str, Any]) -> dict[str, Any]:
    """Take send_message's extension keywords out of ``extra`` as request properties; only
    those set are sent, so a call without them sends exactly what it always did."""
    found: dict[str, Any] = {}
    for keyword, prop in TIMING_KEYWORDS.items():
        value = extra.pop(keyword, None)
        if value is None:
            continue
        if keyword == "validity_period":
            found[prop] = check_validity(value)
        else:
            found[prop] = format_instant(keyword, value)
    return found
