"""Dead letters: a message or event whose processing crashes is retried a bounded number
of times with backoff, then parked with ``processing-crashed`` and the exception's
summary in the user's error log and on the event, while everything else keeps flowing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from tests.conftest import Credentials
from tests.engine.conftest import Bench, BenchFactory, Receiver, failing_first
from trebuchet.server.store import tables as t
from trebuchet.server.store.faults import NOT_ANSWERING

FROM = "+15550001111"
TO = "+15557654321"
POISON = "{not json"


def _msg(**extra: object) -> dict[str, object]:
    return {"from": FROM, "to": TO, "text": "hello", **extra}


async def _plant(bench: Bench, table: Any, row_id: str, **values: object) -> None:
    async with bench.store.write() as conn:
        await conn.execute(update(table).where(table.c.id == row_id).values(**values))


async def _row(bench: Bench, table: Any, row_id: str) -> dict[str, Any]:
    async with bench.store.read() as conn:
        row = (await conn.execute(select(table).where(table.c.id == row_id))).mappings().one()
    return dict(row)


async def _event_waiting_for_its_next_round(
    make_bench: BenchFactory, receiver: Receiver
) -> tuple[Bench, Credentials, str, dict[str, Any]]:
    """A message whose callback's first round failed: (bench, user, message id, event)."""
    bench = await make_bench(crash_max_attempts=2)
    user = await bench.user([FROM])
    doomed = await bench.send(user, **_msg(callbackUrl=receiver.on("/once", failing_first(1))))
    await bench.run()  # the first round fails: the event waits for its next round
    [event] = await bench.events(user, doomed)
    return bench, user, doomed, event


async def test_a_poison_message_is_parked_and_the_others_are_sent(
    make_bench: BenchFactory, receiver: Receiver
) -> None:
    bench = await make_bench(crash_max_attempts=3)
    user = await bench.user([FROM])
    callback = receiver.url("/cb")
    before = [await bench.send(user, **_msg(callbackUrl=callback)) for _ in range(3)]
    poison = await bench.send(user, **_msg(callbackUrl=callback))
    await _plant(bench, t.messages, poison, media=POISON)  # its media cannot be decoded
    await bench.run()
    row = await _row(bench, t.messages, poison)
    assert (row["state"], row["crashes"]) == ("sending", 1)  # released with a backoff
    assert row["lease_owner"] is None and row["due_us"] > bench.clock.now_us()
    for message_id in before:
        assert (await bench.message(user, message_id))["state"] == "sent"
    await bench.run_for(60, step=5)
    row = await _row(bench, t.messages, poison)
    assert (row["state"], row["crashes"], row["due_us"]) == ("error", 3, None)
    [error] = [e for e in await bench.errors(user) if e["code"] == "processing-crashed"]
    assert poison in error["message"] and "parked" in error["message"]
    details = {d["name"]: d["value"] for d in error["details"]}
    assert details["messageId"] == poison
    assert details["crashes"] == 3
    assert details["error"].startswith("ValidationError: Expected `array`")
    # Parked for good: more time changes nothing, and new work still flows.
    await bench.run_for(600, step=100)
    assert (await _row(bench, t.messages, poison))["crashes"] == 3
    after = await bench.send(user, **_msg(callbackUrl=callback))
    await bench.run()
    assert (await bench.message(user, after))["state"] == "sent"
    delivered = {hit.json()["messageId"] for hit in receiver.at("/cb")}
    assert delivered == {*before, after}


async def test_a_poison_event_is_parked_and_visible_on_the_events_api(
    make_bench: BenchFactory, receiver: Receiver
) -> None:
    bench, user, doomed, event = await _event_waiting_for_its_next_round(make_bench, receiver)
    assert event["state"] == "pending"
    # A GET callback's payload goes into the query string: this one cannot be decoded.
    await _plant(bench, t.events, event["id"], method="GET", payload=POISON)
    healthy = [await bench.send(user, **_msg(callbackUrl=receiver.url("/ok"))) for _ in range(3)]
    await bench.run_for(30, step=2)
    [parked] = await bench.events(user, doomed)
    assert parked["state"] == "failed"
    assert parked["errorCode"] == "processing-crashed"
    assert parked["error"].startswith("JSONDecodeError")
    assert "nextAttemptTime" not in parked and "finishedTime" in parked
    assert len(receiver.at("/once")) == 1  # the poison row never reached the receiver
    assert sorted(hit.json()["messageId"] for hit in receiver.at("/ok")) == sorted(healthy)
    [error] = [e for e in await bench.errors(user) if e["code"] == "processing-crashed"]
    details = {d["name"]: d["value"] for d in error["details"]}
    assert (details["eventId"], details["messageId"], details["crashes"]) == (
        event["id"], doomed, 2,
    )  # fmt: skip


async def test_a_store_fault_is_not_counted_as_a_crash(bench: Bench) -> None:
    """The store not answering is no fault of the item: its lease runs out, nothing counts."""
    user = await bench.user([FROM])
    message_id = await bench.send(user, **_msg())
    [row] = await bench.delivery.claim_messages("w1", 10, bench.clock.now_us(), 30_000_000)
    sends = bench.engine.sends
    await sends.crashed("w1", row, ConnectionError(NOT_ANSWERING))
    assert (await _row(bench, t.messages, message_id))["crashes"] == 0
    await sends.crashed("w1", row, KeyError("payload"))
    crashed = await _row(bench, t.messages, message_id)
    assert crashed["crashes"] == 1 and crashed["lease_owner"] is None


async def test_a_message_claimed_past_the_bound_without_finishing_is_parked(
    make_bench: BenchFactory, receiver: Receiver
) -> None:
    """Claims left unfinished (their processes died) count: at the bound the next claim
    parks the message; a message claimed once before (a suspect) is still sent, alone."""
    bench = await make_bench(crash_max_attempts=3)
    user = await bench.user([FROM])
    callback = receiver.url("/cb")
    killer = await bench.send(user, **_msg(callbackUrl=callback))
    suspects = [await bench.send(user, **_msg(callbackUrl=callback)) for _ in range(3)]
    healthy = [await bench.send(user, **_msg(callbackUrl=callback)) for _ in range(3)]
    await _plant(bench, t.messages, killer, claims=3)  # three processes died holding it
    for message_id in suspects:
        await _plant(bench, t.messages, message_id, claims=1)  # died once beside it

    await bench.run()

    row = await _row(bench, t.messages, killer)
    assert (row["state"], row["due_us"], row["lease_owner"]) == ("error", None, None)
    assert row["claims"] == 0  # parking finished it
    for message_id in [*suspects, *healthy]:
        assert (await bench.message(user, message_id))["state"] == "sent"
        finished = await _row(bench, t.messages, message_id)
        assert (finished["claims"], finished["attempts"]) == (0, 1)  # given back: uncounted
    [error] = [e for e in await bench.errors(user) if e["code"] == "processing-abandoned"]
    assert killer in error["message"] and "parked" in error["message"]
    details = {d["name"]: d["value"] for d in error["details"]}
    assert details["messageId"] == killer
    assert details["error"].startswith("claimed 3 times without finishing")
    delivered = {hit.json()["messageId"] for hit in receiver.at("/cb")}
    assert delivered == {*suspects, *healthy}


async def test_an_event_claimed_past_the_bound_without_finishing_is_parked(
    make_bench: BenchFactory, receiver: Receiver
) -> None:
    bench, user, doomed, event = await _event_waiting_for_its_next_round(make_bench, receiver)
    await _plant(bench, t.events, event["id"], claims=2)

    await bench.run_for(30, step=2)

    [parked] = await bench.events(user, doomed)
    assert (parked["state"], parked["errorCode"]) == ("failed", "processing-abandoned")
    assert parked["error"].startswith("claimed 2 times without finishing")
    assert len(receiver.at("/once")) == 1  # never handed out again
    [error] = [e for e in await bench.errors(user) if e["code"] == "processing-abandoned"]
    assert event["id"] in error["message"]
