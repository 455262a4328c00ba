"""Inbound messages (spec §6.3): routing to the number's application, the user errors when
there is nowhere to go, the admin endpoint and ``trebuchet inject``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.engine.conftest import Bench, Receiver, failing_first
from trebuchet.cli.main import main
from trebuchet.server.api.app import create_app
from trebuchet.server.carriers.base import InboundMessage, UnknownNumber
from trebuchet.server.store import Store
from trebuchet.server.store import tables as t

NUMBER = "+15550004444"
REMOTE = "+15557654321"
TOKEN = "admin-secret"


async def _inbound(bench: Bench, text: str = "STOP", key: str | None = None) -> str:
    return await bench.engine.inbound(InboundMessage(REMOTE, NUMBER, text, key=key))


async def test_inbound_goes_to_the_application_with_its_method_and_fallback(
    bench: Bench, receiver: Receiver
) -> None:
    user = await bench.user([NUMBER])
    app_id = await bench.application(
        user,
        [NUMBER],
        incomingMessageUrl=receiver.on("/in", failing_first(1)),
        incomingMessageFallbackUrl=receiver.url("/in-fallback"),
        callbackHttpMethod="get",
        incomingMessageUrlCallbackTimeout=3000,
    )
    message_id = await _inbound(bench)
    await bench.run()
    [primary] = receiver.at("/in")
    [fallback] = receiver.at("/in-fallback")
    assert primary.method == fallback.method == "GET"
    event = fallback.event
    assert event["eventType"] == "sms" and event["direction"] == "in"
    assert event["state"] == "received" and event["applicationId"] == app_id
    assert (event["from"], event["to"], event["text"]) == (REMOTE, NUMBER, "STOP")
    assert event["messageId"] == message_id
    message = await bench.message(user, message_id)
    assert (message["direction"], message["state"]) == ("in", "received")


async def test_inbound_mms_event(bench: Bench, receiver: Receiver) -> None:
    user = await bench.user([NUMBER])
    await bench.application(user, [NUMBER], incomingMessageUrl=receiver.url("/in"))
    media = ["https://media.example.test/a.jpg"]
    await bench.engine.inbound(InboundMessage(REMOTE, NUMBER, "", media=media))
    await bench.run()
    event = receiver.at("/in")[0].json()
    assert event["eventType"] == "mms" and event["media"] == media
    assert event["segmentCount"] == 1


async def test_no_application_is_a_user_error(bench: Bench) -> None:
    user = await bench.user([NUMBER])
    message_id = await _inbound(bench)
    await bench.run()
    assert (await bench.message(user, message_id))["state"] == "received"
    [error] = await bench.errors(user)
    assert error["code"] == "no-application-for-number"
    assert error["category"] == "unavailable"
    assert error["message"] == f"No application is configured for number {NUMBER}"


async def test_an_application_without_a_message_url_is_a_user_error(bench: Bench) -> None:
    user = await bench.user([NUMBER])
    await bench.application(user, [NUMBER], incomingCallUrl="https://voice.example.test/")
    await _inbound(bench)
    await bench.run()
    [error] = await bench.errors(user)
    assert error["code"] == "no-callback-for-message"


async def test_a_number_nobody_owns_is_refused(bench: Bench) -> None:
    with pytest.raises(UnknownNumber):
        await _inbound(bench)


async def test_a_repeated_report_is_stored_once(bench: Bench, receiver: Receiver) -> None:
    user = await bench.user([NUMBER])
    await bench.application(user, [NUMBER], incomingMessageUrl=receiver.url("/in"))
    first = await _inbound(bench, key="carrier-17")
    again = await _inbound(bench, key="carrier-17")
    await bench.run()
    assert first == again
    assert len(receiver.at("/in")) == 1


@pytest.fixture
async def admin_http(bench: Bench) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(replace(bench.harness.settings, admin_token=TOKEN), bench.store)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_admin_endpoint_simulates_an_inbound_message(
    bench: Bench, receiver: Receiver, admin_http: httpx.AsyncClient
) -> None:
    user = await bench.user([NUMBER])
    await bench.application(user, [NUMBER], incomingMessageUrl=receiver.url("/in"))
    body = {"from": REMOTE, "to": NUMBER, "text": "hello"}
    response = await admin_http.post(
        "/v1/admin/inbound", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 201, response.text
    message_id = response.json()["messageId"]
    assert response.json()["userId"] == user.user_id
    assert response.headers["location"].endswith(f"/v1/users/{user.user_id}/messages/{message_id}")
    await bench.run()
    assert receiver.at("/in")[0].json()["text"] == "hello"


async def test_admin_endpoint_checks_its_token_and_the_number(
    bench: Bench, admin_http: httpx.AsyncClient
) -> None:
    body = {"from": REMOTE, "to": NUMBER, "text": "hello"}
    wrong = await admin_http.post(
        "/v1/admin/inbound", json=body, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    unknown = await admin_http.post(
        "/v1/admin/inbound", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "number-not-found"
    bad = await admin_http.post(
        "/v1/admin/inbound", json={**body, "to": "nope"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )  # fmt: skip
    assert bad.status_code == 400


async def test_admin_endpoint_is_off_without_a_token(bench: Bench) -> None:
    response = await bench.harness.http().post(
        "/v1/admin/inbound", json={"from": REMOTE, "to": NUMBER, "text": "x"},
        headers={"Authorization": "Bearer "},
    )  # fmt: skip
    assert response.status_code == 404


def test_inject_command_stores_and_routes_an_inbound_message(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    assert runner.invoke(main, ["migrate", "--db", db]).exit_code == 0
    created = runner.invoke(main, ["users", "create", "--db", db, "--number", NUMBER, "--json"])
    assert created.exit_code == 0, created.output
    user_id = json.loads(created.output)["userId"]
    result = runner.invoke(
        main, ["inject", "--db", db, "--from", REMOTE, "--to", NUMBER, "--text", "hi there"]
    )
    assert result.exit_code == 0, result.output
    message_id = json.loads(result.output)["messageId"]

    async def check() -> None:
        store = Store(db)
        await store.open()
        try:
            async with store.read() as conn:
                message = (
                    await conn.execute(select(t.messages).where(t.messages.c.id == message_id))
                ).one()
            assert (message.user_id, message.direction, message.state, message.text) == (
                user_id, "in", "received", "hi there",
            )  # fmt: skip
            [error] = await store.user_errors.list(user_id, None, 10)
            assert error["code"] == "no-application-for-number"
        finally:
            await store.close()

    asyncio.run(check())
    unknown = runner.invoke(main, ["inject", "--db", db, "--from", REMOTE, "--to", "+15550000000"])
    assert unknown.exit_code != 0 and "no enabled number" in unknown.output
