"""A real server whose carrier is a fake provider on loopback, and helpers to watch it."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.carriers.providers.fakes import FakeBandwidth, FakeProvider, FakeTwilio
from tests.conftest import Credentials, LiveServer, make_settings, start_live_server

FROM, OTHER = "+15550001111", "+15557654321"
TWILIO_ACCOUNT = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-auth-token"
BANDWIDTH = {"account_id": "9900000", "username": "api-user", "password": "api-pass",
             "application_id": "1d6a3c2e-app", "callback_username": "cb-user",
             "callback_password": "cb-pass"}  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("not in time")


@dataclass
class Setup:
    """The server (carrier ``name``), the fake behind it and a user owning ``FROM``."""

    live: LiveServer
    fake: Any
    user: Credentials
    name: str

    @property
    def events_url(self) -> str:
        return f"{self.live.base_url}/v1/carriers/{self.name}/events"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.live.base_url, auth=self.user.auth, timeout=30)

    def send(self, **body: Any) -> str:
        with self.client() as http:
            response = http.post(f"/v1/users/{self.user.user_id}/messages",
                                 json={"from": FROM, "to": OTHER, **body})  # fmt: skip
        assert response.status_code == 201, response.text
        return str(response.headers["location"].rsplit("/", 1)[1])

    def message(self, message_id: str) -> dict[str, Any]:
        with self.client() as http:
            return dict(http.get(f"/v1/users/{self.user.user_id}/messages/{message_id}").json())

    def settled(self, message_id: str, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            found = self.message(message_id)
            return found if check(found) else None

        found: dict[str, Any] = wait_for(done)
        return found

    def events(self, message_id: str) -> list[dict[str, Any]]:
        with self.client() as http:
            path = f"/v1/users/{self.user.user_id}/messages/{message_id}/events"
            return list(http.get(path).json())

    def receipt_events(self, message_id: str) -> list[dict[str, Any]]:
        """The message's events that carry a receipt."""
        return [e for e in self.events(message_id) if (e.get("payload") or {}).get("deliveryState")]

    def application(self, url: str) -> None:
        """An application that hears of inbound messages at ``url``, linked to ``FROM``."""
        with self.client() as http:
            users = f"/v1/users/{self.user.user_id}"
            made = http.post(f"{users}/applications",
                             json={"name": "app", "incomingMessageUrl": url})  # fmt: skip
            app_id = made.headers["location"].rsplit("/", 1)[1]
            linked = http.post(f"{users}/phoneNumbers/{FROM}", json={"applicationId": app_id})
            assert linked.status_code == 200, linked.text

    def inbound(self) -> list[dict[str, Any]]:
        with self.client() as http:
            found = http.get(f"/v1/users/{self.user.user_id}/messages", params={"direction": "in"})
            return list(found.json())


def _start(tmp_path: Path, name: str, carrier: dict[str, Any], fake: FakeProvider,
           **settings: Any) -> Iterator[Setup]:  # fmt: skip
    port = free_port()
    values = make_settings(
        f"sqlite:///{tmp_path / 'db.sqlite'}", media_dir=str(tmp_path / "media"),
        carrier=name, carriers={name: carrier}, poll_interval=0.05,
        public_url=f"http://127.0.0.1:{port}", **settings,
    )  # fmt: skip
    live, server, thread = start_live_server(values, port)
    try:
        yield Setup(live, fake, live.create_user([FROM]), name)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio(TWILIO_ACCOUNT, TWILIO_TOKEN)
    fake.start()
    yield fake
    fake.stop()
    assert not fake.violations, fake.violations


@pytest.fixture
def twilio(tmp_path: Path, fake_twilio: FakeTwilio) -> Iterator[Setup]:
    carrier = {"type": "twilio", "account_sid": TWILIO_ACCOUNT, "auth_token": TWILIO_TOKEN,
               "url": fake_twilio.base_url}  # fmt: skip
    yield from _start(tmp_path, "tw", carrier, fake_twilio)


@pytest.fixture
def fake_bandwidth() -> Iterator[FakeBandwidth]:
    fake = FakeBandwidth(BANDWIDTH["account_id"], BANDWIDTH["username"], BANDWIDTH["password"],
                         BANDWIDTH["application_id"])  # fmt: skip
    fake.start()
    yield fake
    fake.stop()
    assert not fake.violations, fake.violations


@pytest.fixture
def bandwidth(tmp_path: Path, fake_bandwidth: FakeBandwidth) -> Iterator[Setup]:
    carrier = {"type": "bandwidth", **BANDWIDTH, "url": fake_bandwidth.api_url}
    yield from _start(tmp_path, "bw", carrier, fake_bandwidth)
