"""Each sandbox outcome, end to end: API → engine → sandbox carrier → state and callbacks."""

from __future__ import annotations

import pytest

from tests.engine.conftest import Bench, Receiver
from trebuchet.server.carriers.codes import DELIVERY_CODES

FROM = "+15550001111"
OWNED = "+15550003333"
NOT_DELIVERED = sorted(code for code in DELIVERY_CODES if code != 0)


async def test_an_ordinary_number_is_sent_and_delivered(bench: Bench, receiver: Receiver) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(
        user, **{"from": FROM, "to": "+15557654321", "text": "hi", "receiptRequested": "all",
                 "callbackUrl": receiver.url("/cb"), "tag": "t-1"},
    )  # fmt: skip
    assert (await bench.message(user, message_id))["state"] == "queued"
    await bench.run()
    message = await bench.message(user, message_id)
    assert message["state"] == "sent"
    assert message["deliveryState"] == "delivered"
    assert message["deliveryCode"] == 0
    assert message["deliveryDescription"] == "Message Delivered to Carrier"
    events = [hit.json() for hit in receiver.at("/cb")]
    assert [(e["state"], e.get("deliveryState")) for e in events] == [
        ("sent", None),
        ("sent", "delivered"),
    ]
    assert all(e["tag"] == "t-1" and e["messageId"] == message_id for e in events)


@pytest.mark.parametrize("code", NOT_DELIVERED)
async def test_magic_numbers_give_each_not_delivered_code(
    bench: Bench, receiver: Receiver, code: int
) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(
        user, **{"from": FROM, "to": f"+15559990{code:03d}", "text": "x",
                 "receiptRequested": "error", "callbackUrl": receiver.url("/cb")},
    )  # fmt: skip
    await bench.run()
    message = await bench.message(user, message_id)
    assert message["state"] == "sent"
    assert message["deliveryState"] == "not-delivered"
    assert message["deliveryCode"] == code
    assert message["deliveryDescription"] == DELIVERY_CODES[code]
    # receiptRequested=error: the sent event and the error receipt.
    receipt = receiver.at("/cb")[-1].json()
    assert receipt["deliveryCode"] == code
    assert receipt["deliveryDescription"] == DELIVERY_CODES[code]


async def test_error_receipts_only_skip_delivered_receipts(
    bench: Bench, receiver: Receiver
) -> None:
    user = await bench.user([FROM])
    await bench.send(
        user, **{"from": FROM, "to": "+15559990000", "text": "x", "receiptRequested": "error",
                 "callbackUrl": receiver.url("/cb")},
    )  # fmt: skip
    await bench.run()
    assert [hit.json()["state"] for hit in receiver.at("/cb")] == ["sent"]
    assert "deliveryState" not in receiver.at("/cb")[0].json()


async def test_delayed_receipt_arrives_after_its_delay(bench: Bench, receiver: Receiver) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(
        user, **{"from": FROM, "to": "+15559991005", "text": "x", "receiptRequested": "all",
                 "callbackUrl": receiver.url("/cb")},
    )  # fmt: skip
    await bench.run()
    message = await bench.message(user, message_id)
    assert (message["state"], message["deliveryState"]) == ("sent", "waiting")
    bench.clock.advance(4)
    await bench.run()
    assert (await bench.message(user, message_id))["deliveryState"] == "waiting"
    bench.clock.advance(1.5)
    await bench.run()
    assert (await bench.message(user, message_id))["deliveryState"] == "delivered"
    assert [hit.json().get("deliveryState") for hit in receiver.at("/cb")] == [None, "delivered"]


async def test_rejected_at_submit_is_an_error_with_a_user_error(
    bench: Bench, receiver: Receiver
) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(
        user, **{"from": FROM, "to": "+15559992000", "text": "x",
                 "callbackUrl": receiver.url("/cb")},
    )  # fmt: skip
    await bench.run()
    assert (await bench.message(user, message_id))["state"] == "error"
    [event] = [hit.json() for hit in receiver.at("/cb")]
    assert event["state"] == "error" and event["messageId"] == message_id
    [error] = await bench.errors(user)
    assert error["code"] == "message-delivery-failed"
    assert {"name": "messageId", "value": message_id} in [
        {"name": d["name"], "value": d["value"]} for d in error["details"]
    ]


async def test_a_refused_message_with_receipts_is_not_delivered(
    bench: Bench, receiver: Receiver
) -> None:
    """A refusal ends the receipt wait: not-delivered, with the code the network gave or 999."""
    user = await bench.user([FROM])
    message_id = await bench.send(
        user, **{"from": FROM, "to": "+15559992000", "text": "x", "receiptRequested": "all",
                 "callbackUrl": receiver.url("/cb")},
    )  # fmt: skip
    await bench.run()
    message = await bench.message(user, message_id)
    assert message["state"] == "error"
    assert message["deliveryState"] == "not-delivered"
    assert message["deliveryCode"] == 999
    [event] = [hit.json() for hit in receiver.at("/cb")]
    assert event["state"] == "error" and event["messageId"] == message_id


async def test_carrier_throttling_is_retried_with_backoff(bench: Bench, receiver: Receiver) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(
        user, **{"from": FROM, "to": "+15559993002", "text": "x",
                 "callbackUrl": receiver.url("/cb")},
    )  # fmt: skip
    await bench.run()
    assert (await bench.message(user, message_id))["state"] == "queued"
    bench.clock.advance(1)  # retry-after 1 s
    await bench.run()
    assert (await bench.message(user, message_id))["state"] == "queued"
    bench.clock.advance(2)  # backoff after the second attempt
    await bench.run()
    assert (await bench.message(user, message_id))["state"] == "sent"
    assert [hit.json()["state"] for hit in receiver.at("/cb")] == ["sent"]


async def test_endless_throttling_ends_in_error(make_bench: object, receiver: Receiver) -> None:
    bench = await make_bench(send_max_attempts=3)  # type: ignore[operator]
    user = await bench.user([FROM])
    message_id = await bench.send(user, **{"from": FROM, "to": "+15559993999", "text": "x"})
    await bench.run_for(10)
    assert (await bench.message(user, message_id))["state"] == "error"
    [error] = await bench.errors(user)
    assert "gave up after 3 attempts" in error["details"][-1]["value"]


async def test_no_receipt_number_stays_waiting(bench: Bench) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(
        user, **{"from": FROM, "to": "+15559994000", "text": "x", "receiptRequested": "all"}
    )
    await bench.run_for(5)
    message = await bench.message(user, message_id)
    assert (message["state"], message["deliveryState"]) == ("sent", "waiting")


async def test_receipts_not_requested_leave_no_delivery_fields(bench: Bench) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(user, **{"from": FROM, "to": "+15559990720", "text": "x"})
    await bench.run()
    message = await bench.message(user, message_id)
    assert message["state"] == "sent"
    assert not {"deliveryState", "deliveryCode", "deliveryDescription"} & set(message)


async def test_a_message_to_an_owned_number_is_also_received(
    bench: Bench, receiver: Receiver
) -> None:
    sender = await bench.user([FROM])
    owner = await bench.user([OWNED])
    app_id = await bench.application(owner, [OWNED], incomingMessageUrl=receiver.url("/in"))
    message_id = await bench.send(sender, **{"from": FROM, "to": OWNED, "text": "loop"})
    await bench.run()
    assert (await bench.message(sender, message_id))["state"] == "sent"
    response = await bench.harness.http(owner).get(
        bench.harness.messages_path(owner), params={"direction": "in"}
    )
    [inbound] = response.json()
    assert (inbound["from"], inbound["to"], inbound["text"]) == (FROM, OWNED, "loop")
    assert inbound["state"] == "received" and inbound["direction"] == "in"
    [hit] = receiver.at("/in")
    event = hit.json()
    assert event["eventType"] == "sms" and event["direction"] == "in"
    assert event["applicationId"] == app_id and event["messageId"] == inbound["id"]
    assert event["state"] == "received"


async def test_mms_events_carry_media(bench: Bench, receiver: Receiver) -> None:
    user = await bench.user([FROM])
    media = [receiver.url("/pic.jpg"), receiver.url("/b.png")]
    await bench.send(
        user, **{"from": FROM, "to": "+15557654321", "media": media,
                 "callbackUrl": receiver.url("/cb")},
    )  # fmt: skip
    await bench.run()
    [event] = [hit.json() for hit in receiver.at("/cb")]
    assert event["eventType"] == "mms" and event["media"] == media
    assert event["segmentCount"] == 1
