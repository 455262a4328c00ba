"""Connection-level limits on a real socket: header floods, huge headers, slow clients.

Each raw-socket exchange is bounded (socket timeouts, a deadline on every loop).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer, make_settings, running_server
from tests.server.sockets import connect, read_until_closed, trickle

TIMEOUT = 1.0  # header, body and keep-alive timeouts of the server under test
BOUND = 4.0  # no exchange below may take longer than this


@pytest.fixture
def strict_server(sqlite_url: str) -> Iterator[LiveServer]:
    settings = make_settings(
        sqlite_url,
        header_timeout_seconds=TIMEOUT,
        body_timeout_seconds=TIMEOUT,
        keep_alive_seconds=TIMEOUT,
        max_header_bytes=8192,
        max_headers=50,
    )
    with running_server(settings) as live:
        yield live


def _status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0


def test_a_huge_header_is_431(strict_server: LiveServer) -> None:
    with connect(strict_server, BOUND) as conn:
        with contextlib.suppress(OSError):  # the server may close while we still send
            conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000)
        reply = read_until_closed(conn, BOUND)
    assert _status(reply) == 431
    assert b'"request-header-too-large"' in reply


def test_a_header_flood_is_431(strict_server: LiveServer) -> None:
    flood = b"".join(b"X-%d: y\r\n" % index for index in range(200))
    with connect(strict_server, BOUND) as conn:
        with contextlib.suppress(OSError):
            conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + flood + b"\r\n")
        reply = read_until_closed(conn, BOUND)
    assert _status(reply) == 431


def test_headers_within_the_limits_are_fine(strict_server: LiveServer) -> None:
    headers = {f"X-Ok-{index}": "v" * 50 for index in range(40)}
    response = httpx.get(f"{strict_server.base_url}/health", headers=headers, timeout=BOUND)
    assert response.status_code == 200


def test_slowloris_headers_get_408_and_the_door(
    strict_server: LiveServer,
) -> None:
    started = time.monotonic()
    with connect(strict_server, BOUND) as conn:
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        # one header line begun every 0.2 s, none finished
        headers = (b"X-Slow-%d: " % index for index in range(int(BOUND / 0.2)))
        received = trickle(conn, headers, 0.2)
    elapsed = time.monotonic() - started
    assert _status(received) == 408
    assert TIMEOUT * 0.8 < elapsed < TIMEOUT + 2


def test_a_silent_connection_is_closed(strict_server: LiveServer) -> None:
    started = time.monotonic()
    with connect(strict_server, BOUND) as conn:
        reply = read_until_closed(conn, BOUND)
    assert _status(reply) == 408
    assert time.monotonic() - started < TIMEOUT + 2


def test_an_idle_keep_alive_connection_is_closed(
    strict_server: LiveServer,
) -> None:
    with connect(strict_server, BOUND) as conn:
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        reply = read_until_closed(conn, BOUND)
    assert _status(reply) == 200
    assert time.monotonic() - started < TIMEOUT + 2  # closed, not kept forever


def test_a_slow_body_is_cut_off(strict_server: LiveServer) -> None:
    live = strict_server
    creds = live.create_user(["+15550001111"])
    auth = httpx.BasicAuth(*creds.auth)._auth_header.encode()
    started = time.monotonic()
    with connect(strict_server, BOUND) as conn:
        conn.sendall(
            f"POST /v1/users/{creds.user_id}/messages HTTP/1.1\r\nHost: x\r\n".encode()
            + b"Authorization: "
            + auth
            + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        conn.settimeout(0.2)
        for _ in range(int(BOUND / 0.2)):
            try:
                conn.sendall(b" ")
                if not conn.recv(4096):
                    break
            except TimeoutError:
                continue
            except OSError:
                break
    assert time.monotonic() - started < TIMEOUT + 2


def test_ordinary_requests_still_work(strict_server: LiveServer) -> None:
    live = strict_server
    creds = live.create_user(["+15550001111"])
    with httpx.Client(base_url=live.base_url, auth=creds.auth, timeout=BOUND) as http:
        for _ in range(3):  # kept alive across requests
            sent = http.post(
                f"/v1/users/{creds.user_id}/messages",
                json={"from": creds.numbers[0], "to": "+15550002222", "text": "hi " * 500},
            )
            assert sent.status_code == 201
        assert http.get("/ready").status_code == 200
