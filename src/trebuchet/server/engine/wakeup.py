"""Waking delivery processes from API processes: one datagram per commit, no polling wait.

An engine in the process that accepted a message hears of it at once (``Store.subscribe``);
``serve``'s delivery processes run apart from the API processes, so each listens on a
Unix datagram socket in Linux's abstract namespace (no file to clean up) and the API
processes send it one byte after each commit of new messages or new callback events.
A datagram that cannot be sent (the process is restarting, its queue is full) is
dropped: the delivery process still polls every ``poll_interval``, so a lost wake only
costs latency, never a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import Callable, Sequence

SUPPORTED = sys.platform == "linux"


def wake_address(token: str, index: int) -> str:
    """The abstract socket name of delivery process ``index`` of one ``serve``."""
    return f"\0trebuchet-wake-{token}-{index}"


class WakeSender:
    """Called after a commit: tells every delivery process there is new work."""

    def __init__(self, addresses: Sequence[str]):
        self.addresses = tuple(addresses)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)

    def __call__(self) -> None:
        for address in self.addresses:
            with contextlib.suppress(OSError):  # not listening now, or its queue is full
                self._sock.sendto(b"w", address)

    def close(self) -> None:
        self._sock.close()


class WakeListener:
    """Calls ``wake`` on this loop whenever datagrams arrive at ``address``."""

    def __init__(self, address: str, wake: Callable[[], None]):
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._sock.bind(address)
        self._wake = wake
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._ready)

    def _ready(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while True:  # every datagram queued so far is one wake
                self._sock.recv(64)
        self._wake()

    def close(self) -> None:
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
