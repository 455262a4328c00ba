"""``sendAt``: accepted now, ``scheduled`` until its time, then sent by the engine like any
queued message; validated per property and per bulk item; durable across a restart of
the store and engine; on both stores."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import Harness
from tests.engine.conftest import Bench, BenchFactory, ManualClock, Receiver
from trebuchet._message_fields import MESSAGE_PROPERTIES
from trebuchet.server.domain.times import US, format_time
from trebuchet.server.engine import Engine
from trebuchet.server.store import Store

FROM = "+15550001111"
TO = "+15557654321"
DAY = 86_400


def at(seconds_from_now: float) -> str:
    """An ISO 8601 time this far from the real now (the API's clock)."""
    return format_time(time.time_ns() // 1000 + round(seconds_from_now * US))


def message(**extra: Any) -> dict[str, Any]:
    return {"from": FROM, "to": TO, "text": "later", **extra}


async def test_a_scheduled_message_waits_for_its_time_then_is_sent(
    bench: Bench, receiver: Receiver
) -> None:
    user = await bench.user([FROM])
    send_at = at(60)
    message_id = await bench.send(user, **message(sendAt=send_at, callbackUrl=receiver.url("/cb")))
    shown = await bench.message(user, message_id)
    assert (shown["state"], shown["sendAt"]) == ("scheduled", send_at)
    assert "expiration" not in shown
    assert await bench.run() == 0  # not due: nothing is claimed
    bench.clock.advance(30)
    await bench.run()
    assert (await bench.message(user, message_id))["state"] == "scheduled"
    assert receiver.at("/cb") == []
    bench.clock.advance(31)
    await bench.run()
    sent = await bench.message(user, message_id)
    assert (sent["state"], sent["sendAt"]) == ("sent", send_at)
    assert [hit.json()["state"] for hit in receiver.at("/cb")] == ["sent"]


async def test_scheduled_is_a_state_lists_filter_on(bench: Bench) -> None:
    user = await bench.user([FROM])
    later = await bench.send(user, **message(sendAt=at(3600)))
    now = await bench.send(user, **message())
    http = bench.harness.http(user)
    path = bench.harness.messages_path(user)
    scheduled = (await http.get(path, params={"state": "scheduled"})).json()
    queued = (await http.get(path, params={"state": "queued"})).json()
    assert [m["id"] for m in scheduled] == [later]
    assert [m["id"] for m in queued] == [now]
    assert (await http.get(path, params={"state": "canceled"})).json() == []


async def test_a_send_at_just_passed_goes_at_once(bench: Bench) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(user, **message(sendAt=at(-5)))
    assert (await bench.message(user, message_id))["state"] == "queued"
    await bench.run()
    assert (await bench.message(user, message_id))["state"] == "sent"


async def test_an_old_client_sees_exactly_the_catapult_message(bench: Bench) -> None:
    user = await bench.user([FROM])
    message_id = await bench.send(user, **message(tag="t"))
    shown = await bench.message(user, message_id)
    assert "sendAt" not in shown and "expiration" not in shown
    assert set(shown) <= set(MESSAGE_PROPERTIES) - {"sendAt", "expiration"}
    await bench.run()
    assert (await bench.message(user, message_id))["state"] == "sent"


BAD = [
    ({"sendAt": "tomorrow"}, "sendAt", "ISO 8601"),
    ({"sendAt": "2026-12-07"}, "sendAt", "ISO 8601"),
    ({"sendAt": 1700000000}, "sendAt", None),
    ({"sendAt": "past"}, "sendAt", "in the past"),
    ({"sendAt": "far"}, "sendAt", "35 days"),
    ({"expiration": "past"}, "expiration", "later than"),
    ({"expiration": "far"}, "expiration", "14 days"),
    ({"validityPeriod": 0}, "validityPeriod", "1 to 1209600"),
    ({"validityPeriod": 15 * DAY}, "validityPeriod", "1 to 1209600"),
    ({"validityPeriod": 60, "expiration": "soon"}, "validityPeriod", "cannot be combined"),
]


def _resolve(fields: dict[str, Any]) -> dict[str, Any]:
    times = {"past": at(-3600), "far": at(36 * DAY), "soon": at(600)}
    return {key: times.get(value, value) if isinstance(value, str) else value
            for key, value in fields.items()}  # fmt: skip


@pytest.mark.parametrize(("fields", "prop", "why"), BAD, ids=[str(b[0]) for b in BAD])
async def test_bad_timing_answers_the_spec_error_body(
    harness: Harness, fields: dict[str, Any], prop: str, why: str | None
) -> None:
    user = await harness.create_user([FROM])
    http = harness.http(user)
    response = await http.post(harness.messages_path(user), json=message(**_resolve(fields)))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["category"] == "bad-request"
    assert {"name": "property", "value": prop} in body["details"]
    assert why is None or why in body["message"]
    assert (await http.get(harness.messages_path(user))).json() == []  # nothing stored


async def test_a_bulk_send_reports_bad_timing_per_item(harness: Harness) -> None:
    user = await harness.create_user([FROM])
    http = harness.http(user)
    items = [message(sendAt=at(600)), message(sendAt=at(40 * DAY)), message(validityPeriod=30)]
    response = await http.post(harness.messages_path(user), json=items)
    assert response.status_code == 202
    results = response.json()
    assert [r["result"] for r in results] == ["accepted", "error", "accepted"]
    assert results[1]["error"]["code"] == "validation-error"
    assert {"name": "property", "value": "sendAt"} in results[1]["error"]["details"]
    listed = (await http.get(harness.messages_path(user))).json()
    assert sorted(m["state"] for m in listed) == ["queued", "scheduled"]


async def test_a_scheduled_message_survives_a_restart(
    make_bench: BenchFactory, harness: Harness, receiver: Receiver
) -> None:
    first = await make_bench()
    user = await first.user([FROM])
    message_id = await first.send(user, **message(sendAt=at(120), callbackUrl=receiver.url("/cb")))
    await first.run()
    await first.engine.close()
    # A new store object and engine over the same database: what a restarted process has.
    store = Store(harness.settings.db)
    await store.open()
    clock = ManualClock()
    engine = Engine(store, harness.settings, clock=clock, draw=lambda: 0.0)
    try:
        assert await engine.run_until_idle() == 0
        clock.advance(121)
        await engine.run_until_idle()
    finally:
        await engine.close()
        await store.close()
    shown = await first.message(user, message_id)
    assert shown["state"] == "sent"
    assert [hit.json()["state"] for hit in receiver.at("/cb")] == ["sent"]
