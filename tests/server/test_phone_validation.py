"""Phone numbers are E.164 by the numbering plans ("possible number" rules) everywhere a
number comes in: sending (one message and per element of a bulk), the admin inbound
endpoint and the CLI.  Test ranges such as +1555... pass; short codes only as ``to``
(and as the sender of an inbound message)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import Credentials, Harness
from trebuchet.cli.main import main
from trebuchet.server.store.database import migrate

NOT_POSSIBLE = ["+12", "+1234", "+999999", "+1555000", "+155500011112"]


@pytest.fixture
async def user(harness: Harness) -> Credentials:
    return await harness.create_user(["+15550001111"])


@pytest.mark.parametrize("to", NOT_POSSIBLE)
async def test_a_recipient_the_numbering_plan_does_not_allow_is_400(
    harness: Harness, user: Credentials, to: str
) -> None:
    http = harness.http(user)
    path = harness.messages_path(user)
    one = await http.post(path, json={"from": "+15550001111", "to": to, "text": "x"})
    assert one.status_code == 400, one.text
    assert one.json()["code"] == "validation-error"
    bulk = await http.post(
        path,
        json=[
            {"from": "+15550001111", "to": to, "text": "x"},
            {"from": "+15550001111", "to": "+15550002222", "text": "y"},
        ],
    )
    assert bulk.status_code == 202, bulk.text
    first, second = bulk.json()
    assert first["result"] == "error" and first["error"]["code"] == "validation-error"
    assert second["result"] == "accepted"


async def test_test_numbers_and_short_codes_are_accepted(
    harness: Harness, user: Credentials
) -> None:
    http = harness.http(user)
    path = harness.messages_path(user)
    for to in ("+15550100002", "+442071234567", "12345", "123456"):
        sent = await http.post(path, json={"from": "+15550001111", "to": to, "text": "x"})
        assert sent.status_code == 201, (to, sent.text)
    short_sender = await http.post(path, json={"from": "12345", "to": "+15550100002", "text": "x"})
    assert short_sender.status_code == 400


async def test_ordering_a_number_that_is_not_possible_is_400(
    harness: Harness, user: Credentials
) -> None:
    response = await harness.http(user).post(
        f"/v1/users/{user.user_id}/phoneNumbers", json={"number": "+1555000"}
    )
    assert response.status_code == 400 and response.json()["code"] == "validation-error"


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    asyncio.run(migrate(url))
    return url


@pytest.mark.parametrize("number", ["+1555000", "+12", "abc", "5550001111"])
def test_numbers_add_refuses_what_is_not_e164(db: str, number: str) -> None:
    result = CliRunner().invoke(main, ["numbers", "add", "--db", db, number])
    assert result.exit_code == 2, result.output
    assert "E.164" in result.output
    listed = CliRunner().invoke(main, ["numbers", "list", "--db", db])
    assert listed.output == ""


def test_inject_checks_both_numbers(db: str) -> None:
    runner = CliRunner()
    created = runner.invoke(main, ["users", "create", "--db", db, "--number", "+15550001111"])
    assert created.exit_code == 0, created.output
    for flags in (
        ["--from", "abc", "--to", "+15550001111"],
        ["--from", "+15550002222", "--to", "+1234"],
    ):
        result = runner.invoke(main, ["inject", "--db", db, *flags, "--text", "hi"])
        assert result.exit_code == 2, result.output
        assert "E.164" in result.output
    for sender in ("+15550002222", "12345"):
        result = runner.invoke(
            main, ["inject", "--db", db, "--from", sender, "--to", "+15550001111", "--text", "hi"]
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["messageId"].startswith("m-")
