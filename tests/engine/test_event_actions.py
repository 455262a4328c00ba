"""Re-delivering and cancelling a message's callback events through the API, against
real receivers on loopback, on both stores; another user's ids are not found."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import Credentials
from tests.engine.conftest import Bench, Receiver, status

FROM = "+15550001111"
OTHER = "+15550002222"
TO = "+15557654321"


def _msg(**extra: object) -> dict[str, object]:
    return {"from": FROM, "to": TO, "text": "hi", **extra}


def _events_path(creds: Credentials, message_id: str) -> str:
    return f"/v1/users/{creds.user_id}/messages/{message_id}/events"


async def _post(bench: Bench, creds: Credentials, path: str) -> httpx.Response:
    return await bench.harness.http(creds).post(path)


def _error(response: httpx.Response) -> tuple[int, str, str, dict[str, Any]]:
    body = response.json()
    details = {d["name"]: d["value"] for d in body["details"]}
    return response.status_code, body["category"], body["code"], details


async def test_redeliver_one_event_sends_it_again(bench: Bench, receiver: Receiver) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(user, **_msg(callbackUrl=receiver.url("/cb")))
    await bench.run()
    [event] = await bench.events(user, message_id)
    assert event["state"] == "delivered" and len(receiver.at("/cb")) == 1
    response = await _post(bench, user, f"{_events_path(user, message_id)}/{event['id']}/redeliver")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["state"]) == (event["id"], "pending")
    assert "nextAttemptTime" in body and "finishedTime" not in body
    await bench.run()
    hits = receiver.at("/cb")
    assert [hit.headers["Trebuchet-Event-Id"] for hit in hits] == [event["id"]] * 2
    [again] = await bench.events(user, message_id)
    assert again["state"] == "delivered" and len(again["attempts"]) == 2


async def test_redeliver_every_event_of_a_message(bench: Bench, receiver: Receiver) -> None:
    user = await bench.user([FROM])
    url = receiver.url("/cb")
    message_id = await bench.send(user, **_msg(callbackUrl=url, receiptRequested="all"))
    other = await bench.send(user, **_msg(callbackUrl=url))
    await bench.run()
    assert len(receiver.at("/cb")) == 3
    response = await _post(bench, user, f"{_events_path(user, message_id)}/redeliver")
    assert response.status_code == 200, response.text
    assert [(e["sequence"], e["state"]) for e in response.json()] == [
        (1, "pending"),
        (2, "pending"),
    ]
    await bench.run()
    again = [hit.json()["messageId"] for hit in receiver.at("/cb")[3:]]
    assert again == [message_id, message_id]  # in sequence order, the other message untouched
    assert other not in again


async def test_a_refused_event_is_delivered_once_redelivered(
    bench: Bench, receiver: Receiver
) -> None:
    user = await bench.user([FROM])
    url = receiver.on("/cb", status(410))
    message_id = await bench.send(user, **_msg(callbackUrl=url))
    await bench.run()
    [event] = await bench.events(user, message_id)
    assert (event["state"], event["errorCode"]) == ("failed", "callback-refused")
    receiver.on("/cb", status(204))  # the receiver is fixed
    response = await _post(bench, user, f"{_events_path(user, message_id)}/redeliver")
    [body] = response.json()
    assert body["state"] == "pending" and "errorCode" not in body and "error" not in body
    await bench.run()
    [event] = await bench.events(user, message_id)
    assert event["state"] == "delivered"
    assert [a["status"] for a in event["attempts"]] == [410, 204]


async def test_cancel_stops_pending_deliveries(bench: Bench, receiver: Receiver) -> None:
    user = await bench.user([FROM])
    url = receiver.on("/down", status(503))
    message_id = await bench.send(user, **_msg(callbackUrl=url, receiptRequested="all"))
    await bench.run()
    assert len(receiver.at("/down")) == 1
    response = await _post(bench, user, f"{_events_path(user, message_id)}/cancel")
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert [(e["sequence"], e["state"], e["errorCode"]) for e in cancelled] == [
        (1, "failed", "callback-cancelled"), (2, "failed", "callback-cancelled"),
    ]  # fmt: skip
    await bench.run_for(30, step=3)
    assert len(receiver.at("/down")) == 1  # nothing more was sent
    again = await _post(bench, user, f"{_events_path(user, message_id)}/cancel")
    assert again.status_code == 200 and again.json() == []


async def test_cancel_one_event_and_a_finished_event_is_a_conflict(
    bench: Bench, receiver: Receiver
) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(user, **_msg(callbackUrl=receiver.on("/down", status(500))))
    await bench.run()
    [event] = await bench.events(user, message_id)
    path = f"{_events_path(user, message_id)}/{event['id']}/cancel"
    response = await _post(bench, user, path)
    assert response.status_code == 200, response.text
    assert (response.json()["state"], response.json()["errorCode"]) == (
        "failed", "callback-cancelled",
    )  # fmt: skip
    status_code, category, code, _ = _error(await _post(bench, user, path))
    assert (status_code, category, code) == (409, "conflict", "event-not-pending")


async def test_another_users_ids_are_not_found(bench: Bench, receiver: Receiver) -> None:
    alice = await bench.user([FROM])
    bob = await bench.user([OTHER])
    alices = await bench.send(alice, **_msg(callbackUrl=receiver.on("/down", status(500))))
    bobs = await bench.send(bob, **_msg(**{"from": OTHER}, callbackUrl=receiver.url("/b")))
    await bench.run()
    [alice_event] = await bench.events(alice, alices)
    for action in ("redeliver", "cancel"):
        # Alice's message through Bob's account.
        response = await _post(bench, bob, f"{_events_path(bob, alices)}/{action}")
        status_code, category, code, details = _error(response)
        assert (status_code, category, code) == (404, "not-found", "message-not-found")
        assert details["messageId"] == alices
        path = f"{_events_path(bob, alices)}/{alice_event['id']}/{action}"
        assert _error(await _post(bench, bob, path))[2] == "message-not-found"
        # Alice's event under Bob's own message.
        path = f"{_events_path(bob, bobs)}/{alice_event['id']}/{action}"
        status_code, category, code, details = _error(await _post(bench, bob, path))
        assert (status_code, category, code) == (404, "not-found", "event-not-found")
        assert details["eventId"] == alice_event["id"]
        # Bob's path with Alice's credentials: not hers to call.
        forbidden = await _post(bench, alice, f"{_events_path(bob, bobs)}/{action}")
        assert forbidden.status_code in (401, 403)
    [still] = await bench.events(alice, alices)
    assert still["state"] == "pending"  # nothing Bob did reached it


async def test_the_actions_are_in_the_openapi_document(bench: Bench) -> None:
    response = await bench.harness.http().get("/openapi.json")
    document = response.json()
    base = "/v1/users/{userId}/messages/{messageId}/events"
    for path in ("/redeliver", "/cancel", "/{eventId}/redeliver", "/{eventId}/cancel"):
        assert "post" in document["paths"][base + path]
    schema = document["components"]["schemas"]["MessageEvent"]
    assert "processing-crashed" in schema["properties"]["errorCode"]["enum"]


async def test_the_operators_redeliver_reaches_the_receiver(
    bench: Bench, receiver: Receiver, store_url: str
) -> None:
    """``trebuchet events redeliver --message`` on the same store as a running engine."""
    from click.testing import CliRunner

    from trebuchet.cli.main import main

    user = await bench.user([FROM])
    message_id = await bench.send(user, **_msg(callbackUrl=receiver.url("/cb")))
    await bench.run()
    assert len(receiver.at("/cb")) == 1
    args = ["events", "redeliver", "--db", store_url, "--message", message_id]
    result = await asyncio.to_thread(CliRunner().invoke, main, args)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "1 event(s) redelivered"
    listed = await asyncio.to_thread(
        CliRunner().invoke, main, ["events", "list", "--db", store_url, "--message", message_id]
    )
    assert "pending" in listed.output
    await bench.run()
    assert [hit.json()["messageId"] for hit in receiver.at("/cb")] == [message_id] * 2
