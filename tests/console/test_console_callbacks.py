"""A message's page shows each callback attempt as it happened: URL, method, the event and
signature headers it sent (never credentials), status, latency and the answer's start."""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from tests.conftest import Harness, serve_http
from tests.console.conftest import post_form, sign_in
from trebuchet.server.engine import Engine

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
