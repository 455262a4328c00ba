"""Claiming: no message is sent twice by concurrent workers; leases, heartbeats, reclaiming
a dead worker's messages, fencing, throttling per sender, draining on stop."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from tests.conftest import make_settings
from tests.engine.conftest import BenchFactory
from tests.engine.recording import RecordingCarrier, TaggedCarrier
from trebuchet.server.api.message_input import MessageIn, message_row
from trebuchet.server.domain.times import US, now_us
from trebuchet.server.engine import Engine
from trebuchet.server.store import InsertJob, Store
from trebuchet.server.store import tables as t
from trebuchet.server.store.delivery import Finish

FROM = "+15550001111"


async def _queue_messages(store: Store, user_id: str, count: int, senders: list[str]) -> list[str]:
    now = now_us()
    rows = [
        message_row(MessageIn(from_=senders[i % len(senders)], to="+15557654321", text=f"m{i}"),
                    user_id, now)
        for i in range(count)
    ]  # fmt: skip
    for start in range(0, count, 500):
        await store.messages.insert(InsertJob(rows[start : start + 500]))
    return [row["id"] for row in rows]


async def _states(store: Store) -> dict[str, int]:
    async with store.read() as conn:
        rows = await conn.execute(
            t.messages.select().with_only_columns(t.messages.c.state, t.messages.c.id)
        )
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.state] = counts.get(row.state, 0) + 1
    return counts


async def _no_double_send(url: str, workers: int, count: int) -> None:
    settings = make_settings(url, send_concurrency=16, lease_seconds=60)
    shared = RecordingCarrier()
    stores = [Store(url, pool_size=4) for _ in range(workers)]
    for index, store in enumerate(stores):
        await store.open(run_migrations=index == 0)
    engines: list[Engine] = []
    try:
        created = await stores[0].users.create([FROM, "+15550002222", "+15550003333"])
        ids = await _queue_messages(stores[0], created.user.id, count, created.numbers)
        engines = [
            Engine(store, settings, carrier=TaggedCarrier(shared, f"w{i}"))
            for i, store in enumerate(stores)
        ]
        started = time.monotonic()
        handled = await asyncio.wait_for(
            asyncio.gather(*(engine.run_until_idle() for engine in engines)), timeout=120
        )
        elapsed = time.monotonic() - started
        assert sum(handled) == count
        assert set(shared.sends) == set(ids)
        assert max(shared.sends.values()) == 1, "a message was sent twice"
        assert sum(1 for tags in shared.senders.values() if len(tags) > 1) == 0
        # Every worker took a share: the claims really were concurrent.
        per_worker = {tag: 0 for tag in (f"w{i}" for i in range(workers))}
        for tags in shared.senders.values():
            per_worker[next(iter(tags))] += 1
        assert all(n > 0 for n in per_worker.values()), per_worker
        assert await _states(stores[0]) == {"sent": count}
        print(f"{count} messages, {workers} workers: {elapsed:.2f} s, shares {per_worker}")
    finally:
        for engine in engines:
            await engine.close()
        for store in stores:
            await store.close()


@pytest.mark.postgres
async def test_no_message_is_sent_twice_by_concurrent_workers_on_postgres(
    postgres_url: str,
) -> None:
    await _no_double_send(postgres_url, workers=4, count=3000)


async def test_no_message_is_sent_twice_by_concurrent_workers_on_sqlite(sqlite_url: str) -> None:
    await _no_double_send(sqlite_url, workers=3, count=600)


async def test_a_dead_workers_messages_are_reclaimed_when_its_lease_runs_out(
    make_bench: BenchFactory,
) -> None:
    carrier = RecordingCarrier()
    bench = await make_bench(carrier=carrier, lease_seconds=30)
    user = await bench.user([FROM])
    message_id = await bench.send(user, **{"from": FROM, "to": "+15557654321", "text": "x"})
    # A worker claims the message and dies before finishing it.
    claimed = await bench.delivery.claim_messages("dead", 10, bench.clock.now_us(), 30 * US)
    assert [row["id"] for row in claimed] == [message_id]
    assert (await bench.message(user, message_id))["state"] == "sending"
    await bench.run()
    assert carrier.sends[message_id] == 0  # the lease still holds
    bench.clock.advance(31)
    await bench.run()
    assert carrier.sends[message_id] == 1
    assert (await bench.message(user, message_id))["state"] == "sent"
    # The dead worker's late write is fenced off.
    assert not await bench.delivery.finish_message(Finish(message_id, "dead", {"state": "error"}))
    assert (await bench.message(user, message_id))["state"] == "sent"


async def test_heartbeats_keep_a_slow_send_from_being_taken(make_bench: BenchFactory) -> None:
    carrier = RecordingCarrier()
    bench = await make_bench(carrier=carrier, lease_seconds=30)
    user = await bench.user([FROM])
    message_id = await bench.send(user, **{"from": FROM, "to": "+15557654321", "text": "x"})
    queue = bench.engine.sends
    [row] = await queue.claim("slow-worker", 10)
    for _ in range(4):  # 80 s in all, well past the first lease
        bench.clock.advance(20)
        await queue.heartbeat("slow-worker", [message_id])
        await bench.run()
    assert carrier.sends[message_id] == 0
    await queue.process("slow-worker", row)
    assert carrier.sends[message_id] == 1
    assert (await bench.message(user, message_id))["state"] == "sent"


async def test_a_sender_over_its_rate_waits_instead_of_failing(make_bench: BenchFactory) -> None:
    carrier = RecordingCarrier()
    bench = await make_bench(carrier=carrier, sender_rates=f"{FROM}=1")
    user = await bench.user([FROM, "+15550002222"])
    throttled = [
        await bench.send(user, **{"from": FROM, "to": "+15557654321", "text": str(i)})
        for i in range(4)
    ]
    free = [
        await bench.send(user, **{"from": "+15550002222", "to": "+15557654321", "text": str(i)})
        for i in range(4)
    ]
    await bench.run()
    assert all(carrier.sends[m] == 1 for m in free)
    assert sum(carrier.sends[m] for m in throttled) == 1
    async with bench.store.read() as conn:
        rows = (
            await conn.execute(
                t.messages.select()
                .with_only_columns(t.messages.c.due_us, t.messages.c.state, t.messages.c.attempts)
                .where(t.messages.c.id.in_(throttled), t.messages.c.due_us.is_not(None))
                .order_by(t.messages.c.due_us)
            )
        ).all()
    assert [row.state for row in rows] == ["queued"] * 3
    assert [row.attempts for row in rows] == [0] * 3  # waiting is not an attempt
    gaps = [b.due_us - a.due_us for a, b in itertools.pairwise(rows)]
    assert gaps == [US, US]
    for expected in (2, 3, 4):
        bench.clock.advance(1)
        await bench.run()
        assert sum(carrier.sends[m] for m in throttled) == expected
    assert all(carrier.sends[m] == 1 for m in throttled)


async def test_stop_drains_in_flight_sends(make_bench: BenchFactory) -> None:
    hold = asyncio.Event()
    carrier = RecordingCarrier(hold)
    bench = await make_bench(carrier=carrier, poll_interval=0.01)
    user = await bench.user([FROM])
    message_id = await bench.send(user, **{"from": FROM, "to": "+15557654321", "text": "x"})
    await bench.engine.start()
    await asyncio.wait_for(carrier.started.wait(), 10)
    stopping = asyncio.create_task(bench.engine.stop(drain_seconds=10))
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waiting for the send in flight
    hold.set()
    await asyncio.wait_for(stopping, 10)
    assert (await bench.message(user, message_id))["state"] == "sent"


async def test_the_running_loop_picks_up_new_messages(make_bench: BenchFactory) -> None:
    carrier = RecordingCarrier()
    bench = await make_bench(carrier=carrier, poll_interval=0.01)
    user = await bench.user([FROM])
    await bench.engine.start()
    try:
        message_id = await bench.send(user, **{"from": FROM, "to": "+15557654321", "text": "x"})
        await asyncio.wait_for(carrier.started.wait(), 10)
    finally:
        await bench.engine.stop()
    assert carrier.sends[message_id] == 1
