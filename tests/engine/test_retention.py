"""Retention (spec §3.10) through the real app and engine, with a hand-moved clock: a
message's text leaves every row after three days (the redaction's scrub); after thirty
days the record goes with its events, attempts, carrier references and the media a
received MMS brought; messages not yet sent are left alone; ``0`` keeps forever."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from sqlalchemy import func, select, update

from tests.conftest import Credentials
from tests.engine.conftest import Bench, BenchFactory, Receiver
from tests.engine.test_redaction import answers_of, inbound_copy, rows_containing
from trebuchet.server.carriers.base import InboundMessage
from trebuchet.server.engine.housekeeping import Housekeeper
from trebuchet.server.media.parts import MediaPart
from trebuchet.server.store import tables as t
from trebuchet.server.store.carrier_refs import Part
from trebuchet.server.store.console_sessions import key_hash
from trebuchet.server.store.retention import RetentionPolicy

OWN = "+15550001111"
OTHER_OWN = "+15550002222"
REMOTE = "+15557654321"
DAY = 24 * 3600.0


@pytest.fixture
async def bench(make_bench: BenchFactory) -> Bench:
    """An engine with the housekeeper every engine runs by default (test servers run none)."""
    return await make_bench(housekeeping_interval=60)


def secret() -> str:
    return f"SECRET-{uuid.uuid4().hex}"


def housekeeper(bench: Bench, policy: RetentionPolicy | None = None) -> Housekeeper:
    assert bench.engine.housekeeper is not None
    keeper = bench.engine.housekeeper
    return keeper if policy is None else replace_policy(keeper, policy)


def replace_policy(keeper: Housekeeper, policy: RetentionPolicy) -> Housekeeper:
    return Housekeeper(keeper.store, policy, clock=keeper.clock, media=keeper.media, batch=2)


async def count(bench: Bench, table: str, column: str, values: list[str]) -> int:
    target = t.metadata.tables[table]
    query = select(func.count()).select_from(target).where(target.c[column].in_(values))
    async with bench.store.read() as conn:
        return int((await conn.execute(query)).scalar_one())


async def sent_with_copy(bench: Bench, receiver: Receiver, words: str) -> tuple[Credentials, str]:
    """A message to the user's own number (the sandbox stores a copy), with callbacks
    and receipts, delivered."""
    creds = await bench.user([OWN, OTHER_OWN])
    await bench.application(creds, [OTHER_OWN], incomingMessageUrl=receiver.url("/in"))
    message_id = await bench.send(
        creds, **{"from": OWN, "to": OTHER_OWN, "text": words,
                  "callbackUrl": receiver.url("/out"), "receiptRequested": "all"},
    )  # fmt: skip
    await bench.run()
    return creds, message_id


async def test_text_leaves_every_row_after_three_days(bench: Bench, receiver: Receiver) -> None:
    words = secret()
    creds, message_id = await sent_with_copy(bench, receiver, words)
    copy = await inbound_copy(bench, creds)
    keeper = housekeeper(bench)

    bench.clock.advance(2.9 * DAY)
    assert (await keeper.run_once())["text"] == 0
    assert await rows_containing(bench, words)

    bench.clock.advance(0.2 * DAY)
    handled = await keeper.run_once()
    assert handled["text"] == 2  # the message and its copy
    assert await rows_containing(bench, words) == []
    for body in await answers_of(bench, creds, [message_id, copy["id"]]):
        assert words not in body
    kept = await bench.message(creds, message_id)
    assert kept["text"] == "" and kept["state"] == "sent"  # the record itself stays
    assert len(await bench.events(creds, message_id)) >= 2


async def test_records_go_after_thirty_days_with_what_only_they_used(
    bench: Bench, receiver: Receiver
) -> None:
    creds, message_id = await sent_with_copy(bench, receiver, secret())
    copy = await inbound_copy(bench, creds)
    picture = MediaPart("https://media.example.test/a.jpg", "a.jpg", "image/jpeg", b"\xff" * 64)
    mms_id = await bench.engine.inbound(InboundMessage(REMOTE, OWN, "look", parts=(picture,)))
    await bench.run()
    mms = await bench.message(creds, mms_id)
    [stored] = await bench.engine.delivery.media.list(creds.user_id, after=None, limit=10)
    assert mms["media"] and mms["media"][0].endswith(stored.name)
    # As an SMPP or HTTP upstream carrier would (the sandbox keeps no references).
    await bench.store.carrier_refs.record("smsc", [Part(message_id, 1, 1, "net-1")])
    ids = [message_id, copy["id"], mms_id]
    event_ids = [e["id"] for m in ids for e in await bench.events(creds, m)]
    assert await count(bench, "event_attempts", "event_id", event_ids)
    assert await count(bench, "carrier_refs", "message_id", [message_id])
    keeper = housekeeper(bench)

    bench.clock.advance(29.9 * DAY)
    assert (await keeper.run_once())["records"] == 0
    bench.clock.advance(0.2 * DAY)
    assert (await keeper.run_once())["records"] == 3

    http = bench.harness.http(creds)
    for gone in ids:
        response = await http.get(f"{bench.harness.messages_path(creds)}/{gone}")
        assert response.status_code == 404
        assert response.json()["code"] == "message-not-found"
    assert await count(bench, "events", "message_id", ids) == 0
    assert await count(bench, "event_attempts", "event_id", event_ids) == 0
    assert await count(bench, "carrier_refs", "message_id", ids) == 0
    assert await bench.engine.delivery.media.list(creds.user_id, after=None, limit=10) == []


async def test_media_another_kept_message_names_stays(bench: Bench) -> None:
    creds = await bench.user([OWN])
    picture = MediaPart("https://media.example.test/a.jpg", "a.jpg", "image/jpeg", b"\xff" * 64)
    mms_id = await bench.engine.inbound(InboundMessage(REMOTE, OWN, "", parts=(picture,)))
    url = (await bench.message(creds, mms_id))["media"][0]
    # The user sends the received picture on, twenty days later (so it is kept longer).
    forward = await bench.send(creds, **{"from": OWN, "to": REMOTE, "media": [url]})
    await bench.run()
    async with bench.store.write() as conn:
        messages = t.messages
        later = messages.c.time_us + round(20 * DAY * 1_000_000)
        await conn.execute(update(messages).where(messages.c.id == forward).values(time_us=later))
    bench.clock.advance(30.1 * DAY)

    handled = await housekeeper(bench).run_once()

    assert handled["records"] == 1
    assert (await bench.message(creds, forward))["media"] == [url]
    assert len(await bench.engine.delivery.media.list(creds.user_id, after=None, limit=10)) == 1


async def test_messages_not_yet_sent_are_left_alone(bench: Bench) -> None:
    words = secret()
    creds = await bench.user([OWN])
    message_id = await bench.send(creds, **{"from": OWN, "to": REMOTE, "text": words})
    bench.clock.advance(40 * DAY)  # never sent (no engine round ran)

    handled = await housekeeper(bench).run_once()

    assert handled["text"] == handled["records"] == 0
    assert (await bench.message(creds, message_id))["text"] == words


async def test_zero_keeps_forever(make_bench: BenchFactory, receiver: Receiver) -> None:
    bench = await make_bench(
        retention_text_days=0, retention_record_days=0, housekeeping_interval=60
    )
    words = secret()
    creds, message_id = await sent_with_copy(bench, receiver, words)
    bench.clock.advance(400 * DAY)

    handled = await housekeeper(bench).run_once()

    assert handled["text"] == handled["records"] == handled["user_errors"] == 0
    assert (await bench.message(creds, message_id))["text"] == words


async def test_delivered_events_and_receipted_refs_are_pruned_before_their_message(
    bench: Bench, receiver: Receiver
) -> None:
    creds, message_id = await sent_with_copy(bench, receiver, secret())
    events = await bench.events(creds, message_id)
    assert events and all(e["state"] == "delivered" for e in events)
    refs = bench.store.carrier_refs
    await refs.record("smsc", [Part(message_id, 1, 2, "net-1"), Part(message_id, 2, 2, "net-2")])
    keeper = housekeeper(bench)

    await refs.report("smsc", "net-1", 0)
    assert (await keeper.run_once())["carrier_refs"] == 0  # part 2's receipt is still due
    await refs.report("smsc", "net-2", 0)
    assert (await keeper.run_once())["carrier_refs"] == 2  # both came: done with them
    assert await count(bench, "carrier_refs", "message_id", [message_id]) == 0

    await refs.record("smsc", [Part(message_id, 1, 1, "net-3")])  # no receipt will come
    bench.clock.advance(2.9 * DAY)
    assert (await keeper.run_once())["carrier_refs"] == 0
    bench.clock.advance(4.2 * DAY)
    handled = await keeper.run_once()
    assert handled["carrier_refs"] == 1  # expired after 3 days
    assert handled["events"] >= len(events)
    assert await bench.events(creds, message_id) == []
    assert (await bench.message(creds, message_id))["deliveryState"] == "delivered"


async def test_housekeeping_settings_reach_the_engine(make_bench: BenchFactory) -> None:
    bench = await make_bench(
        retention_text_days=1.5, housekeeping_batch=7, housekeeping_interval=60
    )
    keeper = housekeeper(bench)
    assert keeper.policy.text_us == round(1.5 * DAY * 1_000_000)
    assert keeper.batch == 7
    off = await make_bench(housekeeping_interval=0)
    assert off.engine.housekeeper is None
    assert replace(keeper.policy, text_us=None).cutoffs(10)["text"] is None


async def test_idle_console_sessions_go_in_a_round(bench: Bench) -> None:
    creds = await bench.user([OWN])
    sessions = bench.store.console_sessions
    idle_key, _ = await sessions.start(creds.user_id, operator=False)
    used_key, used = await sessions.start(creds.user_id, operator=False)
    keeper = housekeeper(bench)

    bench.clock.advance(20 * 60)  # one browser keeps using its session
    async with bench.store.write() as conn:
        used_at = bench.clock.now_us()
        table = t.console_sessions
        await conn.execute(update(table).where(table.c.id == used.key_hash).values(seen_us=used_at))
    bench.clock.advance(9 * 60)
    assert (await keeper.run_once())["console_sessions"] == 0

    bench.clock.advance(2 * 60)  # the other is now 31 minutes idle
    assert (await keeper.due())["console_sessions"] == 1
    assert (await keeper.run_once())["console_sessions"] == 1
    hashes = [key_hash(idle_key), key_hash(used_key)]
    assert await count(bench, "console_sessions", "id", hashes) == 1
    assert await count(bench, "console_sessions", "id", [used.key_hash]) == 1
