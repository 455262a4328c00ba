"""Resource identifiers: a prefix and 23 characters of lowercase base32 (``a-z2-7``).

The first 11 characters encode the creation time in microseconds, most significant
first, in an alphabet listed in byte order; the other 12 are random (60 bits).  Ids
therefore sort by creation time, so new rows land at the end of the primary-key index
instead of on a random page: a batch of inserts dirties a few pages, not one per row.
"""

from __future__ import annotations

import base64
import os
import secrets
import time

_SORTED_BASE32 = "234567abcdefghijklmnopqrstuvwxyz"  # same characters, in byte order
_TIME_CHARS = 11  # 55 bits of microseconds: good until the year 3111
_RANDOM_CHARS = 12
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# Each base64 digit is uniform over 64 symbols, so folding it onto 32 stays uniform.
_FOLD = bytes.maketrans(_BASE64, _SORTED_BASE32.encode() * 2)


# Ten bits at a time: 1024 two-character strings.
_PAIRS = [a + b for a in _SORTED_BASE32 for b in _SORTED_BASE32]


def _time_part(epoch_us: int) -> str:
    """55 bits, most significant first: 1 + 5 x 2 characters."""
    return "".join(
        (
            _SORTED_BASE32[(epoch_us >> 50) & 31],
            _PAIRS[(epoch_us >> 40) & 1023],
            _PAIRS[(epoch_us >> 30) & 1023],
            _PAIRS[(epoch_us >> 20) & 1023],
            _PAIRS[(epoch_us >> 10) & 1023],
            _PAIRS[epoch_us & 1023],
        )
    )


def new_id(prefix: str, epoch_us: int | None = None) -> str:
    """A fresh id such as ``m-3b7kq2mxa4zvbt5ye6wqja2`` that sorts by creation time."""
    if epoch_us is None:
        epoch_us = time.time_ns() // 1000
    random_part = base64.b64encode(os.urandom(9)).translate(_FOLD)[:_RANDOM_CHARS].decode()
    return f"{prefix}-{_time_part(epoch_us)}{random_part}"


def new_message_id(epoch_us: int | None = None) -> str:
    return new_id("m", epoch_us)


def new_secret(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)
