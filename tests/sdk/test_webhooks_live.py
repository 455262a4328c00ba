"""End to end: the real server (sandbox carrier) calls a real receiver, and the SDK parses
and verifies what arrived."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import trebuchet
from trebuchet import Client

from ..conftest import make_settings, running_server
from .conftest import Recorded, Reply, ScriptedServer
from .integration import NUMBERS, OWN, OWN_2

RECEIPT_720 = "+15559990720"  # sandbox: sent, then a not-delivered receipt with code 720
REJECTED = "+15559992000"  # sandbox: rejected at submit, state error
WAIT_SECONDS = 15.0


@pytest.fixture
def signing_server(sqlite_url: str) -> Iterator[Any]:
    """The real server with callback signing switched on."""
    with running_server(make_settings(sqlite_url, callback_signing=True)) as live:
        yield live


@pytest.fixture
def creds(signing_server: Any) -> Any:
    return signing_server.create_user(numbers=NUMBERS)


@pytest.fixture
def secret(signing_server: Any, creds: Any) -> str:
    user = signing_server.run(signing_server.store.users.get(creds.user_id))
    assert user.callback_secret
    return str(user.callback_secret)


@pytest.fixture
def api(signing_server: Any, creds: Any) -> Iterator[Client]:
    with Client(
        creds.user_id, creds.api_token, creds.api_secret, api_endpoint=signing_server.base_url
    ) as client:
        yield client


@pytest.fixture
def receiver(server: ScriptedServer) -> ScriptedServer:
    server.handler = lambda request: Reply(200, b"ok")
    return server


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def callbacks(receiver: ScriptedServer, path: str) -> list[Recorded]:
    return [r for r in receiver.requests if r.path == path]


def test_post_events_parse_and_verify(api: Client, receiver: ScriptedServer, secret: str) -> None:
    message_id = api.send_message(
        OWN,
        RECEIPT_720,
        "are you there?",
        receipt_requested="all",
        callback_url=f"{receiver.url}/events",
        tag="probe-1",
    )
    wait_for(lambda: len(callbacks(receiver, "/events")) >= 2, "the sent and receipt events")
    events = [
        trebuchet.parse_event(r.body, r.headers, secret=secret)
        for r in callbacks(receiver, "/events")
    ]
    assert {e.message_id for e in events} == {message_id}
    assert all(e.event_type == "sms" and e.direction == "out" for e in events)
    assert all((e.from_, e.to, e.tag) == (OWN, RECEIPT_720, "probe-1") for e in events)
    assert all(e.message_uri and e.message_uri.endswith("/" + message_id) for e in events)
    assert all(e.time is not None and e.time.tzinfo is not None for e in events)
    assert len({e.event_id for e in events}) == len(events)
    sequences = [e.sequence for e in events]
    assert sequences == sorted(sequences)
    receipt = next(e for e in events if e.delivery_state == "not-delivered")
    assert receipt.delivery_code == 720
    assert receipt.delivery_description == "Invalid Destination Address"
    assert receipt.segment_count == 1
    for request in callbacks(receiver, "/events"):
        header = request.headers["trebuchet-signature"]
        event_id = request.headers["trebuchet-event-id"]
        sequence = request.headers["trebuchet-event-sequence"]
        check = trebuchet.verify_signature
        assert check(secret, header, request.body, event_id=event_id, sequence=sequence)
        assert not check(
            "not-the-secret", header, request.body, event_id=event_id, sequence=sequence
        )


def test_a_replayed_callback_with_a_fresh_event_id_is_refused(
    api: Client, receiver: ScriptedServer, secret: str
) -> None:
    """A receiver that verifies with the SDK and drops duplicates by event id: the real
    callback is accepted, its exact replay is a duplicate, and a replay under a fresh
    ``Trebuchet-Event-Id`` or sequence fails the signature."""
    seen: set[str | None] = set()

    def handle(request: Recorded) -> Reply:
        try:
            event = trebuchet.parse_event(request.body, request.headers, secret=secret)
        except trebuchet.WebhookVerificationError as exc:
            return Reply(401, str(exc))
        if event.event_id in seen:
            return Reply(200, b"duplicate")
        seen.add(event.event_id)
        return Reply(200, b"accepted")

    receiver.handler = handle
    api.send_message(OWN, RECEIPT_720, "replay me", callback_url=f"{receiver.url}/events")
    wait_for(lambda: bool(seen), "the first event, verified")
    original = callbacks(receiver, "/events")[0]
    assert original.headers["trebuchet-event-id"] in seen
    headers = {
        name: value
        for name, value in original.headers.items()
        if name.startswith("trebuchet-") or name == "content-type"
    }
    sequence = int(headers["trebuchet-event-sequence"])
    replays = [
        headers,
        {**headers, "trebuchet-event-id": "ev-" + "2" * 23},
        {**headers, "trebuchet-event-sequence": str(sequence + 1)},
    ]
    with httpx.Client(timeout=5) as http:
        answers = [
            http.post(f"{receiver.url}/replay", content=original.body, headers=replay)
            for replay in replays
        ]
    assert [(a.status_code, a.text) for a in answers] == [
        (200, "duplicate"),
        (401, "the Trebuchet-Signature header does not match"),
        (401, "the Trebuchet-Signature header does not match"),
    ]


def test_get_events_parse_and_verify(api: Client, receiver: ScriptedServer, secret: str) -> None:
    message_id = api.send_message(
        OWN,
        RECEIPT_720,
        "by GET",
        receipt_requested="error",
        callback_url=f"{receiver.url}/hook?source=trebuchet",
        callback_http_method="GET",
    )
    wait_for(lambda: len(callbacks(receiver, "/hook")) >= 2, "the GET events")
    for request in callbacks(receiver, "/hook"):
        assert request.method == "GET"
        event = trebuchet.parse_event_query(request.raw_query, request.headers, secret=secret)
        assert event.message_id == message_id
        assert event.raw["source"] == "trebuchet"
    codes = [
        trebuchet.parse_event_query(r.raw_query).delivery_code for r in callbacks(receiver, "/hook")
    ]
    assert 720 in codes


def test_failed_message_event_and_the_readme_example(
    api: Client, receiver: ScriptedServer, secret: str, capsys: pytest.CaptureFixture[str]
) -> None:
    failed_id = api.send_message(OWN, REJECTED, "nobody home", callback_url=f"{receiver.url}/e")
    wait_for(lambda: bool(callbacks(receiver, "/e")), "the error event")
    event = trebuchet.parse_event(
        callbacks(receiver, "/e")[0].body, callbacks(receiver, "/e")[0].headers, secret=secret
    )
    assert (event.message_id, event.state) == (failed_id, "error")
    api.send_message(OWN, "+15550002222", "this one is fine")

    message_list = api.list_messages()

    for message in message_list:
        if message["state"] == "error":
            print(message["id"])

    assert capsys.readouterr().out.split() == [failed_id]


def test_inbound_event_through_an_application(
    signing_server: Any, creds: Any, api: Client, receiver: ScriptedServer, secret: str
) -> None:
    base = f"{signing_server.base_url}/v1/users/{creds.user_id}"
    with httpx.Client(auth=creds.auth) as http:
        created = http.post(
            f"{base}/applications",
            json={"name": "inbound", "incomingMessageUrl": f"{receiver.url}/inbound"},
        )
        assert created.status_code == 201, created.text
        app_id = created.headers["location"].rsplit("/", 1)[-1]
        number = http.get(f"{base}/phoneNumbers/{OWN_2.replace('+', '%2B')}")
        assert number.status_code == 200, number.text
        linked = http.post(
            f"{base}/phoneNumbers/{number.json()['id']}", json={"applicationId": app_id}
        )
        assert linked.status_code == 200, linked.text
    # The server fetches MMS media before sending: the receiver serves it too.
    api.send_message(OWN, OWN_2, "hello, other me", media=[f"{receiver.url}/a.png"])
    wait_for(lambda: bool(callbacks(receiver, "/inbound")), "the inbound event")
    request = callbacks(receiver, "/inbound")[0]
    event = trebuchet.parse_event(request.body, request.headers, secret=secret)
    assert (event.direction, event.state, event.application_id) == ("in", "received", app_id)
    assert (event.from_, event.to, event.text) == (OWN, OWN_2, "hello, other me")
    assert event.event_type == "mms"
    assert [url.rsplit("/", 1)[-1] for url in event.media] == [f"a-{event.message_id}.png"]
    inbound = list(api.list_messages(direction="in"))
    assert [m["id"] for m in inbound] == [event.message_id]


def test_unsigned_callbacks(live_server: Any, receiver: ScriptedServer) -> None:
    """Without signing configured there is no signature: parse without ``secret``."""
    creds = live_server.create_user(numbers=NUMBERS)
    with Client(
        creds.user_id, creds.api_token, creds.api_secret, api_endpoint=live_server.base_url
    ) as plain:
        message_id = plain.send_message(OWN, RECEIPT_720, "x", callback_url=f"{receiver.url}/u")
    wait_for(lambda: bool(callbacks(receiver, "/u")), "an unsigned event")
    request = callbacks(receiver, "/u")[0]
    assert "trebuchet-signature" not in request.headers
    assert trebuchet.parse_event(request.body, request.headers).message_id == message_id
    with pytest.raises(trebuchet.WebhookVerificationError, match="missing"):
        trebuchet.parse_event(request.body, request.headers, secret="anything")
