"""Callback delivery over real HTTP on loopback: encodings, fallback, retries, ordering,
signatures, refusals, and that one bad receiver never holds up the others."""

from __future__ import annotations

import asyncio
import base64
import time
from urllib.parse import parse_qsl

from tests.engine.conftest import (
    Bench,
    BenchFactory,
    Hit,
    Receiver,
    failing_first,
    redirect_to_self,
    slow,
    status,
)
from trebuchet import verify_signature

FROM = "+15550001111"
TO = "+15557654321"


def _msg(**extra: object) -> dict[str, object]:
    return {"from": FROM, "to": TO, "text": "Hello & welcome", **extra}


async def test_post_event_has_every_field_and_headers(bench: Bench, receiver: Receiver) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(user, **_msg(callbackUrl=receiver.url("/cb"), tag="otp"))
    await bench.run()
    [hit] = receiver.at("/cb")
    assert hit.method == "POST"
    assert hit.headers["Content-Type"] == "application/json; charset=utf-8"
    assert hit.headers["User-Agent"].startswith("BandwidthAPI/v1 (")
    assert hit.headers["Trebuchet-Event-Id"].startswith("ev-")
    assert hit.headers["Trebuchet-Event-Sequence"] == "1"
    event = hit.json()
    assert set(event) == {
        "eventType", "direction", "from", "to", "messageId", "messageUri", "text", "time",
        "state", "segmentCount", "tag",
    }  # fmt: skip
    assert event["messageUri"].endswith(f"/v1/users/{user.user_id}/messages/{message_id}")
    assert (event["eventType"], event["direction"], event["state"]) == ("sms", "out", "sent")
    assert event["text"] == "Hello & welcome" and event["tag"] == "otp"


async def test_get_event_goes_in_the_query_string_appended_to_an_existing_one(
    bench: Bench, receiver: Receiver
) -> None:
    user = await bench.user([FROM])
    media = ["http://127.0.0.1:1/a.jpg", "http://127.0.0.1:1/b.png"]
    await bench.send(
        user, **_msg(callbackUrl=receiver.url("/cb?k=v"), callbackHttpMethod="get", media=media)
    )
    await bench.run()
    [hit] = receiver.at("/cb")
    assert hit.method == "GET" and hit.body == b""
    pairs = parse_qsl(hit.query)
    assert pairs[0] == ("k", "v")
    event = dict(pairs)
    assert event["eventType"] == "mms" and event["from"] == FROM
    assert event["text"] == "Hello & welcome"
    assert event["media"] == f"[{media[0]}, {media[1]}]"
    assert event["segmentCount"] == "1"
    assert "%2B1555" in hit.query  # "+" is percent-encoded, never sent raw


async def test_basic_auth_from_the_url(bench: Bench, receiver: Receiver) -> None:
    user = await bench.user([FROM])
    url = receiver.url("/cb").replace("http://", "http://alice:s%40cret@")
    await bench.send(user, **_msg(callbackUrl=url))
    await bench.run()
    [hit] = receiver.at("/cb")
    assert hit.headers["Authorization"] == "Basic " + base64.b64encode(b"alice:s@cret").decode()
    [event] = await bench.events(user, hit.json()["messageId"])
    assert "alice" not in event["url"] and "alice" not in event["attempts"][0]["url"]


async def test_fallback_is_used_when_the_primary_fails(bench: Bench, receiver: Receiver) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(
        user,
        **_msg(callbackUrl=receiver.on("/primary", status(500)), fallbackUrl=receiver.url("/fb")),
    )
    await bench.run()
    assert len(receiver.at("/primary")) == 1 and len(receiver.at("/fb")) == 1
    [event] = await bench.events(user, message_id)
    assert event["state"] == "delivered"
    assert [(a["target"], a.get("status")) for a in event["attempts"]] == [
        ("primary", 500),
        ("fallback", 200),
    ]


async def test_fallback_alone_is_the_only_target(bench: Bench, receiver: Receiver) -> None:
    user = await bench.user([FROM])
    await bench.send(user, **_msg(fallbackUrl=receiver.url("/fb")))
    await bench.run()
    assert len(receiver.at("/fb")) == 1


async def test_a_failing_receiver_is_retried_with_backoff(bench: Bench, receiver: Receiver) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(user, **_msg(callbackUrl=receiver.on("/cb", failing_first(3))))
    await bench.run()
    assert len(receiver.at("/cb")) == 1
    for wait in (1, 2, 4):  # backoff 1 s, 2 s, 4 s
        bench.clock.advance(wait - 0.01)
        await bench.run()
        bench.clock.advance(0.01)
        await bench.run()
    assert len(receiver.at("/cb")) == 4
    # The same event each time: same id and sequence, attempt counting up.
    hits = receiver.at("/cb")
    assert len({hit.headers["Trebuchet-Event-Id"] for hit in hits}) == 1
    assert [hit.headers["Trebuchet-Event-Attempt"] for hit in hits] == ["1", "2", "3", "4"]
    [event] = await bench.events(user, message_id)
    assert event["state"] == "delivered"
    assert [a.get("status") for a in event["attempts"]] == [500, 500, 500, 200]


async def test_bad_receivers_are_retried_then_recorded_as_failed(
    make_bench: BenchFactory, receiver: Receiver
) -> None:
    bench = await make_bench(callback_retry_window=30.0)
    user = await bench.user([FROM])
    refused = "http://127.0.0.1:9/cb"  # discard port: nothing listens
    targets = {
        "500": receiver.on("/err", status(500)),
        "redirect": receiver.on("/loop", redirect_to_self()),
        "timeout": receiver.on("/slow", slow(2)),
        "refused": refused,
    }
    # Only the slow receiver is meant to time out; the others answer at once, given time
    # enough that a loaded machine does not turn their answer into a timeout.
    timeouts = {"timeout": 200}
    ids = {
        name: await bench.send(
            user, **_msg(callbackUrl=url, callbackTimeout=timeouts.get(name, 5000))
        )
        for name, url in targets.items()
    }
    await bench.run_for(40, step=5)
    for name, message_id in ids.items():
        [event] = await bench.events(user, message_id)
        assert event["state"] == "failed", name
        assert len(event["attempts"]) > 2, name
        assert "nextAttemptTime" not in event
    [redirected] = await bench.events(user, ids["redirect"])
    assert len(receiver.at("/loop")) == len(redirected["attempts"])  # never followed
    assert {a.get("status") for a in redirected["attempts"]} == {302}
    errors = await bench.errors(user)
    assert sorted(e["code"] for e in errors) == ["callback-failed"] * 4
    failed_ids = {d["value"] for e in errors for d in e["details"] if d["name"] == "messageId"}
    assert failed_ids == set(ids.values())


async def test_a_hanging_receiver_does_not_hold_up_other_messages(
    bench: Bench, receiver: Receiver
) -> None:
    user = await bench.user([FROM])
    await bench.send(user, **_msg(callbackUrl=receiver.on("/hang", slow(4)), callbackTimeout=2500))
    quick = [await bench.send(user, **_msg(callbackUrl=receiver.url("/fast"))) for _ in range(5)]
    started = time.monotonic()
    await bench.run()
    assert len(receiver.at("/fast")) == len(quick)
    # All arrived while the hanging one was still waiting for its 2.5 s timeout.
    assert all(hit.at - started < 2.0 for hit in receiver.at("/fast"))


async def test_events_of_one_message_leave_in_order(bench: Bench, receiver: Receiver) -> None:
    """The receipt waits until the sent event is delivered, even across retries."""
    user = await bench.user([FROM])
    message_id = await bench.send(
        user, **_msg(callbackUrl=receiver.on("/cb", failing_first(1)), receiptRequested="all")
    )
    await bench.run()
    assert [h.headers["Trebuchet-Event-Sequence"] for h in receiver.at("/cb")] == ["1"]
    bench.clock.advance(1)
    await bench.run()
    hits = receiver.at("/cb")
    assert [h.headers["Trebuchet-Event-Sequence"] for h in hits] == ["1", "1", "2"]
    assert [h.json().get("deliveryState") for h in hits] == [None, None, "delivered"]
    events = await bench.events(user, message_id)
    assert [(e["sequence"], e["state"]) for e in events] == [(1, "delivered"), (2, "delivered")]


async def test_signature_when_signing_is_on(make_bench: BenchFactory, receiver: Receiver) -> None:
    bench = await make_bench(callback_signing=True)
    user = await bench.user([FROM])
    secret = (await bench.store.users.get(user.user_id)).callback_secret
    await bench.send(user, **_msg(callbackUrl=receiver.url("/post")))
    await bench.send(user, **_msg(callbackUrl=receiver.url("/get?x=1"), callbackHttpMethod="GET"))
    await bench.run()
    [post] = receiver.at("/post")
    [get] = receiver.at("/get")

    def verify(secret: str, hit: Hit, payload: bytes) -> bool:
        return verify_signature(
            secret,
            hit.headers["Trebuchet-Signature"],
            payload,
            event_id=hit.headers["Trebuchet-Event-Id"],
            sequence=hit.headers["Trebuchet-Event-Sequence"],
        )

    assert verify(secret, post, post.body)
    assert verify(secret, get, get.query.encode())
    assert not verify("wrong", post, post.body)
    assert not verify(secret, post, post.body + b" ")


async def test_no_signature_when_signing_is_off(bench: Bench, receiver: Receiver) -> None:
    user = await bench.user([FROM])
    await bench.send(user, **_msg(callbackUrl=receiver.url("/cb")))
    await bench.run()
    assert "Trebuchet-Signature" not in receiver.at("/cb")[0].headers


async def test_private_addresses_are_refused_unless_allowed(
    make_bench: BenchFactory, receiver: Receiver
) -> None:
    """Private and link-local callback addresses are refused when the message is sent."""
    bench = await make_bench()
    user = await bench.user([FROM])
    http = bench.harness.http(user)
    for url in ("http://10.1.2.3/cb", "http://169.254.169.254/latest", "http://[fd00::1]/cb"):
        answer = await http.post(bench.harness.messages_path(user), json=_msg(callbackUrl=url))
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == "callback-invalid-url"
        assert "outbound_allow_private" in answer.json()["message"]


async def test_loopback_is_refused_at_delivery_unless_allowed(
    make_bench: BenchFactory, receiver: Receiver
) -> None:
    """The engine judges what a name resolves to: ``localhost`` accepted by an API that
    allows loopback is still refused, at once and without retries, by an engine that
    does not (the default), whatever the carrier."""
    bench = await make_bench(outbound_allow_loopback=False)
    assert bench.engine.settings.carrier == "sandbox"
    user = await bench.user([FROM])
    port = receiver.url("/cb").rsplit(":", 1)[1]
    urls = (f"http://localhost:{port}/cb", receiver.url("/cb"))
    ids = [await bench.send(user, **_msg(callbackUrl=url)) for url in urls]
    await bench.run()
    for message_id in ids:
        [event] = await bench.events(user, message_id)
        assert event["state"] == "failed"
        assert "may not reach" in event["attempts"][0]["error"]
        assert "outbound_allow_loopback" in event["attempts"][0]["error"]
    assert len(await bench.errors(user)) == 2
    assert receiver.at("/cb") == []


async def test_a_message_without_callback_urls_has_no_events(bench: Bench) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(user, **_msg())
    await bench.run()
    assert await bench.events(user, message_id) == []


async def test_events_of_another_users_message_are_not_found(bench: Bench) -> None:
    owner = await bench.user([FROM])
    other = await bench.user(["+15550009999"])
    message_id = await bench.send(owner, **_msg())
    response = await bench.harness.http(other).get(
        f"/v1/users/{other.user_id}/messages/{message_id}/events"
    )
    assert response.status_code == 404
    assert response.json()["code"] == "message-not-found"
    forbidden = await bench.harness.http(other).get(
        f"/v1/users/{owner.user_id}/messages/{message_id}/events"
    )
    assert forbidden.status_code == 401


async def test_many_callbacks_are_delivered_concurrently(bench: Bench, receiver: Receiver) -> None:
    user = await bench.user([FROM])
    ids = [
        await bench.send(user, **_msg(callbackUrl=receiver.on("/s", slow(0.2)))) for _ in range(40)
    ]
    started = time.monotonic()
    await bench.run()
    assert len(receiver.at("/s")) == len(ids)
    assert time.monotonic() - started < 3  # 40 x 0.2 s one after another would take 8 s
    await asyncio.sleep(0)
