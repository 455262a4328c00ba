"""The head-size limit on heads that arrive whole, and the body's inactivity timeout and
minimum rate, on a real socket.  Every exchange is bounded in time."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, make_settings, running_server
from tests.server.sockets import connect, read_until_closed, trickle

BOUND = 6.0  # no exchange below may take longer than this
BODY_TIMEOUT = 0.5


@contextlib.contextmanager
def _server(sqlite_url: str, **overrides: Any) -> Iterator[LiveServer]:
    with running_server(make_settings(sqlite_url, **overrides)) as live:
        yield live


@pytest.fixture
def edge_server(sqlite_url: str) -> Iterator[LiveServer]:
    """Default head limits (32 KiB), a short body timeout and a low minimum body rate."""
    with _server(sqlite_url, body_timeout_seconds=BODY_TIMEOUT, body_min_bytes_per_second=200) as s:
        yield s


def _status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0


@pytest.mark.parametrize(
    "headers",
    [
        b"X-Big: " + b"a" * 100_000 + b"\r\n",  # one huge header
        b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 1000) for i in range(90)),  # many large ones
    ],
)
def test_a_head_over_the_limit_in_one_read_is_431(edge_server: LiveServer, headers: bytes) -> None:
    with connect(edge_server, BOUND) as conn:
        with contextlib.suppress(OSError):  # the server may close while we still send
            conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        reply = read_until_closed(conn, BOUND)
    assert _status(reply) == 431, reply[:200]
    assert b'"request-header-too-large"' in reply


def test_a_long_url_counts_towards_the_head(sqlite_url: str) -> None:
    with _server(sqlite_url, max_header_bytes=4096) as live, connect(live, BOUND) as conn:
        with contextlib.suppress(OSError):
            conn.sendall(b"GET /health?q=" + b"u" * 8000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _status(read_until_closed(conn, BOUND)) == 431


def test_a_head_just_under_the_limit_is_served(edge_server: LiveServer) -> None:
    headers = {f"X-Ok-{index}": "v" * 1000 for index in range(28)}  # about 29 KB
    response = httpx.get(f"{edge_server.base_url}/health", headers=headers, timeout=BOUND)
    assert response.status_code == 200


def _send_head(conn: socket.socket, live: LiveServer, length: int) -> None:
    creds = live.create_user(["+15550001111"])
    auth = httpx.BasicAuth(*creds.auth)._auth_header.encode()
    conn.sendall(
        f"POST /v1/users/{creds.user_id}/messages HTTP/1.1\r\nHost: x\r\n".encode()
        + b"Authorization: "
        + auth
        + f"\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n".encode()
    )


def _body(size: int) -> bytes:
    body = json.dumps({"from": "+15550001111", "to": "+15550002222", "text": "slow"}).encode()
    return body + b" " * (size - len(body))


def test_a_steady_upload_longer_than_the_body_timeout_passes(edge_server: LiveServer) -> None:
    body = _body(1000)  # 50 bytes every 0.1 s: 500 B/s for 2 s, four body timeouts
    started = time.monotonic()
    with connect(edge_server, BOUND) as conn:
        _send_head(conn, edge_server, len(body))
        for offset in range(0, len(body), 50):
            conn.sendall(body[offset : offset + 50])
            time.sleep(0.1)
        reply = _read_until_closed_or_answered(conn)
    assert time.monotonic() - started > 4 * BODY_TIMEOUT
    assert _status(reply) == 201, reply[:300]


def _read_until_closed_or_answered(conn: socket.socket) -> bytes:
    conn.settimeout(BOUND)
    received = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in received:
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
    return received


def test_a_stalled_body_is_cut_off_after_the_timeout(edge_server: LiveServer) -> None:
    body = _body(1000)
    with connect(edge_server, BOUND) as conn:
        _send_head(conn, edge_server, len(body))
        conn.sendall(body[:300])
        stalled = time.monotonic()
        reply = read_until_closed(conn, BOUND)  # we send nothing more: a 1 s stall at most
    waited = time.monotonic() - stalled
    assert _status(reply) == 408
    assert b"request body stopped arriving" in reply
    assert BODY_TIMEOUT * 0.8 < waited < BODY_TIMEOUT + 1


def test_a_trickling_body_is_cut_off_at_the_minimum_rate(edge_server: LiveServer) -> None:
    """A byte every 0.3 s never trips the 0.5 s inactivity timeout, but 3 B/s is far
    under the 200 B/s minimum: cut once the first 0.5 s is over and the average lags."""
    body = _body(1000)
    started = time.monotonic()
    with connect(edge_server, BOUND) as conn:
        _send_head(conn, edge_server, len(body))
        bytes_one_by_one = (body[index : index + 1] for index in range(int(BOUND / 0.3)))
        reply = trickle(conn, bytes_one_by_one, 0.3)
    assert _status(reply) == 408
    assert time.monotonic() - started < BODY_TIMEOUT + 2
