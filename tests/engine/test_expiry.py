"""``expiration`` and ``validityPeriod``: a message not handed to a carrier by its expiry
ends ``error`` (delivery code 902, user error ``message-expired``) with its callback;
retries and rate slots never wait past it; the sandbox honours the validity it is given."""

from __future__ import annotations

from typing import Any

from tests.engine.conftest import Bench, BenchFactory, Receiver
from tests.engine.test_scheduling import at

FROM = "+15550001111"
TO = "+15557654321"


def message(receiver: Receiver, **extra: Any) -> dict[str, Any]:
    return {"from": FROM, "to": TO, "text": "soon or never", "callbackUrl": receiver.url("/cb"),
            **extra}  # fmt: skip


def assert_expired(shown: dict[str, Any]) -> None:
    assert (shown["state"], shown["deliveryState"]) == ("error", "not-delivered")
    assert (shown["deliveryCode"], shown["deliveryDescription"]) == (902, "Message Expired")


async def test_a_message_past_its_expiry_is_not_sent(bench: Bench, receiver: Receiver) -> None:
    user = await bench.user([FROM])
    expiration = at(60)
    message_id = await bench.send(user, **message(receiver, sendAt=at(30), expiration=expiration))
    assert (await bench.message(user, message_id))["expiration"] == expiration
    bench.clock.advance(61)  # the engine was down past both times
    await bench.run()
    shown = await bench.message(user, message_id)
    assert_expired(shown)
    [event] = [hit.json() for hit in receiver.at("/cb")]
    assert (event["state"], event["messageId"]) == ("error", message_id)
    [error] = await bench.errors(user)
    assert error["code"] == "message-expired"
    assert message_id in str(error["details"])


async def test_within_its_validity_a_message_is_sent(bench: Bench, receiver: Receiver) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(user, **message(receiver, sendAt=at(30), validityPeriod=60))
    shown = await bench.message(user, message_id)
    assert shown["expiration"] > shown["sendAt"]  # counted from sendAt
    bench.clock.advance(31)
    await bench.run()
    assert (await bench.message(user, message_id))["state"] == "sent"
    assert await bench.errors(user) == []


async def test_retries_stop_at_the_expiry(bench: Bench, receiver: Receiver) -> None:
    # The sandbox throttles the first 50 submissions to +15559993050, 1 s apart at least.
    user = await bench.user([FROM])
    body = message(receiver, validityPeriod=5, **{"to": "+15559993050"})
    message_id = await bench.send(user, **body)
    await bench.run_for(8)
    assert_expired(await bench.message(user, message_id))
    assert [hit.json()["state"] for hit in receiver.at("/cb")] == ["error"]


async def test_a_rate_slot_past_the_expiry_ends_in_error_at_the_expiry(
    make_bench: BenchFactory, receiver: Receiver
) -> None:
    # One message per 10 s from FROM: the third waits 20 s, past its 5 s validity.
    bench = await make_bench(sender_rate=0.1)
    user = await bench.user([FROM])
    ids = [await bench.send(user, **message(receiver, validityPeriod=5)) for _ in range(3)]
    await bench.run()
    states = [(await bench.message(user, i))["state"] for i in ids]
    assert states.count("sent") == 1 and states.count("queued") == 2
    await bench.run_for(6)
    final = sorted([(await bench.message(user, i))["state"] for i in ids])
    assert final == ["error", "error", "sent"]  # whichever was claimed first went


async def test_the_sandbox_expires_a_receipt_that_would_come_too_late(
    bench: Bench, receiver: Receiver
) -> None:
    # +15559991030: delivered 30 s after sending; the validity is 10 s.
    user = await bench.user([FROM])
    body = message(receiver, validityPeriod=10, receiptRequested="all", to="+15559991030")
    message_id = await bench.send(user, **body)
    await bench.run()
    shown = await bench.message(user, message_id)
    assert (shown["state"], shown["deliveryState"]) == ("sent", "waiting")
    await bench.run_for(11)
    shown = await bench.message(user, message_id)
    assert (shown["state"], shown["deliveryCode"]) == ("sent", 902)
    assert shown["deliveryState"] == "not-delivered"
