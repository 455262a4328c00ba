"""Requests that used to end in a 500: huge Range positions, non-ASCII credentials, and
clients that go away in the middle of their body."""

from __future__ import annotations

import base64
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from starlette.types import Message

from tests.conftest import Harness, LiveServer

Build = Callable[..., Awaitable[Harness]]

ADMIN = "admin-token-0123"
EVENTS = "events-token-4567"
CARRIERS = {
    "up": {
        "type": "http",
        "url": "http://127.0.0.1:9/send",
        "events_token": EVENTS,
        "events_secret": "s3cret",
    }
}
CLIENT_CLOSED_REQUEST = 499  # nginx's "client closed request", as the access log shows it
HUGE = "9" * 5000  # int() refuses more than 4300 digits


# -- Range -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("range_header", "status", "content"),
    [
        (f"bytes={HUGE}-", 416, b""),  # starts past the end of any file
        (f"bytes={HUGE}-{HUGE}", 416, b""),
        (f"bytes=0-{HUGE}", 206, b"0123456789"),  # the end is clamped
        (f"bytes=-{HUGE}", 206, b"0123456789"),  # a suffix longer than the file
        (f"bytes={'0' * 5000}2-{'0' * 5000}4", 206, b"234"),  # leading zeros count for nothing
        (f"bytes=5-{HUGE}", 206, b"56789"),
    ],
)
async def test_range_positions_of_any_length(
    tuned_app: Build, tmp_path: Any, range_header: str, status: int, content: bytes
) -> None:
    h = await tuned_app(media_dir=str(tmp_path / "media"))
    alice = await h.create_user()
    http = h.http(alice)
    path = f"/v1/users/{alice.user_id}/media/digits.txt"
    assert (await http.put(path, content=b"0123456789")).status_code == 200
    response = await http.get(path, headers={"Range": range_header})
    assert response.status_code == status, response.text
    if status == 206:
        assert response.content == content
    else:
        assert response.headers["Content-Range"] == "bytes */10"


# -- non-ASCII credentials -----------------------------------------------------------------


NON_ASCII = "é☃".encode()


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/admin/inbound", {b"authorization": b"Bearer " + NON_ASCII}),
        ("/v1/admin/inbound", {b"authorization": b"Bearer " + ADMIN.encode() + NON_ASCII}),
        ("/v1/carriers/up/events", {b"authorization": b"Bearer " + NON_ASCII}),
        ("/v1/carriers/up/events", {b"authorization": b"Basic " + NON_ASCII}),
        ("/v1/carriers/up/events", {b"x-trebuchet-signature": b"sha256=" + NON_ASCII}),
        ("/v1/carriers/up/events?token=%C3%A9", {}),
    ],
)
async def test_non_ascii_credentials_are_wrong_credentials(
    tuned_app: Build, path: str, headers: dict[bytes, bytes]
) -> None:
    h = await tuned_app(admin_token=ADMIN, carriers=CARRIERS)
    response = await h.http().post(path, json={"type": "other"}, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "access-denied"


async def test_non_ascii_basic_credentials_on_user_routes(tuned_app: Build) -> None:
    h = await tuned_app()
    alice = await h.create_user()
    token = base64.b64encode(f"{alice.api_token}:é".encode())
    for value in (b"Basic " + NON_ASCII, b"Basic " + token):
        response = await h.http().get(h.messages_path(alice), headers={b"authorization": value})
        assert response.status_code == 401, response.text


# -- a client that goes away mid-body --------------------------------------------------


def _requests(text: str, route: str, status: int) -> float:
    pattern = (
        r'^trebuchet_http_requests_total\{method="[A-Z]+",route="'
        + re.escape(route)
        + rf'",status="{status}"\}} (\S+)$'
    )
    return sum(float(v) for v in re.findall(pattern, text, re.M))


async def _call_with_disconnect(
    h: Harness, method: str, path: str, headers: list[tuple[bytes, bytes]]
) -> list[Message]:
    """Run the app on a request whose client leaves after the first part of its body."""
    incoming: list[Message] = [
        {"type": "http.request", "body": b'{"from": "+1555', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if len(incoming) > 1 else incoming[0]

    async def send(message: Message) -> None:
        sent.append(message)

    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", b"1000"),
            *headers,
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    await h.app(scope, receive, send)
    return sent


async def test_a_client_leaving_mid_body_is_not_a_server_error(
    tuned_app: Build, caplog: pytest.LogCaptureFixture
) -> None:
    h = await tuned_app(admin_token=ADMIN, carriers=CARRIERS)
    alice = await h.create_user(["+15550001111"])
    basic = base64.b64encode(f"{alice.api_token}:{alice.api_secret}".encode())
    user = [(b"authorization", b"Basic " + basic)]
    cases = [
        ("POST", f"/v1/users/{alice.user_id}/messages", user, "/v1/users/{user_id}/messages"),
        ("POST", f"/v1/users/{alice.user_id}/applications", user, None),
        ("PATCH", f"/v1/users/{alice.user_id}/messages/m-x", user, None),
        ("POST", "/v1/admin/inbound", [(b"authorization", b"Bearer " + ADMIN.encode())], None),
        ("POST", f"/v1/carriers/up/events?token={EVENTS}", [], "/v1/carriers/{name}/events"),
    ]
    before = (await h.http().get("/metrics")).text
    with caplog.at_level(logging.DEBUG):
        for method, path, headers, _ in cases:
            sent = await _call_with_disconnect(h, method, path, headers)
            assert sent[0]["type"] == "http.response.start"
            assert sent[0]["status"] == CLIENT_CLOSED_REQUEST, (path, sent)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert any("client disconnected" in r.getMessage() for r in caplog.records)
    after = (await h.http().get("/metrics")).text
    for _, _, _, route in cases:
        if route is not None:
            assert _requests(after, route, 500) == _requests(before, route, 500)
            assert _requests(after, route, 499) == _requests(before, route, 499) + 1


def test_a_socket_closed_mid_body_is_logged_as_499(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    creds = live_server.create_user(["+15550001111"])
    basic = base64.b64encode(f"{creds.api_token}:{creds.api_secret}".encode())
    host, port = live_server.base_url.removeprefix("http://").split(":")
    with caplog.at_level(logging.INFO):
        with socket.create_connection((host, int(port)), timeout=4) as conn:
            conn.sendall(
                f"POST /v1/users/{creds.user_id}/messages HTTP/1.1\r\nHost: x\r\n".encode()
                + b"Authorization: Basic "
                + basic
                + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
            )
            time.sleep(0.2)  # the app is reading the body
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            lines = [r for r in caplog.records if r.name == "trebuchet.access"]
            if lines:
                break
            time.sleep(0.05)
    assert [r.getMessage().split()[2] for r in lines] == [str(CLIENT_CLOSED_REQUEST)]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
