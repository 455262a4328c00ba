"""Opt-out keywords and the opt-out list through the engine: each keyword, the scopes,
the per-number settings, sends to recipients who opted out (one, bulk, and those queued
when the STOP arrives), on both stores."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import Credentials
from tests.controls.conftest import KeepingCarrier
from tests.engine.conftest import Bench, BenchFactory, Receiver
from trebuchet.server.carriers.base import InboundMessage
from trebuchet.server.config import (
    DEFAULT_OPT_OUT_HELP_REPLY,
    DEFAULT_OPT_OUT_START_REPLY,
    DEFAULT_OPT_OUT_STOP_REPLY,
)

NUMBER = "+15550004444"
OTHER_NUMBER = "+15550005555"
REMOTE = "+15557654321"
STOP_WORDS = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"]
START_WORDS = ["START", "UNSTOP", "YES"]
HELP_WORDS = ["HELP", "INFO"]


async def _inbound(bench: Bench, text: str, to: str = NUMBER, sender: str = REMOTE) -> str:
    return await bench.engine.inbound(InboundMessage(sender, to, text))


async def _opt_outs(bench: Bench, user: Credentials, **params: str) -> list[dict[str, Any]]:
    response = await bench.harness.http(user).get(
        f"/v1/users/{user.user_id}/optOuts", params=params
    )
    assert response.status_code == 200, response.text
    return list(response.json())


async def _settings(
    bench: Bench, user: Credentials, number: str | None = None, **body: Any
) -> None:
    path = f"/v1/users/{user.user_id}/messagingSettings"
    if number is not None:
        path += f"/numbers/{number}"
    response = await bench.harness.http(user).patch(path, json=body)
    assert response.status_code == 200, response.text


@pytest.fixture
async def user(bench: Bench, receiver: Receiver) -> Credentials:
    creds = await bench.user([NUMBER, OTHER_NUMBER])
    await bench.application(creds, [NUMBER, OTHER_NUMBER], incomingMessageUrl=receiver.url("/in"))
    return creds


@pytest.mark.parametrize("text", [*STOP_WORDS, "stop", " Stop\n", "\tunsubscribe  ", "QuIt"])
async def test_each_stop_word_lists_the_sender_replies_and_still_reaches_the_app(
    bench: Bench, user: Credentials, receiver: Receiver, carrier: KeepingCarrier, text: str
) -> None:
    message_id = await _inbound(bench, text)
    await bench.run()
    [entry] = await _opt_outs(bench, user)
    assert (entry["recipient"], entry["number"], entry["source"]) == (REMOTE, NUMBER, "keyword")
    [event] = [hit.json() for hit in receiver.at("/in")]
    assert event["messageId"] == message_id and event["text"] == text
    assert event["keyword"] == "stop"
    assert (await bench.message(user, message_id))["keyword"] == "stop"
    [reply] = carrier.to(REMOTE)
    assert (reply.from_number, reply.text) == (NUMBER, DEFAULT_OPT_OUT_STOP_REPLY)
    stored = await bench.message(user, reply.id)
    assert (stored["state"], stored["keyword"], stored["direction"]) == ("sent", "stop", "out")


@pytest.mark.parametrize("text", [*START_WORDS, " yes ", "unstop"])
async def test_each_start_word_takes_the_sender_off_and_replies(
    bench: Bench, user: Credentials, carrier: KeepingCarrier, text: str
) -> None:
    await _inbound(bench, "STOP")
    await _inbound(bench, text)
    await bench.run()
    assert await _opt_outs(bench, user) == []
    assert [reply.text for reply in carrier.to(REMOTE)] == [
        DEFAULT_OPT_OUT_STOP_REPLY,
        DEFAULT_OPT_OUT_START_REPLY,
    ]
    await bench.send(user, **{"from": NUMBER, "to": REMOTE, "text": "welcome back"})
    await bench.run()
    assert carrier.to(REMOTE)[-1].text == "welcome back"


@pytest.mark.parametrize("text", [*HELP_WORDS, "help ", "Info"])
async def test_each_help_word_gets_the_help_text_and_changes_nothing(
    bench: Bench, user: Credentials, receiver: Receiver, carrier: KeepingCarrier, text: str
) -> None:
    await _inbound(bench, text)
    await bench.run()
    assert await _opt_outs(bench, user) == []
    assert [reply.text for reply in carrier.to(REMOTE)] == [DEFAULT_OPT_OUT_HELP_REPLY]
    assert receiver.at("/in")[0].json()["keyword"] == "help"


@pytest.mark.parametrize("text", ["stop please", "STOP.", "S TOP", "please stop", "", "STOPP"])
async def test_a_keyword_must_be_the_whole_message(
    bench: Bench, user: Credentials, receiver: Receiver, carrier: KeepingCarrier, text: str
) -> None:
    message_id = await _inbound(bench, text)
    await bench.run()
    assert await _opt_outs(bench, user) == []
    assert carrier.handed == []
    assert "keyword" not in receiver.at("/in")[0].json()  # exactly the Catapult event
    assert "keyword" not in await bench.message(user, message_id)


async def test_an_mms_is_never_a_keyword(
    bench: Bench, user: Credentials, carrier: KeepingCarrier
) -> None:
    await bench.engine.inbound(
        InboundMessage(REMOTE, NUMBER, "STOP", media=["https://media.example.test/a.jpg"])
    )
    await bench.run()
    assert await _opt_outs(bench, user) == [] and carrier.handed == []


async def test_configured_extra_words_and_replies(
    make_bench: BenchFactory, receiver: Receiver
) -> None:
    carrier = KeepingCarrier()
    bench = await make_bench(
        carrier,
        opt_out_extra_stop_words="ARRET, Stopp",
        opt_out_extra_help_words="AIDE",
        opt_out_stop_reply="Bye.",
        opt_out_help_reply="Call us.",
    )
    user = await bench.user([NUMBER])
    await _inbound(bench, "arret")
    await _inbound(bench, "AIDE", sender="+15557654322")
    await bench.run()
    [entry] = await _opt_outs(bench, user)
    assert entry["recipient"] == REMOTE
    assert sorted(reply.text for reply in carrier.handed) == ["Bye.", "Call us."]


# -- sends to a recipient who opted out ----------------------------------------------------


async def test_a_send_to_an_opted_out_recipient_ends_in_error_and_its_callback_fires(
    bench: Bench, user: Credentials, receiver: Receiver, carrier: KeepingCarrier
) -> None:
    await _inbound(bench, "STOP")
    await bench.run()
    message_id = await bench.send(
        user, **{"from": NUMBER, "to": REMOTE, "text": "sale!",
                 "callbackUrl": receiver.url("/out"), "receiptRequested": "all"}
    )  # fmt: skip
    await bench.run()
    assert [m.text for m in carrier.to(REMOTE)] == [DEFAULT_OPT_OUT_STOP_REPLY]
    message = await bench.message(user, message_id)
    assert message["state"] == "error"
    assert message["deliveryState"] == "not-delivered"
    assert message["deliveryCode"] == 775
    assert message["deliveryDescription"] == "Rejected due to user opt out"
    events = [hit.json() for hit in receiver.at("/out")]
    assert [event["state"] for event in events] == ["error", "error"]
    assert events[1]["deliveryCode"] == 775  # the receipt asked for
    [error] = [e for e in await bench.errors(user) if e["code"] == "recipient-opted-out"]
    assert error["category"] == "forbidden"
    assert {"name": "messageId", "value": message_id} in [
        {"name": d["name"], "value": d["value"]} for d in error["details"]
    ]


async def test_number_scope_blocks_only_the_number_written_to(
    bench: Bench, user: Credentials, carrier: KeepingCarrier
) -> None:
    await _inbound(bench, "STOP", to=NUMBER)
    blocked = await bench.send(user, **{"from": NUMBER, "to": REMOTE, "text": "a"})
    allowed = await bench.send(user, **{"from": OTHER_NUMBER, "to": REMOTE, "text": "b"})
    await bench.run()
    assert (await bench.message(user, blocked))["state"] == "error"
    assert (await bench.message(user, allowed))["state"] == "sent"


async def test_user_scope_blocks_every_number_and_start_lifts_it_everywhere(
    bench: Bench, user: Credentials, carrier: KeepingCarrier
) -> None:
    await _settings(bench, user, optOutScope="user")
    await _inbound(bench, "STOP", to=NUMBER)
    await bench.run()
    [entry] = await _opt_outs(bench, user)
    assert entry["number"] is None
    first = await bench.send(user, **{"from": OTHER_NUMBER, "to": REMOTE, "text": "b"})
    await bench.run()
    assert (await bench.message(user, first))["deliveryCode"] == 775
    await _inbound(bench, "START", to=OTHER_NUMBER)
    again = await bench.send(user, **{"from": NUMBER, "to": REMOTE, "text": "c"})
    await bench.run()
    assert await _opt_outs(bench, user) == []
    assert (await bench.message(user, again))["state"] == "sent"


async def test_a_stop_stops_the_sends_already_queued_and_loses_none(
    bench: Bench, user: Credentials, carrier: KeepingCarrier
) -> None:
    others = ["+15557650001", "+15557650002"]
    queued = [
        await bench.send(user, **{"from": NUMBER, "to": to, "text": f"offer {i}"})
        for i, to in enumerate([REMOTE, *others, REMOTE, REMOTE])
    ]
    await _inbound(bench, "STOP")  # arrives while all of them wait in the queue
    await bench.run()
    states = {mid: await bench.message(user, mid) for mid in queued}
    to_remote = [m for m in states.values() if m["to"] == REMOTE]
    assert [m["state"] for m in to_remote] == ["error"] * 3
    assert {m["deliveryCode"] for m in to_remote} == {775}
    assert [m["state"] for m in states.values() if m["to"] in others] == ["sent", "sent"]
    handed = {m.id for m in carrier.handed}
    assert handed.isdisjoint(m["id"] for m in to_remote)
    assert [m.text for m in carrier.to(REMOTE)] == [DEFAULT_OPT_OUT_STOP_REPLY]
    listed = await bench.harness.http(user).get(
        bench.harness.messages_path(user), params={"direction": "out", "size": 100}
    )
    assert len(listed.json()) == len(queued) + 1  # every send and the reply, none lost
    assert all(m["state"] in ("sent", "error") for m in listed.json())


async def test_bulk_reports_each_item_and_only_the_opted_out_one_fails(
    bench: Bench, user: Credentials, carrier: KeepingCarrier
) -> None:
    await _inbound(bench, "STOP")
    await bench.run()
    response = await bench.harness.http(user).post(
        bench.harness.messages_path(user),
        json=[
            {"from": NUMBER, "to": "+15557650001", "text": "one"},
            {"from": NUMBER, "to": REMOTE, "text": "two"},
            {"from": NUMBER, "to": "not a number", "text": "three"},
        ],
    )
    assert response.status_code == 202
    results = response.json()
    assert [r["result"] for r in results] == ["accepted", "accepted", "error"]
    await bench.run()
    ids = [r["location"].rsplit("/", 1)[1] for r in results[:2]]
    outcome = [await bench.message(user, mid) for mid in ids]
    assert [(m["state"], m.get("deliveryCode")) for m in outcome] == [
        ("sent", None),
        ("error", 775),
    ]


async def test_an_opt_out_added_through_the_api_blocks_sends(
    bench: Bench, user: Credentials, carrier: KeepingCarrier
) -> None:
    added = await bench.harness.http(user).post(
        f"/v1/users/{user.user_id}/optOuts", json={"recipient": REMOTE, "number": NUMBER}
    )
    assert added.status_code == 201
    message_id = await bench.send(user, **{"from": NUMBER, "to": REMOTE, "text": "x"})
    await bench.run()
    assert (await bench.message(user, message_id))["state"] == "error"
    assert carrier.handed == []


# -- per-number settings -------------------------------------------------------------------


async def test_a_number_handing_opt_outs_to_the_application_only_marks_keywords(
    bench: Bench, user: Credentials, receiver: Receiver, carrier: KeepingCarrier
) -> None:
    await _settings(bench, user, NUMBER, optOutHandling="application")
    await _inbound(bench, "STOP")
    await bench.run()
    assert await _opt_outs(bench, user) == []
    assert carrier.handed == []
    assert receiver.at("/in")[0].json()["keyword"] == "stop"
    # Even a listed recipient is the application's to judge from this number.
    await bench.harness.http(user).post(
        f"/v1/users/{user.user_id}/optOuts", json={"recipient": REMOTE}
    )
    sent = await bench.send(user, **{"from": NUMBER, "to": REMOTE, "text": "x"})
    blocked = await bench.send(user, **{"from": OTHER_NUMBER, "to": REMOTE, "text": "y"})
    await bench.run()
    assert (await bench.message(user, sent))["state"] == "sent"
    assert (await bench.message(user, blocked))["state"] == "error"


async def test_auto_replies_can_be_turned_off_per_number(
    bench: Bench, user: Credentials, carrier: KeepingCarrier
) -> None:
    await _settings(bench, user, NUMBER, autoReplies=False)
    await _inbound(bench, "STOP", to=NUMBER)
    await _inbound(bench, "HELP", to=OTHER_NUMBER)
    await bench.run()
    assert [entry["number"] for entry in await _opt_outs(bench, user)] == [NUMBER]
    assert [(m.from_number, m.text) for m in carrier.handed] == [
        (OTHER_NUMBER, DEFAULT_OPT_OUT_HELP_REPLY)
    ]


async def test_a_keyword_reported_twice_changes_the_list_and_replies_once(
    bench: Bench, user: Credentials, carrier: KeepingCarrier
) -> None:
    for _ in range(2):
        await bench.engine.inbound(InboundMessage(REMOTE, NUMBER, "STOP", key="smsc-17"))
    await _inbound(bench, "START")
    await bench.engine.inbound(InboundMessage(REMOTE, NUMBER, "STOP", key="smsc-17"))
    await bench.run()
    assert await _opt_outs(bench, user) == []  # the repeat of the first STOP did nothing
    assert len(carrier.to(REMOTE)) == 2


async def test_keywords_and_other_messages_arriving_together_are_all_stored(
    bench: Bench, user: Credentials, receiver: Receiver, carrier: KeepingCarrier
) -> None:
    texts = ["hello", "STOP", "how are you", "HELP", "bye"]
    senders = [f"+1555765000{index}" for index in range(len(texts))]
    ids = await asyncio.gather(
        *(_inbound(bench, text, sender=sender) for text, sender in zip(texts, senders, strict=True))
    )
    await bench.run()
    stored = [await bench.message(user, message_id) for message_id in ids]
    assert [m["text"] for m in stored] == texts
    assert [m.get("keyword") for m in stored] == [None, "stop", None, "help", None]
    assert [e["recipient"] for e in await _opt_outs(bench, user)] == [senders[1]]
    assert sorted(m.to_number for m in carrier.handed) == [senders[1], senders[3]]
    assert len(receiver.at("/in")) == len(texts)
