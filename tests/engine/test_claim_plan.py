"""The fair event claim reads a window of ready events in ``due_us`` order from the
partial index, on both stores, instead of reading and sorting every ready event; and a
window's worth of events for a destination or a user at its cap does not starve the
others."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from tests.engine.test_fairness import _event, _queue
from trebuchet.server.domain.times import now_us
from trebuchet.server.store import Store
from trebuchet.server.store.claims import CLAIM_EVENTS
from trebuchet.server.store.delivery import STRICT_ORDER, DeliveryStore

US = 1_000_000
READY = 3_000  # ready events in the plan tests: many more than one window


def _params(now: int) -> dict[str, Any]:
    return {"owner": "w", "until": now + 30 * US, "now": now, "limit": 100,
            "per_destination": 64, "per_user": 128, "window": 400,
            "hold": STRICT_ORDER}  # fmt: skip


def _postgres_plan(conn: Connection, now: int) -> dict[str, Any]:
    conn.execute(text("ANALYZE events"))
    sql = "EXPLAIN (FORMAT JSON) " + CLAIM_EVENTS["postgresql"]
    found = conn.execute(text(sql), _params(now)).scalar_one()
    plan = json.loads(found) if isinstance(found, str) else found
    return dict(plan[0]["Plan"])


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node.get("Plans", []) for n in _nodes(child))]


def _sqlite_plan(conn: Connection, now: int) -> list[tuple[int, int, str]]:
    conn.execute(text("ANALYZE"))
    rows = conn.execute(text("EXPLAIN QUERY PLAN " + CLAIM_EVENTS["sqlite"]), _params(now))
    return [(row[0], row[1], row[3]) for row in rows]


async def test_the_event_claim_reads_its_window_from_the_due_index(store_url: str) -> None:
    store = Store(store_url)
    await store.open()
    try:
        now = now_us()
        # One user and one receiver with a backlog (the shape a slow receiver leaves).
        events = [_event("u-a", "http://r.example/cb", now - 10 * US + i) for i in range(READY)]
        await _queue(store, events)
        if store.dialect == "postgresql":
            plan = await store.transact(lambda conn: _postgres_plan(conn, now))
            [window] = [n for n in _nodes(plan) if n.get("Subplan Name") == "CTE candidates"]
            inside = _nodes(window)
            assert window["Node Type"] == "Limit"
            scans = [n for n in inside if n.get("Relation Name") == "events"]
            # The window: events in index order, each checked as it is read (the hold
            # rule's probe by message), stopped by the limit; nothing sorted.
            assert [(n["Node Type"], n.get("Index Name")) for n in scans] == [
                ("Index Scan", "ix_events_due"),
                ("Index Scan", "ix_events_message"),
            ]
            assert not [n for n in inside if n["Node Type"] in ("Sort", "Incremental Sort")]
            assert not [n for n in inside if n["Node Type"] in ("Nested Loop", "Hash Join",
                                                                "Merge Join")]  # fmt: skip
        else:
            steps = await store.transact(lambda conn: _sqlite_plan(conn, now))
            [window] = [i for i, _, detail in steps if detail == "CO-ROUTINE candidates"]
            inside = [detail for _, parent, detail in steps if parent == window]
            assert "SEARCH e USING INDEX ix_events_due (due_us<?)" in inside
            assert not [d for d in inside if d.startswith("USE TEMP B-TREE")]
            assert not [d for _, _, d in steps if d.startswith(("SCAN e", "SCAN events"))]
    finally:
        await store.close()


async def test_a_window_full_of_a_capped_destination_does_not_starve_another(
    store_url: str,
) -> None:
    store = Store(store_url)
    await store.open()
    try:
        delivery = DeliveryStore(store)
        now = now_us()

        async def claim(owner: str, limit: int) -> list[tuple[str, str]]:
            rows = await delivery.claim_events(
                owner, limit, now, 30 * US, per_destination=5, per_user=20
            )
            return sorted((row["user_id"], row["destination"]) for row in rows)

        # A backlog for one receiver, oldest first, far longer than one claim's window.
        slow = "http://slow.example/cb"
        await _queue(store, [_event("u-a", slow, now - 10 * US + i) for i in range(500)])
        assert await claim("w1", 5) == [("u-a", "slow.example:80")] * 5  # now at its cap
        # Newer events of another receiver, of the same user and of another user.
        await _queue(store, [_event("u-a", "http://other.example/cb", now - US + i)
                             for i in range(3)])  # fmt: skip
        await _queue(store, [_event("u-b", "http://b.example/cb", now - US + 10 + i)
                             for i in range(2)])  # fmt: skip
        # A window of 4 x 10 events would hold only the slow receiver's: it is skipped.
        assert await claim("w2", 10) == sorted(
            [("u-a", "other.example:80")] * 3 + [("u-b", "b.example:80")] * 2
        )

        # The same for a user at its cap: its backlog (to receivers below their cap)
        # does not hold back another user's newer event.
        crowded = [_event("u-c", f"http://c{i}.example/cb", now - 5 * US + i) for i in range(300)]
        await _queue(store, crowded)
        assert len(await claim("w3", 20)) == 20  # u-c at its cap of 20 (u-a's are full)
        await _queue(store, [_event("u-d", "http://d.example/cb", now - US + 50)])
        assert await claim("w4", 10) == [("u-d", "d.example:80")]
    finally:
        await store.close()


async def test_a_postgres_claim_locks_only_the_events_it_takes(postgres_url: str) -> None:
    """A row lock is a write to the row: the claim locks what it picked, not its window,
    so another worker meanwhile finds the rest of the window free."""
    import asyncpg
    from sqlalchemy.engine import make_url

    store = Store(postgres_url)
    await store.open()
    url = make_url(postgres_url)
    other = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, database=url.database
    )
    try:
        now = now_us()
        events = [_event("u-a", "http://r.example/cb", now - 10 * US + i) for i in range(500)]
        await _queue(store, events)
        params = {**_params(now), "per_destination": 3}  # the window holds 400; 3 fit
        async with store.write() as conn:  # the claim's transaction, left open meanwhile
            taken = len((await conn.execute(text(CLAIM_EVENTS["postgresql"]), params)).all())
            free = await other.fetchval(
                "SELECT count(*) FROM (SELECT id FROM events FOR UPDATE SKIP LOCKED) AS f"
            )
        assert (taken, free) == (3, 500 - 3)
    finally:
        await other.close()
        await store.close()
