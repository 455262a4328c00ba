"""Message events through both SDK clients against the real server on a socket, with its
engine delivering to a real receiver on loopback, on both stores: list, re-deliver,
cancel, and the errors."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import trebuchet
from tests.conftest import LiveServer, make_settings, running_server
from trebuchet import AsyncClient, Client

FROM = "+15550001111"
TO = "+15557654321"
POLLS = 300  # at most 300 looks, 0.05 s apart, for the engine to get somewhere


class Receiver:
    """A loopback HTTP server: ``/ok`` answers 200, ``/down`` 503; counts hits per path."""

    def __init__(self) -> None:
        hits: dict[str, int] = {}
        self.hits = hits

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hits[self.path] = hits.get(self.path, 0) + 1
                self.send_response(200 if self.path == "/ok" else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _until(condition: Callable[[], bool]) -> None:
    for _ in range(POLLS):
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("the engine did not get there")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()


@pytest.fixture
def server(store_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    settings = make_settings(store_url, media_dir=str(tmp_path / "media"), poll_interval=0.05)
    with running_server(settings) as live:
        yield live


@pytest.fixture
def api(server: LiveServer) -> Iterator[Client]:
    creds = server.create_user([FROM])
    with Client(creds.user_id, creds.api_token, creds.api_secret,
                api_endpoint=server.base_url) as client:  # fmt: skip
        yield client


def test_list_and_redeliver(api: Client, receiver: Receiver) -> None:
    message_id = api.send_message(
        from_=FROM, to=TO, text="hi", callback_url=f"{receiver.url}/ok", receipt_requested="all"
    )
    _until(lambda: [e["state"] for e in api.list_message_events(message_id)] == ["delivered"] * 2)
    events = api.list_message_events(message_id)
    assert [e["sequence"] for e in events] == [1, 2]
    first = events[0]
    assert first["attempts"][0]["status"] == 200 and first["attempts"][0]["target"] == "primary"
    assert first["payload"]["message_id"] == message_id  # snake_case all the way down
    again = api.redeliver_event(message_id, first["id"])
    assert (again["id"], again["state"]) == (first["id"], "pending")
    _until(lambda: receiver.hits.get("/ok") == 3)
    both = api.redeliver_message_events(message_id)
    assert [e["state"] for e in both] == ["pending", "pending"]
    _until(lambda: receiver.hits.get("/ok") == 5)


def test_cancel_and_errors(api: Client, receiver: Receiver) -> None:
    message_id = api.send_message(from_=FROM, to=TO, text="hi", callback_url=f"{receiver.url}/down")
    _until(lambda: receiver.hits.get("/down", 0) >= 1)
    [cancelled] = api.cancel_message_events(message_id)
    assert (cancelled["state"], cancelled["error_code"]) == ("failed", "callback-cancelled")
    assert api.cancel_message_events(message_id) == []
    with pytest.raises(trebuchet.ConflictError) as conflict:
        api.cancel_event(message_id, cancelled["id"])
    assert conflict.value.code == "event-not-pending"
    with pytest.raises(trebuchet.NotFoundError) as missing:
        api.redeliver_event(message_id, "ev-nosuchevent")
    assert missing.value.code == "event-not-found"
    with pytest.raises(trebuchet.NotFoundError) as no_message:
        api.list_message_events("m-nosuchmessage")
    assert no_message.value.code == "message-not-found"
    with pytest.raises(ValueError, match="event_id must be a non-empty id"):
        api.cancel_event(message_id, "")


async def test_the_async_twin(server: LiveServer, receiver: Receiver) -> None:
    creds = server.create_user([FROM])
    async with AsyncClient(creds.user_id, creds.api_token, creds.api_secret,
                           api_endpoint=server.base_url) as api:  # fmt: skip
        message_id = await api.send_message(
            from_=FROM, to=TO, text="hi", callback_url=f"{receiver.url}/ok"
        )
        for _ in range(POLLS):
            events = await api.list_message_events(message_id)
            if events and events[0]["state"] == "delivered":
                break
            await asyncio.sleep(0.05)
        [event] = await api.list_message_events(message_id)
        assert event["state"] == "delivered"
        assert (await api.redeliver_event(message_id, event["id"]))["state"] == "pending"
        [pending] = await api.redeliver_message_events(message_id)
        assert (pending["id"], pending["state"]) == (event["id"], "pending")
        down = await api.send_message(
            from_=FROM, to=TO, text="hi", callback_url=f"{receiver.url}/down"
        )
        for _ in range(POLLS):
            if receiver.hits.get("/down"):
                break
            await asyncio.sleep(0.05)
        [cancelled] = await api.cancel_message_events(down)
        assert cancelled["error_code"] == "callback-cancelled"
        with pytest.raises(trebuchet.ConflictError):
            await api.cancel_event(down, cancelled["id"])
        with pytest.raises(trebuchet.NotFoundError):
            await api.cancel_event("m-nosuchmessage", event["id"])


def test_the_twins_have_the_same_event_methods() -> None:
    names = ["list_message_events", "redeliver_message_events", "redeliver_event",
             "cancel_message_events", "cancel_event"]  # fmt: skip
    for name in names:
        sync, asynchronous = getattr(Client, name), getattr(AsyncClient, name)
        assert inspect.iscoroutinefunction(asynchronous) and not inspect.iscoroutinefunction(sync)
        assert inspect.signature(sync) == inspect.signature(asynchronous)
        assert "Example" in (inspect.getdoc(sync) or "")
        assert "Example" in (inspect.getdoc(asynchronous) or "")
