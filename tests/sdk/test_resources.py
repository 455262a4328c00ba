"""Phone numbers, applications, errors, redaction and export through both clients,
against the real app in process."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import trebuchet
from trebuchet import AsyncClient, Client

from .integration import NUMBERS, OWN, PEER

ENDPOINT = "http://testserver"


@pytest.fixture
async def creds(harness: Any) -> Any:
    return await harness.create_user(numbers=NUMBERS)


async def test_async_client_covers_the_resources(harness: Any, creds: Any) -> None:
    async with AsyncClient(
        creds.user_id, creds.api_token, creds.api_secret, api_endpoint=ENDPOINT,
        http_client=harness.http(),
    ) as api:  # fmt: skip
        assert sorted([n["number"] async for n in api.list_phone_numbers()]) == sorted(NUMBERS)
        assert (await api.get_phone_number(OWN))["number"] == OWN
        app_id = await api.create_application("In", incomingMessageUrl="https://example.com/in")
        assert (await api.get_application(app_id))[
            "incoming_message_url"
        ] == "https://example.com/in"
        assert [a["id"] async for a in api.list_applications()] == [app_id]
        await api.update_application(app_id, name="Renamed")
        assert (await api.get_application(app_id))["name"] == "Renamed"
        await api.update_phone_number(OWN, name="Support", applicationId=app_id)
        number = await api.get_phone_number(OWN)
        assert (number["name"], number["application_id"]) == ("Support", app_id)
        await api.delete_application(app_id)
        with pytest.raises(trebuchet.NotFoundError):
            await api.get_application(app_id)
        assert [e async for e in api.list_errors()] == []
        message_id = await api.send_message(OWN, PEER, "secret words")
        await api.redact_message(message_id)
        assert (await api.get_message(message_id))["text"] == ""
        body = b"".join([chunk async for chunk in api.export_messages(direction="out")])
        lines = [json.loads(line) for line in body.splitlines()]
        assert [m["id"] for m in lines] == [message_id]
        csv_body = b"".join([c async for c in api.export_messages("csv", from_=PEER)])
        assert csv_body.splitlines()[1:] == []
        with pytest.raises(trebuchet.BadRequestError):
            [c async for c in api.export_messages(state="nonsense")]
        with pytest.raises(ValueError, match="format"):
            api.export_messages("xml")
        await api.release_phone_number(NUMBERS[1])
        assert [n["number"] async for n in api.list_phone_numbers()] == [OWN]
        with pytest.raises(trebuchet.NotFoundError):
            await api.get_error("ue-nothing")


def test_sync_client_covers_the_resources(live_server: Any) -> None:
    creds = live_server.create_user(NUMBERS)
    with Client(
        creds.user_id, creds.api_token, creds.api_secret, api_endpoint=live_server.base_url
    ) as api:
        assert sorted(n["number"] for n in api.list_phone_numbers()) == sorted(NUMBERS)
        assert api.get_phone_number(OWN)["number"] == OWN
        app_id = api.create_application("In", incomingMessageUrl="https://example.com/in")
        assert [a["id"] for a in api.list_applications()] == [app_id]
        api.update_application(app_id, name="Renamed")
        assert api.get_application(app_id)["name"] == "Renamed"
        api.update_phone_number(OWN, name="Support")
        assert api.get_phone_number(OWN)["name"] == "Support"
        api.delete_application(app_id)
        assert list(api.list_errors()) == []
        api.release_phone_number(NUMBERS[1])
        assert [n["number"] for n in api.list_phone_numbers()] == [OWN]
        message_id = api.send_message(OWN, PEER, "secret words")
        api.redact_message(message_id)
        assert api.get_message(message_id)["text"] == ""
        exported = b"".join(api.export_messages(events=True))
        assert [json.loads(line)["id"] for line in exported.splitlines()] == [message_id]
        with pytest.raises(trebuchet.BadRequestError):
            b"".join(api.export_messages(direction="sideways"))
        with pytest.raises(TypeError):
            api.export_messages(colour="red")
    assert isinstance(api._http, httpx.Client)
