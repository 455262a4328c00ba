"""Resource identifiers: a prefix and 23 characters of lowercase base32 (``a-z2-7``).

The first 11 characters encode the creation time in microseconds, most significant
first, in an alphabet listed in byte order; the other 12 are random (60 bits).  Ids
therefore sort by creation time, so new rows land at the end of the primary-key index
instead of on a random page: a batch of inserts dirties a few pages, not one per row.

The random bits come from the operating system's generator, read a few kilobytes at a
time per thread (one system call per id cost more than the rest of building it).
"""

from __future__ import annotations

import os
import secrets
import threading
import time

_SORTED_BASE32 = "234567abcdefghijklmnopqrstuvwxyz"  # same characters, in byte order
_TIME_CHARS = 11  # 55 bits of microseconds: good until the year 3111
_RANDOM_BYTES = 8  # 64 bits read per id, the top 60 used
_BUFFER_IDS = 512

# Ten bits at a time: 1024 two-character strings.
_PAIRS = [a + b for a in _SORTED_BASE32 for b in _SORTED_BASE32]


class _RandomBits(threading.local):
    """Random 60-bit numbers from ``os.urandom``, buffered per thread."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._buffer = b""
        self._offset = 0

    def next60(self) -> int:
        if self._offset >= len(self._buffer):
            self._buffer = os.urandom(_RANDOM_BYTES * _BUFFER_IDS)
            self._offset = 0
        start = self._offset
        self._offset = start + _RANDOM_BYTES
        return int.from_bytes(self._buffer[start : start + _RANDOM_BYTES], "big") >> 4


_random = _RandomBits()
# A forked child must not draw the bits left in its parent's buffer.
os.register_at_fork(after_in_child=_random.reset)


def _time_part(epoch_us: int) -> str:
    """55 bits, most significant first: 1 + 5 x 2 characters."""
    return _SORTED_BASE32[(epoch_us >> 50) & 31] + _fifty_bits(epoch_us)


def _fifty_bits(bits: int) -> str:
    """The low 50 bits of ``bits`` as 10 characters, most significant first."""
    pairs = _PAIRS
    return (
        pairs[(bits >> 40) & 1023]
        + pairs[(bits >> 30) & 1023]
        + pairs[(bits >> 20) & 1023]
        + pairs[(bits >> 10) & 1023]
        + pairs[bits & 1023]
    )


def new_id(prefix: str, epoch_us: int | None = None) -> str:
    """A fresh id such as ``m-3b7kq2mxa4zvbt5ye6wqja2`` that sorts by creation time."""
    if epoch_us is None:
        epoch_us = time.time_ns() // 1000
    bits = _random.next60()  # 60 bits: 2 + 10 characters
    return f"{prefix}-{_time_part(epoch_us)}{_PAIRS[bits >> 50]}{_fifty_bits(bits)}"


def new_message_id(epoch_us: int | None = None) -> str:
    return new_id("m", epoch_us)


def new_secret(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)
