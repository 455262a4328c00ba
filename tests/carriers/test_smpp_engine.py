"""The SMPP carrier under the real engine and store (each backend): API → engine → SMSC,
receipts matched through the database after a restart, and a link drop mid-run."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.carriers.smsc import ACCEPT, DROP, FakeSmsc
from tests.conftest import Harness
from tests.engine.conftest import Bench, BenchFactory, Receiver
from trebuchet.server.carriers.refs import SqlRefs
from trebuchet.server.carriers.smpp import SmppCarrier, SmppConfig
from trebuchet.server.store import tables as t

FROM = "+15550001111"
TO = "+15557654321"


def smpp_carrier(smsc: FakeSmsc, bench_store: Any, **overrides: Any) -> SmppCarrier:
    values: dict[str, Any] = {
        "host": "127.0.0.1", "port": smsc.port, "system_id": "esme", "password": "secret",
        "rebind_initial": 0.05, "rebind_max": 0.2, "response_timeout": 2.0, "window": 8,
        "receipt_wait": 2.0,
    }  # fmt: skip
    values.update(overrides)
    return SmppCarrier("smsc", SmppConfig.from_mapping("smsc", values), SqlRefs(bench_store))


async def until(condition: Any, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def make(
    make_bench: BenchFactory, harness: Harness, smsc: FakeSmsc, **overrides: Any
) -> Bench:
    carrier = smpp_carrier(smsc, harness.store, **overrides)
    bench = await make_bench(carrier=carrier)
    assert await carrier.wait_bound(5)
    return bench


async def test_sent_through_smpp_then_delivered_by_receipt(
    make_bench: BenchFactory, harness: Harness, smsc: FakeSmsc, receiver: Receiver
) -> None:
    bench = await make(make_bench, harness, smsc)
    user = await bench.user([FROM])
    message_id = await bench.send(
        user, **{"from": FROM, "to": TO, "text": "hello over smpp", "receiptRequested": "all",
                 "callbackUrl": receiver.url("/cb")},
    )  # fmt: skip
    await bench.run()
    message = await bench.message(user, message_id)
    assert (message["state"], message["deliveryState"]) == ("sent", "waiting")
    [taken] = smsc.accepted
    assert await smsc.receipt(taken.message_id, "DELIVRD") == 0
    await bench.run()
    message = await bench.message(user, message_id)
    assert (message["deliveryState"], message["deliveryCode"]) == ("delivered", 0)
    assert [(h.json()["state"], h.json().get("deliveryState")) for h in receiver.at("/cb")] == [
        ("sent", None),
        ("sent", "delivered"),
    ]


async def test_a_receipt_after_a_restart_still_finds_its_message(
    make_bench: BenchFactory, harness: Harness, smsc: FakeSmsc
) -> None:
    bench = await make(make_bench, harness, smsc)
    user = await bench.user([FROM])
    message_id = await bench.send(
        user, **{"from": FROM, "to": TO, "text": "x" * 200, "receiptRequested": "error"}
    )
    await bench.run()
    await bench.engine.close()  # the process stops; its memory of the ids goes with it
    refs = [taken.message_id for taken in smsc.accepted]
    assert len(refs) == 2
    async with bench.store.read() as conn:
        rows = (await conn.execute(t.carrier_refs.select())).mappings().all()
    assert sorted((r["ref"], r["message_id"], r["part"]) for r in rows) == [
        (refs[0], message_id, 1), (refs[1], message_id, 2)]  # fmt: skip
    later = await make(make_bench, harness, smsc)  # a new process, hours later
    assert await smsc.receipt(refs[1], "EXPIRED", form="tlv") == 0
    assert await smsc.receipt(refs[0], "DELIVRD") == 0
    message = await later.message(user, message_id)
    assert (message["deliveryState"], message["deliveryCode"]) == ("not-delivered", 902)


async def test_a_rejected_submit_is_an_error(
    make_bench: BenchFactory, harness: Harness, smsc: FakeSmsc
) -> None:
    bench = await make(make_bench, harness, smsc)
    smsc.plan = lambda index, sm: 0x0B  # ESME_RINVDSTADR
    user = await bench.user([FROM])
    message_id = await bench.send(user, **{"from": FROM, "to": TO, "text": "x"})
    await bench.run()
    assert (await bench.message(user, message_id))["state"] == "error"
    assert smsc.submits == 1


async def test_a_link_drop_mid_run_loses_no_message_and_sends_none_twice(
    make_bench: BenchFactory, harness: Harness, smsc: FakeSmsc
) -> None:
    bench = await make(make_bench, harness, smsc, window=16)
    dropped: set[int] = set()

    def plan(index: int, sm: object) -> str:
        if index in (20, 55, 90) and index not in dropped:
            dropped.add(index)
            return DROP
        return ACCEPT

    smsc.plan = plan
    user = await bench.user([FROM])
    http = bench.harness.http(user)
    body = [{"from": FROM, "to": TO, "text": f"run {i}"} for i in range(120)]
    for start in range(0, 120, 40):
        response = await http.post(bench.harness.messages_path(user), json=body[start : start + 40])
        assert response.status_code == 202, response.text
    await until(lambda: _all_sent(bench))
    texts = sorted(taken.sm.short_message.decode() for taken in smsc.accepted)
    assert texts == sorted(f"run {i}" for i in range(120))  # each one, exactly once
    assert len(dropped) == 3


async def _all_sent(bench: Bench) -> bool:
    await bench.run()
    async with bench.store.read() as conn:
        rows = (await conn.execute(t.messages.select())).mappings().all()
    return len(rows) == 120 and all(row["state"] == "sent" for row in rows)
