"""Exports: the streamed download and ``trebuchet export`` hold exactly what the list API
shows, with its filters, for one user only, a page at a time."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import insert

from tests.conftest import Credentials, Harness
from trebuchet.cli.export import show_progress
from trebuchet.cli.main import main
from trebuchet.server.api.export import CSV_COLUMNS, export_pages
from trebuchet.server.store import MessageFilter
from trebuchet.server.store import tables as t

A, B, PEER = "+15550001111", "+15550002222", "+15557654321"
# Text that CSV must quote or escape, and text it need not.
TEXTS = ["plain", "comma, here", 'quote " inside', "line\nbreak\r\nand more", "ünïcødé 🚀", ""]


async def _send_many(h: Harness, creds: Credentials, count: int, number: str) -> None:
    for start in range(0, count, 50):
        body = [
            {"from": number, "to": PEER, "text": TEXTS[n % len(TEXTS)] or f"m{n}", "tag": f"t{n}"}
            for n in range(start, min(start + 50, count))
        ]
        response = await h.http(creds).post(h.messages_path(creds), json=body)
        assert response.status_code == 202, response.text


async def _listed(h: Harness, creds: Credentials, **filters: str) -> list[dict[str, Any]]:
    """Every message the list API shows, following its Link headers."""
    http = h.http(creds)
    url: str | None = h.messages_path(creds)
    params: dict[str, str] | None = {**filters, "size": "1000"}
    found: list[dict[str, Any]] = []
    while url:
        response = await http.get(url, params=params)
        assert response.status_code == 200, response.text
        found += response.json()
        url, params = response.links.get("next", {}).get("url"), None
    return found


def _export_path(creds: Credentials) -> str:
    return f"/v1/users/{creds.user_id}/export/messages"


async def _users(h: Harness) -> tuple[Credentials, Credentials]:
    alice, bob = await h.create_user([A, B]), await h.create_user(["+15550003333"])
    await _send_many(h, alice, 70, A)
    await _send_many(h, alice, 30, B)
    await _send_many(h, bob, 5, "+15550003333")
    return alice, bob


async def test_the_download_holds_what_the_list_shows(harness: Harness) -> None:
    alice, bob = await _users(harness)
    response = await harness.http(alice).get(_export_path(alice))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert "attachment" in response.headers["content-disposition"]
    exported = [json.loads(line) for line in response.text.splitlines()]
    assert exported == await _listed(harness, alice)
    assert len(exported) == 100
    theirs = await harness.http(bob).get(_export_path(bob))
    assert [m["from"] for m in map(json.loads, theirs.text.splitlines())] == ["+15550003333"] * 5


async def test_filters_are_the_lists_and_refusals_are_its_errors(harness: Harness) -> None:
    alice, _ = await _users(harness)
    http = harness.http(alice)
    for filters in ({"from": B}, {"direction": "in"}, {"state": "queued", "to": PEER}):
        response = await http.get(_export_path(alice), params=filters)
        exported = [json.loads(line) for line in response.text.splitlines()]
        assert exported == await _listed(harness, alice, **filters), filters
    bad = await http.get(_export_path(alice), params={"direction": "sideways"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "validation-error" and "direction" in bad.json()["message"]
    wrong = await http.get(_export_path(alice), params={"format": "xml"})
    assert wrong.status_code == 400 and "format" in wrong.json()["message"]


async def test_another_users_export_is_refused(harness: Harness) -> None:
    alice, bob = await _users(harness)
    response = await harness.http(bob).get(_export_path(alice))
    assert response.status_code in (401, 403)
    assert response.json()["code"] == "user-access-denied"
    assert (await harness.http().get(_export_path(alice))).status_code == 401


async def test_csv_escapes_and_matches_the_list(harness: Harness) -> None:
    alice, _ = await _users(harness)
    response = await harness.http(alice).get(_export_path(alice), params={"format": "csv"})
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    listed = await _listed(harness, alice)
    assert list(rows[0]) == CSV_COLUMNS
    assert [row["text"] for row in rows] == [message["text"] for message in listed]
    assert {row["text"] for row in rows} >= {text for text in TEXTS if text}
    for row, message in zip(rows, listed, strict=True):
        assert row["id"] == message["id"] and row["from"] == message["from"]
        assert row["segmentCount"] == str(message["segmentCount"])
        assert row["skipMMSCarrierValidation"] == str(message["skipMMSCarrierValidation"]).lower()
        assert row["media"] == " ".join(message["media"])
        assert row["deliveryCode"] == ""  # absent from the message: empty


async def _add_event(h: Harness, user_id: str, message_id: str) -> None:
    async with h.store.write() as conn:
        await conn.execute(insert(t.events).values(
            id=f"e-{message_id}", user_id=user_id, message_id=message_id, sequence=1,
            payload=json.dumps({"eventType": "sms", "messageId": message_id}), method="POST",
            timeout_ms=1000, state="delivered", created_us=1, expires_us=2, finished_us=3,
            url="https://user:pw@example.com/cb",
        ))  # fmt: skip
        await conn.execute(insert(t.event_attempts).values(
            id=f"x-{message_id}", event_id=f"e-{message_id}", round=1, target="primary",
            url="https://example.com/cb", time_us=2, duration_us=1500, status=200,
        ))  # fmt: skip


async def test_events_are_added_as_the_events_api_shows_them(harness: Harness) -> None:
    alice, _ = await _users(harness)
    listed = await _listed(harness, alice)
    with_events = listed[3]["id"]
    await _add_event(harness, alice.user_id, with_events)
    http = harness.http(alice)
    response = await http.get(_export_path(alice), params={"events": "true"})
    exported = [json.loads(line) for line in response.text.splitlines()]
    events = (await http.get(f"{harness.messages_path(alice)}/{with_events}/events")).json()
    assert exported[3]["events"] == events and len(events) == 1
    assert all(m["events"] == [] for m in exported if m["id"] != with_events)
    assert [{k: v for k, v in m.items() if k != "events"} for m in exported] == listed
    as_csv = await http.get(_export_path(alice), params={"events": "true", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(as_csv.text, newline="")))
    assert json.loads(rows[3]["events"]) == events


async def test_pages_are_read_only_as_the_export_is_consumed(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, _ = await _users(harness)
    limits: list[int] = []
    read_page = harness.store.messages.list

    async def counting(*args: Any, **kwargs: Any) -> Any:
        limits.append(kwargs["limit"])
        return await read_page(*args, **kwargs)

    monkeypatch.setattr(harness.store.messages, "list", counting)
    pages = export_pages(
        harness.store, alice.user_id, MessageFilter(), fmt="jsonl", with_events=False,
        page_size=10,
    )  # fmt: skip
    seen = 0
    async for count, chunk in pages:
        seen += count
        assert len(limits) == seen // 10 + (seen % 10 > 0)  # one page read per page given
        assert chunk.count(b"\n") == count
    assert seen == 100
    assert limits == [10] * 11  # the eleventh page comes back empty and ends the walk


def test_progress_is_drawn_only_for_a_person_watching_a_file_fill() -> None:
    assert show_progress(None, output_is_terminal=False, errors_is_terminal=True)
    assert not show_progress(None, output_is_terminal=True, errors_is_terminal=True)
    assert not show_progress(None, output_is_terminal=False, errors_is_terminal=False)
    assert show_progress(True, output_is_terminal=True, errors_is_terminal=False)
    assert not show_progress(False, output_is_terminal=False, errors_is_terminal=True)


async def test_the_command_writes_what_the_download_holds(harness: Harness, tmp_path: Path) -> None:
    alice, _ = await _users(harness)
    http = harness.http(alice)
    env = {"TREBUCHET_DB": harness.settings.db}
    for fmt, flags in (("jsonl", []), ("csv", ["--from", B])):
        target = tmp_path / f"out.{fmt}"
        downloaded = await http.get(
            _export_path(alice), params={"format": fmt, **({"from": B} if flags else {})}
        )
        result = await _invoke(
            ["export", alice.user_id, "--format", fmt, "-o", str(target), "--progress", *flags],
            env,
        )
        assert result.exit_code == 0, result.output
        assert target.read_bytes() == downloaded.content
        assert "exporting" in result.stderr and "exported" in result.stderr
    to_stdout = await _invoke(["export", alice.user_id, "--to-date-time", "2000-01-01"], env)
    assert to_stdout.exit_code == 0 and to_stdout.stdout == ""
    bad = await _invoke(["export", alice.user_id, "--direction", "sideways"], env)
    assert bad.exit_code == 2 and "direction" in bad.output
    nobody = await _invoke(["export", "u-nobody"], env)
    assert nobody.exit_code == 1 and "no user u-nobody" in nobody.output


async def _invoke(args: list[str], env: dict[str, str]) -> Any:
    """The CLI runs its own event loop: run it on a thread beside the test's."""
    import asyncio

    return await asyncio.to_thread(CliRunner().invoke, main, args, env=env)
