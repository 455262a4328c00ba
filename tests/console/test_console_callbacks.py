"""A message's page shows each callback attempt as it happened: URL, method, the event and
signature headers it sent (never credentials), status, latency and the answer's start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from aiohttp import web

from tests.conftest import Harness, serve_http
from tests.console.conftest import post_form, sign_in
from trebuchet.server.engine import Engine
from trebuchet.server.store.event_actions import EventFilter

OURS = "+15550100001"


async def test_attempts_show_headers_and_the_answer(console: Harness) -> None:
    seen: list[dict[str, str]] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(status=200, text="thanks <b>receiver</b>")

    creds = await console.create_user([OURS])
    engine = Engine(console.store, replace(console.settings, callback_signing=True))
    try:
        async with serve_http(answer) as base:
            url = base.replace("http://", "http://user:pw@") + "/status"
            sent = await console.http(creds).post(
                console.messages_path(creds),
                json={"from": OURS, "to": "+15557654321", "text": "hi", "callbackUrl": url},
            )
            message_id = sent.headers["location"].rsplit("/", 1)[1]
            await engine.run_until_idle()
            await engine.run_until_idle()
    finally:
        await engine.close()
    assert seen and "Authorization" in seen[0]
    client = console.http()
    await sign_in(client, creds)
    page = await client.get(f"/console/messages/{message_id}")
    assert page.status_code == 200
    assert "Trebuchet-Signature" in page.text
    assert seen[0]["Trebuchet-Signature"] in page.text
    assert "Trebuchet-Event-Id" in page.text
    assert "thanks &lt;b&gt;receiver&lt;/b&gt;" in page.text
    assert "Authorization" not in page.text
    assert "pw@" not in page.text
    assert "Callback to primary URL" in page.text


async def test_redeliver_sends_the_callbacks_again(console: Harness) -> None:
    hits: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        hits.append(request.headers["Trebuchet-Event-Id"])
        return web.Response(status=204)

    creds = await console.create_user([OURS])
    other = await console.create_user(["+15550100002"])
    engine = Engine(console.store, console.settings)
    try:
        async with serve_http(answer) as base:
            sent = await console.http(creds).post(
                console.messages_path(creds),
                json={"from": OURS, "to": "+15557654321", "text": "hi",
                      "callbackUrl": f"{base}/status"},
            )  # fmt: skip
            message_id = sent.headers["location"].rsplit("/", 1)[1]
            await engine.run_until_idle()
            await engine.run_until_idle()
            first = list(hits)
            assert first
            stranger = console.http()
            await sign_in(stranger, other)
            path = f"/console/messages/{message_id}/redeliver"
            refused = await post_form(stranger, "/console/messages", path, {})
            assert refused.status_code == 404
            client = console.http()
            await sign_in(client, creds)
            again = await post_form(client, f"/console/messages/{message_id}", path, {})
            assert again.status_code == 303
            await engine.run_until_idle()
    finally:
        await engine.close()
    assert hits == first + first  # every event once more, in the same order


def _reopened(row: Mapping[str, Any]) -> dict[str, Any]:
    """What a re-delivery decides about an event, without its ids and instants."""
    own = {"id", "message_id", "payload", "created_us", "due_us", "expires_us"}
    shape = {k: v for k, v in row.items() if k not in own}
    shape["window_us"] = row["expires_us"] - row["due_us"]
    return shape


async def test_console_and_api_redeliver_leave_the_same_rows(console: Harness) -> None:
    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=400)  # a refusal: the event fails for good

    creds = await console.create_user([OURS])
    engine = Engine(console.store, console.settings)
    try:
        async with serve_http(refuse) as base:
            ids = []
            for _ in range(2):
                sent = await console.http(creds).post(
                    console.messages_path(creds),
                    json={"from": OURS, "to": "+15557654321", "text": "hi",
                          "callbackUrl": f"{base}/status"},
                )  # fmt: skip
                ids.append(sent.headers["location"].rsplit("/", 1)[1])
            await engine.run_until_idle()
            await engine.run_until_idle()
    finally:
        await engine.close()
    by_console, by_api = ids
    for message_id in ids:
        [failed] = await console.store.events.page(EventFilter(message_id=message_id), None, 9)
        assert failed["state"] == "failed" and failed["failure_code"] == "callback-refused"
    client = console.http()
    await sign_in(client, creds)
    path = f"/console/messages/{by_console}/redeliver"
    assert (await post_form(client, f"/console/messages/{by_console}", path, {})).status_code == 303
    api_path = f"{console.messages_path(creds)}/{by_api}/events/redeliver"
    assert (await console.http(creds).post(api_path)).status_code == 200
    [from_console] = await console.store.events.page(EventFilter(message_id=by_console), None, 9)
    [from_api] = await console.store.events.page(EventFilter(message_id=by_api), None, 9)
    assert _reopened(from_console) == _reopened(from_api)
    assert from_console["state"] == "pending" and from_console["failure_code"] is None
    assert from_console["crashes"] == 0 and from_console["finished_us"] is None
