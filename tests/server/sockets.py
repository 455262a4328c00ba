"""Raw sockets to a live server, for tests of what happens below HTTP parsing."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable

from tests.conftest import LiveServer


def connect(live: LiveServer, bound: float) -> socket.socket:
    """A connection to ``live`` whose every operation gives up after ``bound`` seconds."""
    host, port = live.base_url.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)), timeout=bound)
    conn.settimeout(bound)
    return conn


def read_until_closed(conn: socket.socket, bound: float) -> bytes:
    """Everything the server sends until it closes, resets or ``bound`` seconds pass."""
    deadline = time.monotonic() + bound
    received = b""
    while time.monotonic() < deadline:
        try:
            chunk = conn.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        received += chunk
    return received


def trickle(conn: socket.socket, pieces: Iterable[bytes], interval: float) -> bytes:
    """Send one piece every ``interval`` seconds, reading what the server answers, until it
    closes or resets the connection or the pieces run out; answers what it sent back."""
    conn.settimeout(interval)
    received = b""
    for piece in pieces:
        try:
            conn.sendall(piece)
            chunk = conn.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            break
        if not chunk:
            break
        received += chunk
    return received
