"""``trebuchet events list | redeliver | cancel`` in process (click's CliRunner), on both
stores: one message, one event or a time range; JSON for scripts, tables otherwise."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import insert, select

from trebuchet.cli.main import main
from trebuchet.server.domain.times import parse_filter_time
from trebuchet.server.store import Store
from trebuchet.server.store import tables as t

DAY = 86_400_000_000
JAN_1 = parse_filter_time("2026-01-01T00:00:00Z")


def _event(event_id: str, message_id: str, sequence: int, day: int, state: str,
           user_id: str = "u-a") -> dict[str, Any]:  # fmt: skip
    created = JAN_1 + day * DAY
    pending = state == "pending"
    return {
        "id": event_id, "user_id": user_id, "message_id": message_id, "sequence": sequence,
        "payload": '{"eventType":"sms"}', "url": "http://127.0.0.1:9/cb", "fallback_url": None,
        "method": "POST", "timeout_ms": 1000, "state": state, "created_us": created,
        "expires_us": created + DAY, "due_us": created if pending else None,
        "finished_us": None if pending else created + 1, "attempts": 1,
        "destination": "127.0.0.1:9",
    }  # fmt: skip


EVENTS = [
    _event("ev-1", "m-1", 1, 0, "delivered"),
    _event("ev-2", "m-1", 2, 0, "pending"),
    _event("ev-3", "m-2", 1, 1, "pending"),
    _event("ev-4", "m-3", 1, 2, "failed", user_id="u-b"),
    _event("ev-5", "m-4", 1, 3, "pending", user_id="u-b"),
]


def _seed(url: str) -> None:
    async def seed() -> None:
        store = Store(url)
        await store.open()
        try:
            async with store.write() as conn:
                await conn.execute(insert(t.events), EVENTS)
        finally:
            await store.close()

    asyncio.run(seed())


def _states(url: str) -> dict[str, tuple[str, str | None]]:
    async def read() -> dict[str, tuple[str, str | None]]:
        store = Store(url)
        await store.open()
        try:
            async with store.read() as conn:
                c = t.events.c
                rows = (await conn.execute(select(c.id, c.state, c.failure_code))).all()
        finally:
            await store.close()
        return {row[0]: (row[1], row[2]) for row in rows}

    return asyncio.run(read())


def _cli(url: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["events", args[0], "--db", url, *args[1:]])


def _ids(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [json.loads(line)["id"] for line in result.output.splitlines()]


def test_list_by_message_event_range_user_and_state(store_url: str) -> None:
    assert CliRunner().invoke(main, ["migrate", "--db", store_url]).exit_code == 0
    _seed(store_url)
    assert _ids(_cli(store_url, "list", "--json")) == ["ev-1", "ev-2", "ev-3", "ev-4", "ev-5"]
    assert _ids(_cli(store_url, "list", "--json", "--message", "m-1")) == ["ev-1", "ev-2"]
    assert _ids(_cli(store_url, "list", "--json", "--event", "ev-3")) == ["ev-3"]
    in_range = _cli(store_url, "list", "--json", "--since", "2026-01-02", "--until", "2026-01-04")
    assert _ids(in_range) == ["ev-3", "ev-4"]
    assert _ids(_cli(store_url, "list", "--json", "--user", "u-b")) == ["ev-4", "ev-5"]
    assert _ids(_cli(store_url, "list", "--json", "--state", "pending", "--limit", "2")) == [
        "ev-2", "ev-3",
    ]  # fmt: skip
    first = json.loads(_cli(store_url, "list", "--json").output.splitlines()[0])
    assert first == {
        "id": "ev-1", "userId": "u-a", "messageId": "m-1", "sequence": 1, "state": "delivered",
        "rounds": 1, "crashes": 0, "createdTime": "2026-01-01T00:00:00.000Z",
        "destination": "127.0.0.1:9", "finishedTime": "2026-01-01T00:00:00.000Z",
    }  # fmt: skip


def test_the_table_is_readable(store_url: str) -> None:
    assert CliRunner().invoke(main, ["migrate", "--db", store_url]).exit_code == 0
    _seed(store_url)
    result = _cli(store_url, "list", "--message", "m-1")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "2 event(s)"
    header = next(line for line in lines if "MESSAGE" in line)
    for column in ("ID", "USER", "SEQ", "STATE", "ROUNDS", "CREATED", "NEXT", "ERROR"):
        assert column in header
    rows = [line for line in lines if "ev-" in line]
    assert len(rows) == 2
    assert "delivered" in rows[0] and "pending" in rows[1]
    assert "2026-01-01T00:00:00.000Z" in rows[1]  # whole, not cut to fit


def test_cancel_one_message_then_redeliver_a_time_range(store_url: str) -> None:
    assert CliRunner().invoke(main, ["migrate", "--db", store_url]).exit_code == 0
    _seed(store_url)
    cancelled = _cli(store_url, "cancel", "--message", "m-1", "--json")
    assert cancelled.exit_code == 0, cancelled.output
    body = json.loads(cancelled.output)
    assert body["cancelled"] == 1
    assert [(e["id"], e["errorCode"]) for e in body["events"]] == [("ev-2", "callback-cancelled")]
    states = _states(store_url)
    assert states["ev-1"] == ("delivered", None)  # a finished event is left alone
    assert states["ev-2"] == ("failed", "callback-cancelled")
    redelivered = _cli(store_url, "redeliver", "--since", "2026-01-01", "--until", "2026-01-03",
                       "--json")  # fmt: skip
    body = json.loads(redelivered.output)
    assert [e["id"] for e in body["events"]] == ["ev-1", "ev-2", "ev-3"]
    assert all(e["state"] == "pending" and "nextAttemptTime" in e for e in body["events"])
    assert all("errorCode" not in e for e in body["events"])
    states = _states(store_url)
    assert states["ev-4"] == ("failed", None) and states["ev-5"] == ("pending", None)
    table = _cli(store_url, "cancel", "--user", "u-b", "--since", "2026-01-01")
    assert table.exit_code == 0 and table.output.splitlines()[0] == "1 event(s) cancelled"
    assert _states(store_url)["ev-4"] == ("failed", None)  # only pending events are cancelled


def test_redeliver_and_cancel_must_name_their_events(store_url: str) -> None:
    assert CliRunner().invoke(main, ["migrate", "--db", store_url]).exit_code == 0
    _seed(store_url)
    for verb in ("redeliver", "cancel"):
        result = _cli(store_url, verb, "--user", "u-a")
        assert result.exit_code == 2
        assert "name the events: --message, --event, or --since/--until" in result.output
    bad = _cli(store_url, "list", "--since", "yesterday")
    assert bad.exit_code == 2 and "'yesterday' is not a date or time" in bad.output
    backwards = _cli(store_url, "list", "--since", "2026-01-03", "--until", "2026-01-02")
    assert backwards.exit_code == 2 and "--since must be before --until" in backwards.output
    assert _states(store_url)["ev-2"] == ("pending", None)
