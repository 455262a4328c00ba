"""Cancelling a message before it reaches a carrier: queued, scheduled or waiting for its
sender's rate slot, it ends ``canceled`` with its callback and is never sent; being sent
or sent, it answers 409 with the spec's error body; and a cancel racing the engine's claim
has exactly one winner, on both stores."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Credentials
from tests.engine.conftest import Bench, BenchFactory, Receiver
from tests.engine.recording import RecordingCarrier
from tests.engine.test_scheduling import at

FROM = "+15550001111"
TO = "+15557654321"


def message(receiver: Receiver, **extra: Any) -> dict[str, Any]:
    return {"from": FROM, "to": TO, "text": "maybe", "callbackUrl": receiver.url("/cb"), **extra}


async def cancel(bench: Bench, user: Credentials, message_id: str) -> Any:
    http = bench.harness.http(user)
    return await http.post(f"{bench.harness.messages_path(user)}/{message_id}/cancel")


async def test_a_queued_message_is_cancelled_and_never_sent(
    make_bench: BenchFactory, receiver: Receiver
) -> None:
    carrier = RecordingCarrier()
    bench = await make_bench(carrier=carrier)
    user = await bench.user([FROM])
    message_id = await bench.send(user, **message(receiver, tag="t-9"))
    response = await cancel(bench, user, message_id)
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["state"]) == (message_id, "canceled")
    await bench.run()
    assert carrier.sends[message_id] == 0
    assert (await bench.message(user, message_id))["state"] == "canceled"
    [event] = [hit.json() for hit in receiver.at("/cb")]
    assert (event["state"], event["messageId"], event["tag"]) == ("canceled", message_id, "t-9")
    listed = await bench.harness.http(user).get(
        bench.harness.messages_path(user), params={"state": "canceled"}
    )
    assert [m["id"] for m in listed.json()] == [message_id]
    again = await cancel(bench, user, message_id)  # a retried cancel changes nothing
    assert (again.status_code, again.json()["state"]) == (200, "canceled")
    await bench.run()
    assert len(receiver.at("/cb")) == 1


async def test_a_scheduled_message_is_cancelled(bench: Bench, receiver: Receiver) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(user, **message(receiver, sendAt=at(60)))
    assert (await cancel(bench, user, message_id)).json()["state"] == "canceled"
    bench.clock.advance(61)
    await bench.run()
    shown = await bench.message(user, message_id)
    assert (shown["state"], "sendAt" in shown) == ("canceled", True)
    assert [hit.json()["state"] for hit in receiver.at("/cb")] == ["canceled"]


async def test_a_message_waiting_for_its_rate_slot_is_cancelled(
    make_bench: BenchFactory, receiver: Receiver
) -> None:
    carrier = RecordingCarrier()
    bench = await make_bench(carrier=carrier, sender_rate=0.1)  # one per 10 s
    user = await bench.user([FROM])
    ids = [await bench.send(user, **message(receiver)) for _ in range(2)]
    await bench.run()
    states = {(await bench.message(user, m))["state"]: m for m in ids}
    assert set(states) == {"sent", "queued"}  # the other waits for its slot
    sent, waiting = states["sent"], states["queued"]
    assert (await cancel(bench, user, waiting)).status_code == 200
    await bench.run_for(12)
    assert (carrier.sends[sent], carrier.sends[waiting]) == (1, 0)
    assert (await bench.message(user, waiting))["state"] == "canceled"


async def test_a_sent_message_answers_409_with_the_error_body(
    bench: Bench, receiver: Receiver
) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(user, **message(receiver))
    await bench.run()
    response = await cancel(bench, user, message_id)
    assert response.status_code == 409
    body = response.json()
    assert {key: body[key] for key in ("category", "code", "message")} == {
        "category": "conflict",
        "code": "message-not-cancelable",
        "message": f"The message '{message_id}' is sent and can no longer be cancelled: "
        "only queued or scheduled messages can",
    }
    assert body["details"][:2] == [
        {"name": "messageId", "value": message_id}, {"name": "state", "value": "sent"},
    ]  # fmt: skip
    assert (await bench.message(user, message_id))["state"] == "sent"


async def test_a_message_being_sent_answers_409(make_bench: BenchFactory) -> None:
    hold = asyncio.Event()
    carrier = RecordingCarrier(hold)
    bench = await make_bench(carrier=carrier)
    user = await bench.user([FROM])
    message_id = await bench.send(user, **{"from": FROM, "to": TO, "text": "x"})
    running = asyncio.create_task(bench.run())
    await asyncio.wait_for(carrier.started.wait(), 10)
    response = await cancel(bench, user, message_id)
    assert response.status_code == 409
    assert {"name": "state", "value": "sending"} in response.json()["details"]
    hold.set()
    await running
    assert (await bench.message(user, message_id))["state"] == "sent"


async def test_unknown_and_other_users_messages_are_not_found(bench: Bench) -> None:
    owner = await bench.user([FROM])
    stranger = await bench.user(["+15550002222"])
    message_id = await bench.send(owner, **{"from": FROM, "to": TO, "text": "x"})
    for user, target in ((owner, "m-nosuchmessage"), (stranger, message_id)):
        response = await bench.harness.http(user).post(
            f"{bench.harness.messages_path(user)}/{target}/cancel"
        )
        assert response.status_code == 404
        assert response.json()["code"] == "message-not-found"
    assert (await bench.message(owner, message_id))["state"] == "queued"


async def test_cancels_racing_the_claim_have_one_winner_each(
    make_bench: BenchFactory, receiver: Receiver
) -> None:
    carrier = RecordingCarrier()
    bench = await make_bench(carrier=carrier)
    user = await bench.user([FROM])
    http = bench.harness.http(user)
    body = [message(receiver)] * 50
    ids: list[str] = []
    for _ in range(4):
        answer = await http.post(bench.harness.messages_path(user), json=body)
        ids += [r["location"].rsplit("/", 1)[1] for r in answer.json()]

    async def cancel_all() -> list[int]:
        answers = []
        for message_id in ids:
            answers.append((await cancel(bench, user, message_id)).status_code)
        return answers

    statuses, _ = await asyncio.gather(cancel_all(), bench.run())
    await bench.run()
    states = {m: (await bench.message(user, m))["state"] for m in ids}
    for message_id, status in zip(ids, statuses, strict=True):
        if status == 200:  # cancelled: never reached the carrier
            assert (states[message_id], carrier.sends[message_id]) == ("canceled", 0)
        else:  # the claim won: sent once, and the cancel said so
            assert status == 409
            assert (states[message_id], carrier.sends[message_id]) == ("sent", 1)
    events = {}
    for hit in receiver.at("/cb"):
        events.setdefault(hit.json()["messageId"], []).append(hit.json()["state"])
    assert all(events[m] == [states[m]] for m in ids)  # one callback each, of its end
