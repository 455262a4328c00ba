"""Fair callback delivery: one user's slow receiver never holds up another user's
callbacks, and claims keep callbacks in flight within the caps per destination and per
user, for every worker together."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from tests.conftest import serve_http
from tests.engine.conftest import Bench, BenchFactory, Receiver
from trebuchet.server.callbacks.outbox import destination_key
from trebuchet.server.domain.ids import new_id
from trebuchet.server.domain.times import now_us
from trebuchet.server.store import Store
from trebuchet.server.store.database import MIGRATIONS
from trebuchet.server.store.delivery import DeliveryStore, Finish
from trebuchet.server.store.events import add_events

A_NUMBER, B_NUMBER, TO = "+15550001111", "+15550002222", "+15557654321"
A_CALLBACKS = 600  # more than callback_concurrency (256): every slot could go to A
SLOW_SECONDS = 9.0
US = 1_000_000


@pytest.fixture
async def fast_receiver() -> AsyncIterator[Receiver]:
    """A second receiver, on its own port: another destination."""
    rec = Receiver()
    async with serve_http(rec.handle) as base_url:
        rec.base_url = base_url
        yield rec


async def _send_many(bench: Bench, user: Any, count: int, url: str) -> None:
    http = bench.harness.http(user)
    path = bench.harness.messages_path(user)
    limit = bench.harness.settings.bulk_limit
    for start in range(0, count, limit):
        batch = [
            {"from": A_NUMBER, "to": TO, "text": f"m{i}", "callbackUrl": url}
            for i in range(start, min(count, start + limit))
        ]
        response = await http.post(path, json=batch)
        assert response.status_code == 202, response.text


async def _until(check: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.01)


async def test_a_slow_receiver_of_one_user_does_not_delay_another_users_callback(
    make_bench: BenchFactory, receiver: Receiver, fast_receiver: Receiver
) -> None:
    bench = await make_bench()
    release = asyncio.Event()

    async def slow(request: web.Request, count: int) -> web.StreamResponse:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), SLOW_SECONDS)
        return web.Response(status=200)

    a = await bench.user([A_NUMBER])
    b = await bench.user([B_NUMBER])
    await _send_many(bench, a, A_CALLBACKS, receiver.on("/a", slow))
    assert await bench.engine.send_worker.run_until_idle() == A_CALLBACKS
    worker = asyncio.create_task(bench.engine.event_worker.run())
    try:
        per_destination = bench.engine.settings.callback_concurrency_per_destination
        await _until(lambda: len(receiver.at("/a")) >= per_destination, 10)
        await asyncio.sleep(0.3)  # let the worker claim all it will
        in_flight = len(receiver.at("/a"))
        started = time.monotonic()
        await bench.send(b, **{"from": B_NUMBER, "to": TO, "text": "hi",
                               "callbackUrl": fast_receiver.url("/b")})  # fmt: skip
        assert await bench.engine.send_worker.run_until_idle() == 1  # B's event is due now
        await _until(lambda: fast_receiver.at("/b"), 5)
        [hit] = fast_receiver.at("/b")
        assert hit.at - started < 1.0
        assert in_flight == per_destination  # A holds no more than its destination's cap
    finally:
        release.set()
        bench.engine.event_worker.stop()
        await asyncio.wait_for(worker, 15)


# -- the claim itself ------------------------------------------------------------------


def _event(user_id: str, url: str, due: int) -> dict[str, Any]:
    return {
        "user_id": user_id, "message_id": new_id("m"), "payload": json.dumps({}), "url": url,
        "fallback_url": None, "destination": destination_key(url), "method": "POST",
        "timeout_ms": 1000, "created_us": due, "expires_us": due + 3600 * US, "due_us": due,
    }  # fmt: skip


async def _queue(store: Store, events: list[dict[str, Any]]) -> None:
    await store.transact(lambda conn: add_events(conn, events))


async def test_claims_keep_each_destination_and_user_within_its_cap(store_url: str) -> None:
    store = Store(store_url)
    await store.open()
    try:
        delivery = DeliveryStore(store)
        now = now_us()
        # Oldest first: A's backlog to one receiver, then A elsewhere, then B.
        events = [_event("u-a", "http://slow.example:8080/cb", now - 1000 + i) for i in range(50)]
        events += [_event("u-a", f"https://other{i}.example/cb", now - 500 + i) for i in range(8)]
        events += [_event("u-b", "http://SLOW.example:8080/other", now - 100)]
        events += [_event("u-b", "https://b.example/cb", now - 50)]
        await _queue(store, events)

        leased: dict[str, list[Any]] = {}

        async def claim(owner: str) -> list[tuple[str, str]]:
            rows = await delivery.claim_events(
                owner, 100, now, 30 * US, per_destination=5, per_user=7
            )
            leased[owner] = rows
            return sorted((row["user_id"], row["destination"]) for row in rows)

        first = await claim("w1")
        assert first == sorted(
            [("u-a", "slow.example:8080")] * 5
            + [("u-a", "other0.example:443"), ("u-a", "other1.example:443")]
            + [("u-b", "b.example:443")]
        )
        # Another worker sees the live leases: A and the slow receiver are full.
        assert await claim("w2") == []
        # Finished events free their places: A may have five more at the slow receiver.
        for event_id in [row["id"] for row in leased["w1"] if row["url"].startswith("http://slow")]:
            done = {"state": "delivered", "due_us": None, "finished_us": now}
            assert await delivery.finish_event(Finish(event_id, "w1", done))
        assert await claim("w3") == [("u-a", "slow.example:8080")] * 5
        # So do leases that ran out (their worker died): the same caps hold again.
        later = now + 31 * US
        rows = await delivery.claim_events("w4", 100, later, 30 * US, per_destination=5,
                                           per_user=7)  # fmt: skip
        assert len(rows) == 8
    finally:
        await store.close()


async def test_concurrent_claims_never_take_an_event_twice(store_url: str) -> None:
    stores = [Store(store_url, pool_size=4) for _ in range(3)]
    for index, store in enumerate(stores):
        await store.open(run_migrations=index == 0)
    try:
        now = now_us()
        events = [
            _event(f"u-{i % 5}", f"http://r{i % 7}.example/cb", now - 10_000 + i)
            for i in range(300)
        ]
        await _queue(stores[0], events)

        async def drain(index: int) -> list[str]:
            delivery = DeliveryStore(stores[index])
            taken: list[str] = []
            for _ in range(200):
                rows = await delivery.claim_events(
                    f"w{index}", 20, now, 3600 * US, per_destination=1000, per_user=1000
                )
                if not rows:
                    break
                taken += [row["id"] for row in rows]
            return taken

        claimed = await asyncio.wait_for(asyncio.gather(*(drain(i) for i in range(3))), 60)
        every = [event_id for share in claimed for event_id in share]
        assert len(every) == len(set(every)) == len(events)
    finally:
        for store in stores:
            await store.close()


def test_the_migration_gives_pending_events_their_destination(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.upgrade(config, "0003")
            old = {
                key: value for key, value in _event("u-a", "", 1).items() if key != "destination"
            }
            rows = [
                {**old, "id": "ev-1", "message_id": "m-1", "url": "https://Hook.example/x"},
                {**old, "id": "ev-2", "message_id": "m-2", "url": None,
                 "fallback_url": "http://u:p@[::1]:8080/cb"},
                {**old, "id": "ev-3", "message_id": "m-3", "url": "http://done.example/",
                 "due_us": None},
            ]  # fmt: skip
            for row in rows:
                conn.execute(
                    text(
                        "INSERT INTO events (id, user_id, message_id, sequence, payload, url,"
                        " fallback_url, method, timeout_ms, state, created_us, expires_us,"
                        " due_us, attempts) VALUES (:id, :user_id, :message_id, 1, :payload,"
                        " :url, :fallback_url, :method, :timeout_ms, 'pending', :created_us,"
                        " :expires_us, :due_us, 0)"
                    ),
                    row,
                )
            command.upgrade(config, "head")
            found = dict(conn.execute(text("SELECT id, destination FROM events")).all())
    finally:
        engine.dispose()
    assert found == {"ev-1": "hook.example:443", "ev-2": "[::1]:8080", "ev-3": None}
