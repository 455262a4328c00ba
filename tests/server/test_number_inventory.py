"""The number inventory: the operator adds, assigns, unassigns and releases numbers (CLI
and admin API); users order only what they were assigned unless self-service is on; a
released number never comes back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner

from tests.conftest import Credentials, Harness, make_settings
from trebuchet.cli.main import main
from trebuchet.server.api.app import create_app
from trebuchet.server.store import Store
from trebuchet.server.store.database import _alembic_config, migrate
from trebuchet.server.store.inventory import NumberReleased

ADMIN = "admin-secret"
Build = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def build(store_url: str, tmp_path: Path) -> AsyncIterator[Build]:
    """The app over a fresh store of each backend, with settings overrides."""
    async with AsyncExitStack() as stack:
        store = Store(store_url)
        await store.open()
        stack.push_async_callback(store.close)

        async def make(**overrides: Any) -> Harness:
            values = {"media_dir": str(tmp_path / "media"), "admin_token": ADMIN, **overrides}
            settings = make_settings(store_url, **values)
            app = create_app(settings, store)
            await stack.enter_async_context(app.router.lifespan_context(app))
            return Harness(app=app, store=store, settings=settings)

        yield make


def _numbers(user: Credentials) -> str:
    return f"/v1/users/{user.user_id}/phoneNumbers"


async def _send(h: Harness, user: Credentials, sender: str) -> int:
    response = await h.http(user).post(
        h.messages_path(user), json={"from": sender, "to": "+15557654321", "text": "x"}
    )
    return response.status_code


async def test_self_service_is_off_by_default(build: Build) -> None:
    h = await build()
    assert h.settings.numbers_self_service is False
    alice = await h.create_user(["+15550001111"])
    bob = await h.create_user(["+15550002222"])
    await h.store.inventory.add(["+15550003333"])  # available, nobody's
    http = h.http(alice)
    for number in ("+15550003333", "+15550009999", "+15550002222"):
        refused = await http.post(_numbers(alice), json={"number": number})
        assert refused.status_code == 403, refused.text
        body = refused.json()
        assert body["category"] == "forbidden" and body["code"] == "number-not-available"
    assert await _send(h, alice, "+15550003333") == 401
    assert [n["number"] for n in (await h.http(bob).get(_numbers(bob))).json()] == ["+15550002222"]

    # once the operator assigns it, ordering succeeds and sets its properties
    await h.store.inventory.assign("+15550003333", alice.user_id)
    ordered = await http.post(_numbers(alice), json={"number": "+15550003333", "name": "desk"})
    assert ordered.status_code == 201, ordered.text
    got = (await http.get(ordered.headers["location"])).json()
    assert got["name"] == "desk" and got["numberState"] == "enabled"
    assert await _send(h, alice, "+15550003333") == 201


async def test_a_released_number_is_never_added_again(build: Build, store_url: str) -> None:
    h = await build(numbers_self_service=True)
    alice = await h.create_user(["+15550001111"])
    http = h.http(alice)
    claimed = await http.post(_numbers(alice), json={"number": "+15550004444"})
    assert claimed.status_code == 201, claimed.text
    assert (await http.delete(claimed.headers["location"])).status_code == 200
    again = await http.post(_numbers(alice), json={"number": "+15550004444"})
    assert again.status_code == 403 and again.json()["code"] == "number-released"
    assert await _send(h, alice, "+15550004444") == 401
    with pytest.raises(NumberReleased):
        await h.store.inventory.add(["+15550004444"])
    with pytest.raises(NumberReleased):
        await h.store.users.create(["+15550004444"])
    row = await h.store.inventory.get("+15550004444")
    assert row is not None and row["number_state"] == "released" and row["released_us"]


async def test_self_service_claims_free_numbers_only(build: Build) -> None:
    h = await build(numbers_self_service=True)
    alice = await h.create_user(["+15550001111"])
    bob = await h.create_user(["+15550002222"])
    await h.store.inventory.add(["+15550003333"])
    http = h.http(alice)
    for number in ("+15550003333", "+15550005555"):  # available, and unknown
        assert (await http.post(_numbers(alice), json={"number": number})).status_code == 201
        assert await _send(h, alice, number) == 201
    taken = await http.post(_numbers(alice), json={"number": "+15550002222"})
    assert taken.status_code == 409 and taken.json()["code"] == "number-already-allocated"
    assert await _send(h, bob, "+15550002222") == 201


async def test_admin_api_manages_the_inventory(build: Build) -> None:
    h = await build()
    alice = await h.create_user(["+15550001111"])
    admin = h.http(headers={"Authorization": f"Bearer {ADMIN}"})
    path = "/v1/admin/phoneNumbers"

    added = await admin.post(path, json={"number": "+15550003333"})
    assert added.status_code == 201, added.text
    assert added.headers["location"] == f"{path}/+15550003333"
    assert added.json()["numberState"] == "available" and added.json()["userId"] is None
    again = await admin.post(path, json={"number": "+15550003333"})
    assert again.status_code == 409
    bad = await admin.post(path, json={"number": "+1555000"})
    assert bad.status_code == 400

    assigned = await admin.post(f"{path}/+15550003333/assign", json={"userId": alice.user_id})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["userId"] == alice.user_id
    assert assigned.json()["numberState"] == "enabled"
    assert await _send(h, alice, "+15550003333") == 201
    nobody = await admin.post(f"{path}/%2B15550003333/assign", json={"userId": "u-nobody"})
    assert nobody.status_code == 404 and nobody.json()["code"] == "user-not-found"

    unassigned = await admin.post(f"{path}/+15550003333/unassign")
    assert unassigned.json()["numberState"] == "available"
    assert await _send(h, alice, "+15550003333") == 401  # at once, despite the cache

    listed = (await admin.get(path, params={"numberState": "available"})).json()
    assert [n["number"] for n in listed] == ["+15550003333"]
    everything = (await admin.get(path)).json()
    assert [n["number"] for n in everything] == ["+15550001111", "+15550003333"]
    assert (await admin.get(path, params={"numberState": "gone"})).status_code == 400

    assert await _send(h, alice, "+15550001111") == 201
    released = await admin.delete(f"{path}/+15550001111")
    assert released.status_code == 200 and released.json()["numberState"] == "released"
    assert released.json()["releasedTime"].endswith("Z")
    assert await _send(h, alice, "+15550001111") == 401
    readd = await admin.post(path, json={"number": "+15550001111", "userId": alice.user_id})
    assert readd.status_code == 403 and readd.json()["code"] == "number-released"
    assert (await admin.get(f"{path}/+15550009999")).status_code == 404


async def test_admin_numbers_need_the_admin_token(build: Build) -> None:
    off = await build(admin_token=None)
    assert (await off.http().get("/v1/admin/phoneNumbers")).status_code == 404
    on = await build()
    wrong = on.http(headers={"Authorization": "Bearer guess"})
    assert (await wrong.get("/v1/admin/phoneNumbers")).status_code == 401
    assert (
        await wrong.post("/v1/admin/phoneNumbers", json={"number": "+15550003333"})
    ).status_code == 401
    user = await on.create_user(["+15550001111"])
    as_user = await on.http(user).get("/v1/admin/phoneNumbers")
    assert as_user.status_code == 401


def test_cli_manages_the_inventory(store_url: str) -> None:
    runner = CliRunner()

    def run(*args: str) -> str:
        scripted = ["--json"] if args[0] == "numbers" else []
        result = runner.invoke(main, [*args[:2], "--db", store_url, *scripted, *args[2:]])
        assert result.exit_code == 0, (args, result.output)
        return result.output

    def fails(*args: str) -> str:
        result = runner.invoke(main, [*args[:2], "--db", store_url, *args[2:]])
        assert result.exit_code == 1, (args, result.output)
        return result.output

    assert runner.invoke(main, ["migrate", "--db", store_url]).exit_code == 0
    user_id, other_id = (
        run("users", "create", "--json").split('"userId": "')[1].split('"')[0] for _ in range(2)
    )
    assert '"numberState": "available"' in run("numbers", "add", "+15550003333", "+15550004444")
    assert "already in the inventory" in fails("numbers", "add", "+15550005555", "+15550003333")
    assert "+15550005555" not in run("numbers", "list")  # all or none
    assert user_id in run("numbers", "assign", "--user", user_id, "+15550003333")
    assert "already allocated" in fails("numbers", "assign", "--user", other_id, "+15550003333")
    assert '"numberState": "enabled"' in run("numbers", "list", "--user", user_id)
    assert "+15550004444" in run("numbers", "list", "--state", "available")
    assert '"numberState": "available"' in run("numbers", "unassign", "+15550003333")
    assert '"numberState": "released"' in run("numbers", "release", "+15550004444")
    assert "cannot be added again" in fails("numbers", "add", "+15550004444")
    assert "not in the inventory" in fails("numbers", "release", "+15550009999")
    assert "no user" in fails("numbers", "add", "--user", "u-nobody", "+15550006666")
    lines = run("numbers", "list").splitlines()
    assert [line.split('"number": "')[1][:12] for line in lines] == [
        "+15550003333",
        "+15550004444",
    ]


def test_inbound_to_an_unassigned_number_finds_nobody(store_url: str) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["migrate", "--db", store_url]).exit_code == 0
    assert runner.invoke(main, ["numbers", "add", "--db", store_url, "+15550003333"]).exit_code == 0
    result = runner.invoke(
        main, ["inject", "--db", store_url, "--from", "+15557654321", "--to", "+15550003333"]
    )
    assert result.exit_code == 1 and "no enabled number +15550003333" in result.output


def test_migration_keeps_the_numbers_of_an_older_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0003")
        conn.execute(
            sa.text(
                "INSERT INTO phone_numbers (id, user_id, number, number_state, created_us) "
                "VALUES ('n-1', 'u-1', '+15550001111', 'enabled', 1)"
            )
        )
    engine.dispose()
    before, after = asyncio.run(migrate(url))
    assert before == "0003" and after >= "0004"

    async def check() -> None:
        store = Store(url)
        await store.open()
        try:
            assert await store.numbers.owns("u-1", "+15550001111")
            row = await store.inventory.unassign("+15550001111")  # user_id may be NULL now
            assert row["user_id"] is None
            assert not await store.numbers.owns("u-1", "+15550001111")
        finally:
            await store.close()

    asyncio.run(check())
