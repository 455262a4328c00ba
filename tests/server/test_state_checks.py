"""The database itself refuses a state, direction or delivery state it does not know
(CHECK constraints, migration 0008; message states widened by 0010), on both stores;
migrating a database that holds valid rows keeps them and their indexes."""

from __future__ import annotations

import asyncio
import importlib.util
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.conftest import _pg_admin, _pg_url
from trebuchet.server.domain.message import Message
from trebuchet.server.domain.states import DeliveryState, Direction, EventState, MessageState
from trebuchet.server.store import Store
from trebuchet.server.store import tables as t
from trebuchet.server.store.database import MIGRATIONS, async_url
from trebuchet.server.store.message_rows import message_to_row

NOW = 1_700_000_000_000_000
# Message columns added by migrations after 0008, absent from a database at 0007.
LATER_COLUMNS = frozenset({"keyword", "send_at_us", "expires_us", "crashes", "carrier", "claims"})


def _load_migration(name: str) -> Any:
    path = MIGRATIONS / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"migration_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


migration = _load_migration("0008_state_checks")
controls = _load_migration("0010_messaging_controls")


def _message(message_id: str, **changes: Any) -> dict[str, Any]:
    record = Message(
        id=message_id,
        user_id="u-1",
        from_number="+15550001111",
        to_number="+15550002222",
        direction=Direction.OUT,
        text="hi",
        state=MessageState.SENT,
        time_us=NOW,
        segment_count=1,
        delivery_state=DeliveryState.WAITING,
    )
    every_column = {column.name: None for column in t.messages.columns}
    every_column |= {"attempts": 0, "crashes": 0, "claims": 0}
    return {**every_column, **message_to_row(record), **changes}  # as the table reads back


def _at_0007(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in LATER_COLUMNS} for row in rows]


def _event(event_id: str, state: str = EventState.PENDING) -> dict[str, Any]:
    return {
        "id": event_id, "user_id": "u-1", "message_id": f"m-{event_id}", "sequence": 1,
        "payload": "{}", "url": "http://example.com/cb", "fallback_url": None, "method": "POST",
        "timeout_ms": 1000, "state": state, "created_us": NOW, "expires_us": NOW + 1,
        "due_us": NOW, "attempts": 0,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("table", "row"),
    [
        ("messages", _message("m-bad", state="lost")),
        ("messages", _message("m-bad", direction="up")),
        ("messages", _message("m-bad", delivery_state="maybe")),
        ("events", _event("ev-bad", state="forgotten")),
    ],
    ids=["state", "direction", "delivery_state", "event_state"],
)
async def test_the_database_refuses_an_unknown_state(
    store_url: str, table: str, row: dict[str, Any]
) -> None:
    store = Store(store_url)
    await store.open()
    try:
        with pytest.raises(IntegrityError):
            async with store.write() as conn:
                await conn.execute(insert(t.metadata.tables[table]), [row])
        async with store.write() as conn:  # the same row with known values is stored
            good = (
                {**row, "state": EventState.PENDING}
                if table == "events"
                else _message("m-good", delivery_state=None)
            )
            await conn.execute(insert(t.metadata.tables[table]), [good])
    finally:
        await store.close()


def test_the_migration_checks_the_values_of_the_enums() -> None:
    enums = {
        "ck_messages_state": MessageState,
        "ck_messages_direction": Direction,
        "ck_messages_delivery_state": DeliveryState,
        "ck_events_state": EventState,
    }
    latest = {
        name: controls.AFTER if name == controls.NAME else values
        for name, (_, _, values, _) in migration.CHECKS.items()
    }
    assert {name: tuple(enum) for name, enum in enums.items()} == latest
    assert migration.CHECKS[controls.NAME][2] == controls.BEFORE
    declared = {
        constraint.name: str(constraint.sqltext)
        for table in (t.messages, t.events)
        for constraint in table.constraints
        if constraint.name in enums
    }
    assert declared == {
        name: migration.condition(column, latest[name], nullable)
        for name, (_, column, _, nullable) in migration.CHECKS.items()
    }


# -- migrating a database that already holds rows -----------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database with no schema yet, of each backend."""
    if request.param == "sqlite":
        yield str(request.getfixturevalue("sqlite_url"))
        return
    request.getfixturevalue("postgres_template")  # skips when no server answers
    name = f"tb_checks_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_url(name)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _alembic(connection: Connection, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


def _indexes(connection: Connection) -> dict[str, Any]:
    found = {}
    for table in ("messages", "events"):
        for index in inspect(connection).get_indexes(table):
            where = index.get("dialect_options", {})
            found[index["name"]] = (
                tuple(index["column_names"]),
                bool(index["unique"]),
                {key: str(value) for key, value in where.items() if key.endswith("_where")},
            )
    return found


def _before_controls(row: dict[str, Any]) -> dict[str, Any]:
    """The row as a database before migration 0010 takes it."""
    return _at_0007([row])[0]


async def test_the_new_states_are_stored_and_go_back_as_error(empty_url: str) -> None:
    engine = create_async_engine(async_url(empty_url), poolclass=NullPool)
    rows = [
        _message("m-s", state=MessageState.SCHEDULED, due_us=NOW + 1, send_at_us=NOW + 1),
        _message("m-c", state=MessageState.CANCELED, expires_us=NOW + 5),
        _message("m-q", state=MessageState.QUEUED, due_us=NOW),
    ]
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_alembic, "0008")
            with pytest.raises(IntegrityError):
                async with conn.begin_nested():
                    await conn.execute(insert(t.messages), [_before_controls(rows[0])])
            await conn.run_sync(_alembic, "head")
            await conn.execute(insert(t.messages), rows)
            stored = (await conn.execute(select(t.messages).order_by(t.messages.c.id))).all()
            assert [dict(row._mapping) for row in stored] == sorted(rows, key=lambda r: r["id"])
            await conn.run_sync(_alembic, "0008", down=True)
            back = await conn.execute(text("SELECT id, state, due_us FROM messages ORDER BY id"))
            assert [tuple(row) for row in back] == [
                ("m-c", "error", None), ("m-q", "queued", NOW), ("m-s", "error", None),
            ]  # fmt: skip
    finally:
        await engine.dispose()


async def test_migrating_a_database_with_rows_keeps_them(empty_url: str) -> None:
    engine = create_async_engine(async_url(empty_url), poolclass=NullPool)
    old_rows = [
        _message("m-1"),
        _message("m-2", direction=Direction.IN, state=MessageState.RECEIVED, delivery_state=None,
                 media='["https://example.com/a.png"]'),
    ]  # fmt: skip
    for row in old_rows:  # columns of later revisions (0012, 0016)
        del row["crashes"]
        del row["claims"]
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_alembic, "0007")
            await conn.execute(insert(t.messages), _at_0007(old_rows))
            await conn.execute(
                insert(t.events), [_event("ev-1"), _event("ev-2", EventState.DELIVERED)]
            )
            before = await conn.run_sync(_indexes)
            await conn.run_sync(_alembic, "head")
            after = await conn.run_sync(_indexes)
            messages = (await conn.execute(select(t.messages).order_by(t.messages.c.id))).all()
            events = (await conn.execute(text("SELECT id, state FROM events ORDER BY id"))).all()
        assert [dict(row._mapping) for row in messages] == [
            {**row, "crashes": 0, "claims": 0} for row in old_rows
        ]
        assert [tuple(row) for row in events] == [("ev-1", "pending"), ("ev-2", "delivered")]
        assert before.items() <= after.items() and "ix_messages_due" in after
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(insert(t.messages), [_message("m-3", state="lost")])
        async with engine.begin() as conn:  # and back: the constraints go, the rows stay
            await conn.run_sync(_alembic, "0007", down=True)
            await conn.execute(insert(t.messages), _at_0007([_message("m-3", state="lost")]))
            count = await conn.scalar(text("SELECT count(*) FROM messages"))
        assert count == 3
    finally:
        await engine.dispose()
