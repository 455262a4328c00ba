"""Phone numbers, applications, errors, redaction and export through both clients,
against the real app in process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import trebuchet
from tests.conftest import harnessed, make_settings
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


SPARE = "+15550003333"


async def test_async_client_orders_and_releases_a_number(store_url: str, tmp_path: Path) -> None:
    settings = make_settings(store_url, numbers_self_service=True, media_dir=str(tmp_path))
    async with harnessed(settings) as harness:
        creds = await harness.create_user(numbers=NUMBERS)
        await _order_and_release(harness, creds)


async def _order_and_release(harness: Any, creds: Any) -> None:
    async with AsyncClient(
        creds.user_id, creds.api_token, creds.api_secret, api_endpoint=ENDPOINT,
        http_client=harness.http(),
    ) as api:  # fmt: skip
        app_id = await api.create_application("In", incomingMessageUrl="https://example.com/in")
        number_id = await api.order_phone_number(
            SPARE, name="Support", application_id=app_id, fallback_number=OWN
        )
        ordered = await api.get_phone_number(number_id)
        assert (ordered["number"], ordered["name"]) == (SPARE, "Support")
        assert (ordered["application_id"], ordered["fallback_number"]) == (app_id, OWN)
        assert await api.order_phone_number(SPARE) == number_id  # already the user's
        other = await harness.create_user()
        async with AsyncClient(
            other.user_id, other.api_token, other.api_secret, api_endpoint=ENDPOINT,
            http_client=harness.http(),
        ) as other_api:  # fmt: skip
            with pytest.raises(trebuchet.ConflictError) as taken:
                await other_api.order_phone_number(SPARE)  # someone else's
            assert taken.value.code == "number-already-allocated"
        await api.release_phone_number(number_id)
        assert SPARE not in [n["number"] async for n in api.list_phone_numbers()]
        with pytest.raises(trebuchet.PermissionDeniedError) as released:
            await api.order_phone_number(SPARE)
        assert released.value.code == "number-released"
        with pytest.raises(ValueError, match="number"):
            await api.order_phone_number("")


def test_sync_client_orders_a_number_its_operator_assigned(live_server: Any) -> None:
    """Without self-service a user orders (takes up, with its properties) only a number
    the operator assigned; any other is refused."""
    creds = live_server.create_user(NUMBERS)
    live_server.run(live_server.store.inventory.add([SPARE], user_id=creds.user_id))
    with Client(
        creds.user_id, creds.api_token, creds.api_secret, api_endpoint=live_server.base_url
    ) as api:
        number_id = api.order_phone_number(SPARE, name="Desk")
        assert api.get_phone_number(SPARE)["id"] == number_id
        assert api.get_phone_number(number_id)["name"] == "Desk"
        assert sorted(n["number"] for n in api.list_phone_numbers()) == sorted([*NUMBERS, SPARE])
        with pytest.raises(trebuchet.PermissionDeniedError) as missing:
            api.order_phone_number("+15550009999", name="Nope")
        assert missing.value.code == "number-not-available"
        api.release_phone_number(number_id)
        assert sorted(n["number"] for n in api.list_phone_numbers()) == sorted(NUMBERS)
