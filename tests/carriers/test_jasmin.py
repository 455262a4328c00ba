"""The SMPP carrier against a real SMSC: Jasmin 0.11 on loopback (see tests/carriers/jasmin.py).

Jasmin answers every submit_sm with a UUID and, for ``esme``, sends one receipt per
message (``stat:ACCEPTD`` with the receipted_message_id and message_state TLVs), which
maps to delivery code 0.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.carriers.conftest import RecordingSink
from tests.carriers.jasmin import Jasmin
from tests.carriers.test_smpp_carrier import out
from tests.carriers.test_smpp_engine import until
from tests.conftest import Harness
from tests.engine.conftest import BenchFactory, Receiver
from trebuchet.server.carriers.refs import MemoryRefs, SqlRefs
from trebuchet.server.carriers.smpp import SmppCarrier, SmppConfig

pytestmark = pytest.mark.slow
FROM = "+15550001111"


def config(jasmin: Jasmin, **overrides: Any) -> SmppConfig:
    values: dict[str, Any] = {
        "host": jasmin.host, "port": jasmin.port, "system_id": jasmin.user[0],
        "password": jasmin.user[1], "window": 10, "receipt_wait": 10.0,
        "rebind_initial": 0.2, "rebind_max": 1.0,
    }  # fmt: skip
    values.update(overrides)
    return SmppConfig.from_mapping("jasmin", values)


async def test_messages_are_accepted_and_every_receipt_comes_back(jasmin: Jasmin) -> None:
    carrier = SmppCarrier("jasmin", config(jasmin), MemoryRefs())
    sink = RecordingSink()
    carrier.bind(sink)
    try:
        assert await carrier.wait_bound(10)
        messages = [out(f"jasmin {i}") for i in range(10)] + [out("☺ unicode"), out("l" * 400)]
        accepted = await asyncio.gather(*(carrier.send(m) for m in messages))
        assert all(len(a.carrier_ref) == 36 for a in accepted)  # Jasmin's UUIDs

        async def every_receipt() -> bool:
            return len(sink.receipts) == len(messages)

        await until(every_receipt, 20)
        assert sorted(mid for mid, _ in sink.receipts) == sorted(m.id for m in messages)
        assert {r.code for _, r in sink.receipts} == {0}
    finally:
        await carrier.close()


async def test_bind_refused_with_a_wrong_password(jasmin: Jasmin) -> None:
    carrier = SmppCarrier("jasmin", config(jasmin, password="wrong"), MemoryRefs())
    carrier.bind(RecordingSink())
    try:
        assert not await carrier.wait_bound(1.5)
        assert carrier.sessions[0].last_refusal is not None
        assert carrier.sessions[0].last_refusal.status == 0x0E  # ESME_RINVPASWD
    finally:
        await carrier.close()


async def test_through_the_engine_with_receipts_and_callbacks(
    jasmin: Jasmin, make_bench: BenchFactory, harness: Harness, receiver: Receiver
) -> None:
    carrier = SmppCarrier("jasmin", config(jasmin, sessions=2), SqlRefs(harness.store))
    bench = await make_bench(carrier=carrier)
    assert await carrier.wait_bound(10)
    user = await bench.user([FROM])
    ids = [
        await bench.send(user, **{"from": FROM, "to": f"+1555765{i:04d}", "text": f"e{i}",
                                  "receiptRequested": "all", "callbackUrl": receiver.url("/cb")})
        for i in range(6)
    ]  # fmt: skip

    async def all_delivered() -> bool:
        await bench.run()
        states = [(await bench.message(user, i)).get("deliveryState") for i in ids]
        return states == ["delivered"] * len(ids)

    await until(all_delivered, 20)
    await bench.run()
    events = [hit.json() for hit in receiver.at("/cb")]
    for message_id in ids:
        mine = [e.get("deliveryState") for e in events if e["messageId"] == message_id]
        assert mine == [None, "delivered"]  # sent, then the receipt: never the other way


def test_the_smpp_benchmark_runs(jasmin: Jasmin) -> None:
    from benchmarks import bench_smpp

    rows = bench_smpp.smpp(count=60, seconds=5)
    assert len(rows) == 1 + len(bench_smpp.WINDOWS)
    assert all(row.measured.endswith("msg/s") for row in rows)
