"""``trebuchet users ...``, ``numbers move`` and ``applications list`` in process, on both
stores; the API before and after, over the same store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, insert, select

from tests.conftest import Credentials, harnessed, make_settings
from trebuchet.cli.main import main
from trebuchet.server.store import tables as t

SEND = {"from": "+15550001111", "to": "+15557654321", "text": "hello"}


class Cli:
    def __init__(self, db: str, media: Path):
        self.db, self.media = db, media
        self.runner = CliRunner()
        self.env = {"TREBUCHET_DB": db, "TREBUCHET_MEDIA_DIR": str(media)}

    def run(self, *args: str, code: int = 0, answer: str | None = None) -> str:
        result = self.runner.invoke(main, list(args), env=self.env, input=answer)
        assert result.exit_code == code, (args, result.output)
        return result.output

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json"))

    def user(self, *numbers: str) -> Credentials:
        flags = [arg for number in numbers for arg in ("--number", number)]
        data = self.json("users", "create", *flags)
        return Credentials(data["userId"], data["apiToken"], data["apiSecret"], data["numbers"])


@pytest.fixture
def cli(store_url: str, tmp_path: Path) -> Cli:
    cli = Cli(store_url, tmp_path / "media")
    cli.run("migrate")
    return cli


def api(cli: Cli, action: Any) -> Any:
    async def run() -> Any:
        settings = make_settings(cli.db, media_dir=str(cli.media))
        async with harnessed(settings) as harness:
            return await action(harness)

    return asyncio.run(run())


def status_of_list(cli: Cli, creds: Credentials) -> int:
    async def call(harness: Any) -> int:
        response = await harness.http(creds).get(harness.messages_path(creds))
        return int(response.status_code)

    return int(api(cli, call))


def test_list_and_show_print_tables_or_json(cli: Cli) -> None:
    alice, bob = cli.user("+15550001111"), cli.user()
    listed = [json.loads(line) for line in cli.run("users", "list", "--json").splitlines()]
    assert sorted(row["userId"] for row in listed) == sorted([alice.user_id, bob.user_id])
    assert all(row["disabled"] is None for row in listed)
    table = cli.run("users", "list").splitlines()
    assert table[0].split() == ["userId", "apiToken", "created", "disabled"]
    assert len(table) == 3 and alice.user_id in "".join(table)
    shown = cli.json("users", "show", alice.user_id)
    assert shown["numbers"] == ["+15550001111"] and shown["messages"] == 0
    assert "+15550001111" in cli.run("users", "show", alice.user_id)
    assert "no user u-nobody" in cli.run("users", "show", "u-nobody", code=1)


def test_disable_refuses_api_calls_until_enabled(cli: Cli) -> None:
    alice, bob = cli.user(), cli.user()
    assert status_of_list(cli, alice) == 200
    disabled = cli.json("users", "disable", alice.user_id)
    assert disabled["disabled"] is not None
    assert status_of_list(cli, alice) == 401
    assert status_of_list(cli, bob) == 200
    assert cli.json("users", "show", alice.user_id)["disabled"] == disabled["disabled"]
    assert cli.json("users", "enable", alice.user_id)["disabled"] is None
    assert status_of_list(cli, alice) == 200
    assert "no user" in cli.run("users", "disable", "u-nobody", code=1)


def test_rotate_secret_prints_a_new_secret_once_and_the_old_stops(cli: Cli) -> None:
    alice = cli.user()
    rotated = cli.json("users", "rotate-secret", alice.user_id)
    assert rotated["apiSecret"] != alice.api_secret
    assert status_of_list(cli, alice) == 401
    fresh = Credentials(alice.user_id, alice.api_token, rotated["apiSecret"], [])
    assert status_of_list(cli, fresh) == 200
    assert rotated["apiSecret"] not in cli.run("users", "show", alice.user_id)


async def _fill(harness: Any, creds: Credentials, number: str) -> str:
    """A message with an event, an attempt and a carrier ref, an application, media."""
    http = harness.http(creds)
    sent = await http.post(harness.messages_path(creds), json={**SEND, "from": number})
    assert sent.status_code == 201, sent.text
    message_id = sent.headers["location"].rsplit("/", 1)[1]
    base = f"/v1/users/{creds.user_id}"
    app = await http.post(
        f"{base}/applications", json={"name": "a", "incomingMessageUrl": "https://example.com/in"}
    )
    assert app.status_code == 201, app.text
    media = await http.put(
        f"{base}/media/photo.png", content=b"png", headers={"Content-Type": "image/png"}
    )
    assert media.status_code == 200, media.text
    async with harness.store.write() as conn:
        await conn.execute(insert(t.events).values(
            id=f"e-{message_id}", user_id=creds.user_id, message_id=message_id, sequence=1,
            payload="{}", method="POST", timeout_ms=1000, state="delivered", created_us=1,
            expires_us=2,
        ))  # fmt: skip
        await conn.execute(insert(t.event_attempts).values(
            id=f"x-{message_id}", event_id=f"e-{message_id}", round=1, target="primary",
            url="https://example.com", time_us=1, duration_us=1,
        ))  # fmt: skip
        await conn.execute(insert(t.carrier_refs).values(
            carrier="sandbox", ref=f"r-{message_id}", message_id=message_id, part=1, parts=1,
            created_us=1,
        ))  # fmt: skip
    return message_id


async def _counts(harness: Any, user_id: str, message_id: str) -> dict[str, int]:
    queries = {
        "messages": select(func.count()).where(t.messages.c.user_id == user_id),
        "events": select(func.count()).where(t.events.c.user_id == user_id),
        "attempts": select(func.count()).where(t.event_attempts.c.event_id == f"e-{message_id}"),
        "refs": select(func.count()).where(t.carrier_refs.c.message_id == message_id),
        "applications": select(func.count()).where(t.applications.c.user_id == user_id),
        "users": select(func.count()).where(t.users.c.id == user_id),
    }
    async with harness.store.read() as conn:
        return {name: int(await conn.scalar(query) or 0) for name, query in queries.items()}


def test_delete_removes_everything_the_user_owns_and_nothing_else(cli: Cli) -> None:
    alice, bob = cli.user("+15550001111"), cli.user("+15550002222")

    async def fill(harness: Any) -> tuple[str, str]:
        return await _fill(harness, alice, "+15550001111"), await _fill(
            harness, bob, "+15550002222"
        )

    mine, theirs = api(cli, fill)
    assert "Aborted" in cli.run("users", "delete", alice.user_id, answer="n\n", code=1)
    removed = cli.json("users", "delete", "--yes", alice.user_id)
    assert removed == {
        "userId": alice.user_id, "messages": 1, "events": 1, "applications": 1, "media": 1,
        "numbersReturned": ["+15550001111"],
    }  # fmt: skip

    async def after(harness: Any) -> tuple[dict[str, int], dict[str, int]]:
        return await _counts(harness, alice.user_id, mine), await _counts(
            harness, bob.user_id, theirs
        )

    gone, kept = api(cli, after)
    assert set(gone.values()) == {0}
    assert set(kept.values()) == {1}
    assert not any((cli.media / "users" / alice.user_id).glob("*"))
    assert any((cli.media / "users" / bob.user_id).glob("*"))
    numbers = cli.run("numbers", "list", "--json", "--state", "available")
    assert "+15550001111" in numbers
    assert "no user" in cli.run("users", "delete", "--yes", alice.user_id, code=1)


def test_numbers_move_and_json_or_tables(cli: Cli) -> None:
    alice, bob = cli.user("+15550001111"), cli.user()
    moved = cli.json("numbers", "move", "--to", bob.user_id, "+15550001111")
    assert moved["userId"] == bob.user_id and moved["numberState"] == "enabled"
    assert cli.json("users", "show", alice.user_id)["numbers"] == []
    assert cli.json("users", "show", bob.user_id)["numbers"] == ["+15550001111"]
    table = cli.run("numbers", "list").splitlines()
    assert table[0].split() == ["id", "number", "userId", "numberState"]
    assert bob.user_id in table[1]
    cli.run("numbers", "add", "+15550003333")
    assert "not held by a user" in cli.run(
        "numbers", "move", "--to", bob.user_id, "+15550003333", code=1
    )
    assert "no user" in cli.run("numbers", "move", "--to", "u-nobody", "+15550001111", code=1)


def test_applications_list(cli: Cli) -> None:
    alice, bob = cli.user(), cli.user()

    async def add(harness: Any) -> None:
        for creds, name in ((alice, "first"), (bob, "second")):
            response = await harness.http(creds).post(
                f"/v1/users/{creds.user_id}/applications",
                json={"name": name, "incomingMessageUrl": "https://example.com/in"},
            )
            assert response.status_code == 201, response.text

    api(cli, add)
    every = [json.loads(line) for line in cli.run("applications", "list", "--json").splitlines()]
    assert sorted(row["name"] for row in every) == ["first", "second"]
    only = cli.run("applications", "list", "--user", bob.user_id)
    assert "second" in only and "first" not in only and only.split()[0] == "id"
