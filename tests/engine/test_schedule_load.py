"""Thousands of messages scheduled for one second: the claim reaches them through the due
index (no scan of the table, on both stores), every one goes out once, and a sender's
batch does not hold up another sender's message due just after it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select, text

from tests.conftest import Credentials, Harness
from tests.engine.conftest import Bench, BenchFactory
from tests.engine.test_scheduling import at
from trebuchet.server.domain.times import now_us
from trebuchet.server.store import tables as t
from trebuchet.server.store.claims import CLAIM_MESSAGES

BATCH_SENDER, OTHER_SENDER = "+15550001111", "+15550002222"
COUNT = 2000
BULK = 50
# A guard against a hang, not a measure: the drain takes a few seconds.
DRAIN_LIMIT_S = 180


async def _plan(harness: Harness, sql: str, params: dict[str, Any]) -> str:
    async with harness.store.write() as conn:
        if harness.store.dialect == "sqlite":
            rows = await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"), params)
            return "\n".join(str(row[-1]) for row in rows)
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        rows = await conn.execute(text(f"EXPLAIN {sql}"), params)
        return "\n".join(str(row[0]) for row in rows)


async def test_the_claim_reads_the_due_index_not_the_table(bench: Bench) -> None:
    user = await bench.user([BATCH_SENDER])
    await _schedule(bench, user, BATCH_SENDER, at(30), 100)
    await bench.send(user, **{"from": BATCH_SENDER, "to": "+15557654321", "text": "now"})
    now = now_us()
    params = {"owner": "w", "until": now + 1, "now": now, "limit": 10}
    plan = await _plan(bench.harness, CLAIM_MESSAGES[bench.store.dialect], params)
    assert "ix_messages_due" in plan, plan
    if bench.store.dialect == "sqlite":
        assert "SCAN messages" not in plan, plan
    else:
        assert "Seq Scan on messages" not in plan, plan


async def _schedule(bench: Bench, user: Credentials, sender: str, send_at: str, count: int) -> None:
    http = bench.harness.http(user)
    body = {"from": sender, "to": "+15557654321", "text": "at once", "sendAt": send_at}
    for start in range(0, count, BULK):
        items = [body] * min(BULK, count - start)
        response = await http.post(bench.harness.messages_path(user), json=items)
        assert response.status_code == 202
        assert all(result["result"] == "accepted" for result in response.json())


async def _states(bench: Bench) -> dict[str, int]:
    c = t.messages.c
    async with bench.store.read() as conn:
        rows = await conn.execute(select(c.state, func.count()).group_by(c.state))
        return {state: count for state, count in rows.all()}


async def _drain(bench: Bench) -> None:
    await asyncio.wait_for(bench.run(), DRAIN_LIMIT_S)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_two_thousand_due_in_one_second_all_go_out_once(bench: Bench, store_url: str) -> None:
    user = await bench.user([BATCH_SENDER, OTHER_SENDER])
    second = at(20)
    await _schedule(bench, user, BATCH_SENDER, second, COUNT)
    # Another message due just after the batch, so it is claimed behind every one of them.
    later = at(20.001)
    other = await bench.send(user, **{"from": OTHER_SENDER, "to": "+15557654321",
                                      "text": "mine", "sendAt": later})  # fmt: skip
    assert await _states(bench) == {"scheduled": COUNT + 1}
    bench.clock.advance(21)
    await _drain(bench)
    assert await _states(bench) == {"sent": COUNT + 1}
    async with bench.store.read() as conn:
        attempts = await conn.scalar(select(func.max(t.messages.c.attempts)))
    assert attempts == 1  # none was sent twice
    assert (await bench.message(user, other))["state"] == "sent"


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_a_rate_limited_batch_does_not_hold_up_another_sender(
    make_bench: BenchFactory, store_url: str
) -> None:
    bench = await make_bench(sender_rates=f"{BATCH_SENDER}=1")
    user = await bench.user([BATCH_SENDER, OTHER_SENDER])
    await _schedule(bench, user, BATCH_SENDER, at(20), COUNT)
    other = await bench.send(user, **{"from": OTHER_SENDER, "to": "+15557654321",
                                      "text": "mine", "sendAt": at(20.001)})  # fmt: skip
    bench.clock.advance(21)
    await _drain(bench)
    # The batch's sender goes one a second; the other sender's message is already out.
    assert (await bench.message(user, other))["state"] == "sent"
    states = await _states(bench)
    assert states["queued"] >= COUNT - 2 and states["sent"] <= 3
