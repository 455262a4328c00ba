"""The messages pages: the list with the API's filters and paging, text search, one
message's page, redaction, escaping, the live feed, and tenant isolation on every route."""

from __future__ import annotations

import asyncio
import re

from starlette.routing import Mount, Route

from tests.conftest import Credentials, Harness
from tests.console.conftest import csrf_of, post_form, sign_in
from trebuchet.server.console.app import console_routes
from trebuchet.server.console.live import LiveFeed

XSS = "<script>alert(1)</script>"


async def _send(h: Harness, creds: Credentials, text: str, to: str = "+15550109999") -> str:
    response = await h.http(creds).post(
        h.messages_path(creds), json={"from": creds.numbers[0], "to": to, "text": text}
    )
    assert response.status_code == 201, response.text
    return response.headers["location"].rsplit("/", 1)[1]


async def test_the_list_is_newest_first_and_escapes_text(console: Harness) -> None:
    creds = await console.create_user(["+15550100001"])
    first = await _send(console, creds, "first one")
    second = await _send(console, creds, XSS)
    client = console.http()
    await sign_in(client, creds)
    page = await client.get("/console/messages")
    assert page.status_code == 200
    assert page.text.index(second) < page.text.index(first)
    assert XSS not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    detail = await client.get(f"/console/messages/{second}")
    assert XSS not in detail.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail.text
    assert "<script>" not in detail.text.replace('<script src="/console/static/', "")


async def test_filters_are_the_apis_with_its_messages(console: Harness) -> None:
    creds = await console.create_user(["+15550100001"])
    kept = await _send(console, creds, "to nine", to="+15550109999")
    other = await _send(console, creds, "to eight", to="+15550108888")
    client = console.http()
    await sign_in(client, creds)
    page = await client.get("/console/messages", params={"to": "+15550109999"})
    assert kept in page.text and other not in page.text
    bad = await client.get("/console/messages", params={"to": "nine"})
    api = await console.http(creds).get(console.messages_path(creds), params={"to": "nine"})
    assert bad.status_code == api.status_code == 400
    assert api.json()["message"].replace("'", "&#39;") in bad.text
    bad_state = await client.get("/console/messages", params={"state": "lost"})
    assert bad_state.status_code == 400


async def test_pages_follow_the_signed_keyset_cursor(console: Harness) -> None:
    creds = await console.create_user(["+15550100001"])
    ids = [await _send(console, creds, f"m{index}") for index in range(55)]
    client = console.http()
    await sign_in(client, creds)
    first = await client.get("/console/messages")
    found = re.search(r'href="(/console/messages\?[^"]*sortKeyLT=[^"]+)" rel="next"', first.text)
    assert found
    second = await client.get(found.group(1).replace("&amp;", "&"))
    assert ids[0] in second.text and ids[-1] not in second.text
    assert ids[-1] in first.text and ids[0] not in first.text
    forged = await client.get("/console/messages", params={"sortKeyLT": "1.x.deadbeef"})
    assert forged.status_code == 400


async def test_text_search_finds_recent_messages(console: Harness) -> None:
    creds = await console.create_user(["+15550100001"])
    hit = await _send(console, creds, "your code is 1234")
    miss = await _send(console, creds, "hello there")
    percent = await _send(console, creds, "100% sure")
    client = console.http()
    await sign_in(client, creds)
    page = await client.get("/console/messages", params={"q": "code is"})
    assert hit in page.text and miss not in page.text
    literal = await client.get("/console/messages", params={"q": "%"})
    assert percent in literal.text and hit not in literal.text


async def test_a_message_page_shows_fields_and_timeline_and_redacts(console: Harness) -> None:
    creds = await console.create_user(["+15550100001"])
    message_id = await _send(console, creds, "secret words")
    client = console.http()
    await sign_in(client, creds)
    page = await client.get(f"/console/messages/{message_id}")
    assert page.status_code == 200
    for text in ("secret words", "Accepted", "Timeline", "+15550100001", "GSM-7"):
        assert text in page.text
    redacted = await post_form(
        client, f"/console/messages/{message_id}",
        f"/console/messages/{message_id}/redact", {},
    )  # fmt: skip
    assert redacted.status_code == 303
    api = await console.http(creds).get(f"{console.messages_path(creds)}/{message_id}")
    assert api.json()["text"] == ""
    missing = await client.get("/console/messages/m-nope")
    assert missing.status_code == 404


def _console_paths() -> list[tuple[str, str]]:
    paths = []
    for route in console_routes():
        if isinstance(route, Mount) or not isinstance(route, Route):
            continue
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                paths.append((method, route.path))
    return paths


async def test_every_console_route_keeps_tenants_apart(console: Harness) -> None:
    alice = await console.create_user(["+15550100001"])
    bob = await console.create_user(["+15550100002"])
    secret = await _send(console, alice, "alice's private words")
    upload = await console.http(alice).put(
        f"/v1/users/{alice.user_id}/media/pic.png",
        content=b"alice's private words", headers={"Content-Type": "image/png"},
    )  # fmt: skip
    assert upload.status_code in (200, 201, 204), upload.text
    client = console.http()
    await sign_in(client, bob)
    csrf = csrf_of((await client.get("/console/messages")).text)
    walked = 0
    for method, path in _console_paths():
        if path == "/console/sign-out" or path == "/console/live":
            continue
        url = path.replace("{message_id}", secret)
        url = url.replace("{ours}", alice.numbers[0]).replace("{theirs}", "+15550109999")
        url = url.replace("{media_name:media}", "pic.png")
        if method == "GET":
            response = await client.get(url)
        else:
            response = await client.post(url, data={"csrf": csrf, "text": "x",
                                                    "user_id": alice.user_id})  # fmt: skip
        walked += 1
        assert "private words" not in response.text, (method, path)
        assert response.status_code in (200, 303, 400, 403, 404), (method, path)
    assert walked >= 6
    # Alice's message is untouched by Bob's attempts.
    api = await console.http(alice).get(f"{console.messages_path(alice)}/{secret}")
    assert api.json()["text"] == "alice's private words"


async def test_one_live_reading_serves_every_watcher(console: Harness) -> None:
    creds = await console.create_user(["+15550100001"])
    other = await console.create_user(["+15550100002"])
    feed = LiveFeed(console.store, tick=3600, listen=False)  # read by hand only
    async with (
        feed.watch(creds.user_id) as first,
        feed.watch(creds.user_id) as second,
        feed.watch(other.user_id) as third,
    ):
        tasks = {task for task in asyncio.all_tasks() if task.get_name() == "console-live-feed"}
        assert len(tasks) == 1  # one loop for every page of the process
        await feed.read_once()  # the baseline (the loop may have taken it already)
        message_id = await _send(console, creds, "live one")
        before = feed.readings
        await feed.read_once()
        assert feed.readings == before + 1  # one store reading serves all three pages
        change = await asyncio.wait_for(first.get(), 1)
        assert change == {"id": message_id, "state": "queued", "deliveryState": None}
        assert (await asyncio.wait_for(second.get(), 1))["id"] == message_id
        assert third.empty()


async def test_a_commit_wakes_the_live_feed_without_waiting_for_its_tick(
    console: Harness,
) -> None:
    creds = await console.create_user(["+15550100003"])
    feed = LiveFeed(console.store, tick=3600)  # no tick within the test: only wake-ups
    async with feed.watch(creds.user_id) as changes:
        async with asyncio.timeout(15):
            while feed.readings == 0:  # noqa: ASYNC110 (the loop's baseline reading)
                await asyncio.sleep(0.01)
        message_id = await _send(console, creds, "wake the feed")
        change = await asyncio.wait_for(changes.get(), 15)
        assert change["id"] == message_id
