"""Which callback failures are final, and how a message's events keep moving behind an
earlier one that keeps failing; real receivers on loopback."""

from __future__ import annotations

import pytest
from aiohttp import web

from tests.engine.conftest import Behaviour, Bench, BenchFactory, Receiver, status

FROM = "+15550001111"
TO = "+15557654321"


def _msg(**extra: object) -> dict[str, object]:
    return {"from": FROM, "to": TO, "text": "hi", **extra}


@pytest.mark.parametrize("code", [400, 401, 403, 404, 410, 422])
async def test_a_permanent_refusal_is_final_after_the_fallback_refused_too(
    bench: Bench, receiver: Receiver, code: int
) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(
        user,
        **_msg(callbackUrl=receiver.on("/primary", status(code)),
               fallbackUrl=receiver.on("/fallback", status(404))),
    )  # fmt: skip
    await bench.run()
    [event] = await bench.events(user, message_id)
    assert event["state"] == "failed"
    assert event["errorCode"] == "callback-refused"
    assert event["error"].startswith("Not Found")  # the fallback's answer, tried last
    assert [(a["target"], a["status"]) for a in event["attempts"]] == [
        ("primary", code), ("fallback", 404),
    ]  # fmt: skip
    await bench.run_for(60, step=10)  # nothing is retried
    assert len(receiver.at("/primary")) == len(receiver.at("/fallback")) == 1
    assert [e["code"] for e in await bench.errors(user)] == ["callback-failed"]


async def test_a_refusal_without_a_fallback_is_final_at_once(
    bench: Bench, receiver: Receiver
) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(user, **_msg(callbackUrl=receiver.on("/gone", status(410))))
    await bench.run()
    [event] = await bench.events(user, message_id)
    assert (event["state"], event["errorCode"], len(event["attempts"])) == (
        "failed", "callback-refused", 1,
    )  # fmt: skip


@pytest.mark.parametrize("code", [408, 409, 425, 429, 500, 503])
async def test_transient_answers_are_retried(bench: Bench, receiver: Receiver, code: int) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(user, **_msg(callbackUrl=receiver.on("/busy", status(code))))
    await bench.run_for(8, step=1)
    [event] = await bench.events(user, message_id)
    assert event["state"] == "pending" and "nextAttemptTime" in event
    assert len(receiver.at("/busy")) >= 3


async def test_a_refused_primary_with_a_failing_fallback_keeps_retrying(
    bench: Bench, receiver: Receiver
) -> None:
    """Final only when every address refused for good: a fallback that is merely down
    keeps the event alive for its window."""
    user = await bench.user([FROM])
    message_id = await bench.send(
        user,
        **_msg(callbackUrl=receiver.on("/primary", status(404)),
               fallbackUrl=receiver.on("/fallback", status(503))),
    )  # fmt: skip
    await bench.run_for(8, step=1)
    [event] = await bench.events(user, message_id)
    assert event["state"] == "pending"
    assert len(receiver.at("/fallback")) >= 3


async def test_an_expired_event_says_so(make_bench: BenchFactory, receiver: Receiver) -> None:
    bench = await make_bench(callback_retry_window=10.0)
    user = await bench.user([FROM])
    message_id = await bench.send(user, **_msg(callbackUrl=receiver.on("/down", status(500))))
    await bench.run_for(20, step=2)
    [event] = await bench.events(user, message_id)
    assert (event["state"], event["errorCode"]) == ("failed", "callback-expired")
    assert event["error"].startswith("Internal Server Error")


def _fails_before_the_receipt() -> Behaviour:
    """Refuses (503) the ``sent`` event forever and takes the receipt."""

    async def answer(request: web.Request, count: int) -> web.StreamResponse:
        body = await request.json()
        return web.Response(status=200 if "deliveryState" in body else 503)

    return answer


async def test_later_events_wait_only_while_the_earlier_is_in_its_first_rounds(
    make_bench: BenchFactory, receiver: Receiver
) -> None:
    bench = await make_bench(callback_order_hold_rounds=3)
    user = await bench.user([FROM])
    url = receiver.on("/cb", _fails_before_the_receipt())
    message_id = await bench.send(user, **_msg(callbackUrl=url, receiptRequested="all"))

    def sequences() -> list[str]:
        return [hit.headers["Trebuchet-Event-Sequence"] for hit in receiver.at("/cb")]

    await bench.run()
    assert sequences() == ["1"]  # the receipt waits behind the sent event
    bench.clock.advance(1)
    await bench.run()
    assert sequences() == ["1", "1"]  # still in order during the first rounds
    bench.clock.advance(2)
    await bench.run()
    # The third round of the sent event has started: the receipt goes ahead.
    assert sequences() == ["1", "1", "1", "2"]
    sent, receipt = await bench.events(user, message_id)
    assert (sent["state"], receipt["state"]) == ("pending", "delivered")
    assert len(sent["attempts"]) == 3  # seconds of simulated time, not the 24 h window


async def test_strict_order_when_the_hold_is_unbounded(
    make_bench: BenchFactory, receiver: Receiver
) -> None:
    bench = await make_bench(callback_order_hold_rounds=1_000_000)
    user = await bench.user([FROM])
    url = receiver.on("/cb", _fails_before_the_receipt())
    message_id = await bench.send(user, **_msg(callbackUrl=url, receiptRequested="all"))
    await bench.run_for(30, step=1)
    assert {hit.headers["Trebuchet-Event-Sequence"] for hit in receiver.at("/cb")} == {"1"}
    sent, receipt = await bench.events(user, message_id)
    assert (sent["state"], receipt["state"]) == ("pending", "pending")
