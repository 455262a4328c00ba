"""Upgrading a store made by an earlier release: the schema at an older revision, rows
written into it with plain SQL as that release wrote them, then the server's own
migration to the newest schema; everything is read back through the real app and the
store, on both databases."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.conftest import _pg_admin, _pg_url, harnessed, make_settings
from trebuchet.server.domain.times import now_us
from trebuchet.server.store.database import MIGRATIONS, async_url, migrate
from trebuchet.server.store.users import hash_secret

USER = "u-old"
TOKEN = "t-old-token"
SECRET = "s-old-secret"
NUMBER = "+15550001111"
THEIRS = "+15557654321"

FIRST_RELEASE = [
    ("INSERT INTO users (id, api_token, secret_hash, callback_secret, created_us)"
     " VALUES (:user, :token, :hash, 'cb-secret', :now)"),
    ("INSERT INTO phone_numbers (id, user_id, number, name, number_state, created_us)"
     " VALUES ('n-1', :user, :number, 'front desk', 'enabled', :now)"),
    ("INSERT INTO applications (id, user_id, name, incoming_message_url, created_us)"
     " VALUES ('a-1', :user, 'desk', 'https://example.com/in', :now)"),
    ("INSERT INTO messages (id, user_id, from_number, to_number, direction, text, media,"
     " state, time_us, segment_count, callback_url, tag, receipt_requested,"
     " delivery_state, delivery_code, delivery_description, skip_mms_carrier_validation)"
     " VALUES ('m-out', :user, :number, :theirs, 'out', 'hello from before', NULL,"
     " 'sent', :now, 1, 'https://example.com/cb', 'kept', 'all', 'delivered', 0,"
     " 'Message delivered to Carrier', :no)"),
    ("INSERT INTO messages (id, user_id, from_number, to_number, direction, text, media,"
     " state, time_us, segment_count, skip_mms_carrier_validation)"
     " VALUES ('m-in', :user, :theirs, :number, 'in', 'a picture', :media, 'received',"
     " :later, 1, :no)"),
    ("INSERT INTO idempotency_keys (user_id, key, created_us, status, location)"
     " VALUES (:user, 'k-1', :now, 201, '/v1/users/u-old/messages/m-out')"),
    ("INSERT INTO user_errors (id, user_id, time_us, category, code, message, details)"
     " VALUES ('ue-1', :user, :now, 'message', 'message-undeliverable', 'refused', :details)"),
]  # fmt: skip
DELIVERY_RELEASE = [
    ("INSERT INTO events (id, user_id, message_id, sequence, payload, url, method,"
     " timeout_ms, state, created_us, expires_us, attempts, finished_us, destination)"
     " VALUES ('ev-1', :user, 'm-out', 1, :payload, 'https://example.com/cb', 'POST',"
     " 10000, 'delivered', :now, :expires, 1, :now, 'example.com:443')"),
    ("INSERT INTO event_attempts (id, event_id, round, target, url, time_us, duration_us,"
     " status) VALUES ('at-1', 'ev-1', 1, 'primary', 'https://example.com/cb', :now, 20000,"
     " 200)"),
    ("INSERT INTO carrier_refs (carrier, ref, message_id, part, parts, code, created_us)"
     " VALUES ('smsc', 'net-1', 'm-out', 1, 1, NULL, :now)"),
]  # fmt: skip
# The releases a store may come from: the first schema, and the one before this one.
RELEASES = {"0001": FIRST_RELEASE, "0008": FIRST_RELEASE + DELIVERY_RELEASE}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database with no schema yet, of each backend."""
    if request.param == "sqlite":
        yield str(request.getfixturevalue("sqlite_url"))
        return
    request.getfixturevalue("postgres_template")  # skips when no server answers
    name = f"tb_upgrade_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_url(name)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _at_revision(connection: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def old_store(url: str, revision: str, now: int) -> None:
    """The schema at ``revision`` and the rows its release wrote, in plain SQL."""
    params = {
        "user": USER, "token": TOKEN, "hash": hash_secret(SECRET), "number": NUMBER,
        "theirs": THEIRS, "now": now, "later": now + 1, "no": False,
        "media": json.dumps([f"https://sms.example.com/v1/users/{USER}/media/a.jpg"]),
        "payload": json.dumps({"eventType": "sms", "direction": "out", "messageId": "m-out",
                               "from": NUMBER, "to": THEIRS, "text": "hello from before",
                               "state": "sent", "deliveryState": "delivered"}),
        "expires": now + 3600 * 1_000_000, "details": json.dumps({"messageId": "m-out"}),
    }  # fmt: skip
    engine = create_async_engine(async_url(url), poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_at_revision, revision)
            for statement in RELEASES[revision]:
                await conn.execute(text(statement), params)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("revision", list(RELEASES))
async def test_an_older_store_upgrades_with_its_data(
    empty_url: str, revision: str, tmp_path: Path
) -> None:
    now = now_us()
    await old_store(empty_url, revision, now)

    before, after = await migrate(empty_url)  # what the server does when it starts

    assert before == revision and after is not None and after != revision
    settings = replace(make_settings(empty_url), media_dir=str(tmp_path / "media"))
    async with harnessed(settings) as harness:
        store = harness.store
        user = await store.users.by_token(TOKEN)
        assert user is not None and user.id == USER and user.callback_secret == "cb-secret"
        http = harness.http()
        http.auth = (TOKEN, SECRET)
        base = f"/v1/users/{USER}"

        sent = (await http.get(f"{base}/messages/m-out")).json()
        assert sent["text"] == "hello from before" and sent["tag"] == "kept"
        assert sent["deliveryState"] == "delivered" and sent["deliveryCode"] == 0
        listed = (await http.get(f"{base}/messages")).json()
        assert [m["id"] for m in listed] == ["m-out", "m-in"]
        assert listed[1]["media"] == [f"https://sms.example.com/v1/users/{USER}/media/a.jpg"]
        numbers = (await http.get(f"{base}/phoneNumbers")).json()
        assert [(n["number"], n["name"]) for n in numbers] == [(NUMBER, "front desk")]
        apps = (await http.get(f"{base}/applications")).json()
        assert [a["incomingMessageUrl"] for a in apps] == ["https://example.com/in"]
        errors = (await http.get(f"{base}/errors")).json()
        assert [e["code"] for e in errors] == ["message-undeliverable"]
        assert errors[0]["details"][0]["value"] == "m-out"
        events = (await http.get(f"{base}/messages/m-out/events")).json()
        if revision == "0001":
            assert events == []
        else:
            [event] = events
            assert event["state"] == "delivered" and len(event["attempts"]) == 1
            assert event["payload"]["text"] == "hello from before"
            part = await store.carrier_refs.find("smsc", "net-1")
            assert part is not None and part.message_id == "m-out"
        # The old store takes new messages as well.
        new = await http.post(f"{base}/messages", json={"from": NUMBER, "to": THEIRS, "text": "x"})
        assert new.status_code == 201, new.text


def _downgrade(connection: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


def _index_names(connection: Connection) -> set[str]:
    tables = ("messages", "events", "carrier_refs", "user_errors")
    return {
        index["name"] or "" for table in tables for index in inspect(connection).get_indexes(table)
    }


async def test_the_retention_indexes_come_and_go(empty_url: str) -> None:
    await old_store(empty_url, "0008", now_us())
    await migrate(empty_url)
    retention = {"ix_messages_time", "ix_messages_text_kept", "ix_events_delivered",
                 "ix_carrier_refs_receipted", "ix_user_errors_time"}  # fmt: skip
    engine = create_async_engine(async_url(empty_url), poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            assert retention <= await conn.run_sync(_index_names)
            await conn.run_sync(_downgrade, "0008")
            assert not retention & await conn.run_sync(_index_names)
            count = (await conn.execute(text("SELECT count(*) FROM messages"))).scalar_one()
        assert count == 2
    finally:
        await engine.dispose()
