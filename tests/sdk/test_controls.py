"""The SDK's messaging-control methods: the async client against the real app in process
(both stores), the sync client against the real server on a loopback port, and the
arguments each refuses before sending anything."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from trebuchet import AsyncClient, Client, NotFoundError

OWN = "+15550001111"
OWN_2 = "+15550001112"
PEERS = [f"+1555765{index:04d}" for index in range(5)]


@pytest.fixture
async def async_api(harness: Any) -> AsyncIterator[AsyncClient]:
    creds = await harness.create_user([OWN, OWN_2])
    async with AsyncClient(
        creds.user_id,
        creds.api_token,
        creds.api_secret,
        api_endpoint="http://testserver",
        http_client=harness.http(),
    ) as client:
        yield client


async def test_async_opt_outs_round_trip_and_pages(async_api: AsyncClient) -> None:
    added = [await async_api.add_opt_out(peer) for peer in PEERS]
    assert [entry["number"] for entry in added] == [None] * len(PEERS)
    one = await async_api.add_opt_out(PEERS[0], number=OWN)
    assert (one["recipient"], one["number"], one["source"]) == (PEERS[0], OWN, "api")
    assert await async_api.add_opt_out(PEERS[0], number=OWN) == one  # already there
    listed = [entry async for entry in async_api.list_opt_outs(size=2)]
    assert [entry["id"] for entry in listed] == [entry["id"] for entry in [*added, one]]
    only = [entry async for entry in async_api.list_opt_outs(number=OWN)]
    assert only == [one]
    assert await async_api.get_opt_out(one["id"]) == one
    await async_api.remove_opt_out(one["id"])
    with pytest.raises(NotFoundError):
        await async_api.get_opt_out(one["id"])


async def test_async_settings(async_api: AsyncClient) -> None:
    assert await async_api.get_messaging_settings() == {
        "smart_encoding": False,
        "opt_out_scope": "number",
    }
    changed = await async_api.update_messaging_settings(smart_encoding=True)
    assert changed == {"smart_encoding": True, "opt_out_scope": "number"}
    assert (await async_api.update_messaging_settings(opt_out_scope="user"))["opt_out_scope"] == (
        "user"
    )
    assert await async_api.get_number_settings(OWN) == {
        "number": OWN,
        "opt_out_handling": "platform",
        "auto_replies": True,
    }
    number = await async_api.update_number_settings(OWN, opt_out_handling="application")
    assert number["opt_out_handling"] == "application" and number["auto_replies"] is True
    with pytest.raises(NotFoundError):
        await async_api.get_number_settings("+15550009999")


async def test_async_send_with_smart_encoding(async_api: AsyncClient) -> None:
    message_id = await async_api.send_message(
        OWN, PEERS[0], "it\u2019s 10\u201312", smartEncoding=True
    )
    message = await async_api.get_message(message_id)
    assert (message["text"], message["segment_count"]) == ("it's 10-12", 1)
    assert "keyword" not in message


@pytest.mark.parametrize(
    ("call", "args", "named"),
    [
        ("add_opt_out", {"recipient": "5557654321"}, "recipient"),
        ("add_opt_out", {"recipient": PEERS[0], "number": "not-a-number"}, "number"),
        ("list_opt_outs", {"size": 0}, "size"),
        ("list_opt_outs", {"recipient": "abc"}, "recipient"),
        ("get_opt_out", {"id": ""}, "id"),
        ("update_messaging_settings", {"opt_out_scope": "world"}, "opt_out_scope"),
        ("update_messaging_settings", {"smart_encoding": "yes"}, "smart_encoding"),
        ("update_number_settings", {"number": OWN, "opt_out_handling": "no"}, "opt_out_handling"),
        ("update_number_settings", {"number": OWN, "auto_replies": 1}, "auto_replies"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    call: str, args: dict[str, Any], named: str
) -> None:
    # Port 9 (discard) is never reached: each call fails while building its request.
    with (
        Client("u-1", "t-1", "s-1", api_endpoint="http://127.0.0.1:9", max_retries=0) as api,
        pytest.raises(ValueError, match=named),
    ):
        getattr(api, call)(**args)


# -- the sync client over a real socket ------------------------------------------------------


@pytest.fixture
def api(live_server: Any) -> Iterator[Client]:
    creds = live_server.create_user([OWN, OWN_2])
    with Client(
        creds.user_id, creds.api_token, creds.api_secret, api_endpoint=live_server.base_url
    ) as client:
        yield client


def test_sync_client_manages_opt_outs_and_settings(api: Client) -> None:
    added = [api.add_opt_out(peer, number=OWN_2) for peer in PEERS]
    listed = list(api.list_opt_outs(size=2))
    assert [entry["id"] for entry in listed] == [entry["id"] for entry in added]
    assert list(api.list_opt_outs(recipient=PEERS[3])) == [added[3]]
    assert api.get_opt_out(added[0]["id"]) == added[0]
    api.remove_opt_out(added[0]["id"])
    with pytest.raises(NotFoundError):
        api.remove_opt_out(added[0]["id"])
    assert api.update_messaging_settings(smart_encoding=True)["smart_encoding"] is True
    assert api.get_messaging_settings() == {"smart_encoding": True, "opt_out_scope": "number"}
    assert api.update_number_settings(OWN, auto_replies=False)["auto_replies"] is False
    assert api.get_number_settings(OWN)["auto_replies"] is False
    message = api.get_message(api.send_message(OWN, PEERS[1], "wait\u2026"))
    assert message["text"] == "wait..."  # the user's default, now on
