"""The SDK's scheduling, expiry and cancel: ``send_message``'s extension keywords (sent only
when given) and ``cancel_message``, sync and async, against the real app in process."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import trebuchet
from trebuchet import AsyncClient, Client
from trebuchet._validation import timing_properties

from .integration import NUMBERS, OWN, PEER

ENDPOINT = "http://testserver"


@pytest.fixture
async def creds(harness: Any) -> Any:
    return await harness.create_user(numbers=NUMBERS)


@pytest.fixture
async def api(harness: Any, creds: Any) -> AsyncIterator[AsyncClient]:
    http = harness.http()
    async with AsyncClient(creds.user_id, creds.api_token, creds.api_secret,
                           api_endpoint=ENDPOINT, http_client=http) as client:  # fmt: skip
        yield client


def test_only_the_keywords_given_are_sent() -> None:
    extra: dict[str, Any] = {"custom": 1}
    assert timing_properties(extra) == {} and extra == {"custom": 1}
    when = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    extra = {"send_at": when, "validity_period": dt.timedelta(hours=2), "custom": 1}
    assert timing_properties(extra) == {"sendAt": "2026-12-07T08:00:00.000Z",
                                        "validityPeriod": 7200}  # fmt: skip
    assert extra == {"custom": 1}
    with pytest.raises(ValueError, match="timezone-aware"):
        timing_properties({"expiration": dt.datetime(2026, 12, 7)})
    with pytest.raises(ValueError, match="validity_period"):
        timing_properties({"validity_period": "soon"})


async def test_schedule_then_cancel_with_the_async_client(api: AsyncClient) -> None:
    send_at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    message_id = await api.send_message(from_=OWN, to=PEER, text="later", send_at=send_at,
                                        validity_period=600)  # fmt: skip
    message = await api.get_message(message_id)
    assert message["state"] == "scheduled" and message["send_at"].startswith(
        send_at.strftime("%Y-%m-%dT%H:%M")
    )
    assert message["expiration"] > message["send_at"]
    cancelled = await api.cancel_message(message_id)
    assert cancelled["state"] == "canceled"
    assert (await api.cancel_message(message_id))["state"] == "canceled"


async def test_a_sent_message_cannot_be_cancelled_and_is_not_retried(
    harness: Any, creds: Any
) -> None:
    calls = []

    async def count(request: httpx.Request) -> None:
        calls.append(request.url.path)

    http = harness.http(event_hooks={"request": [count]})
    async with AsyncClient(creds.user_id, creds.api_token, creds.api_secret,
                           api_endpoint=ENDPOINT, http_client=http) as api:  # fmt: skip
        message_id = await api.send_message(from_=OWN, to=PEER, text="now")
        async with harness.store.write() as conn:  # as the engine leaves it
            from sqlalchemy import update

            from trebuchet.server.store import tables as t

            await conn.execute(update(t.messages).values(state="sent", due_us=None))
        with pytest.raises(trebuchet.ConflictError) as caught:
            await api.cancel_message(message_id)
    assert caught.value.code == "message-not-cancelable"
    assert sum(path.endswith("/cancel") for path in calls) == 1


def test_the_sync_client_sends_the_keywords_and_cancels(harness: Any, creds: Any) -> None:
    sent: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append((request.method, request.url.path, request.content))
        if request.url.path.endswith("/cancel"):
            return httpx.Response(200, json={"id": "m-1", "state": "canceled"})
        return httpx.Response(201, headers={"Location": f"{ENDPOINT}/v1/users/u/messages/m-1"})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    with Client("u", "t", "s", api_endpoint=ENDPOINT, http_client=client) as api:
        assert api.send_message(from_=OWN, to=PEER, text="x", send_at="2026-12-07T09:00:00Z",
                                expiration="2026-12-07T10:00:00Z") == "m-1"  # fmt: skip
        assert api.send_message(from_=OWN, to=PEER, text="y") == "m-1"
        assert api.cancel_message("m-1")["state"] == "canceled"
    import json

    with_timing, without = (json.loads(body) for _, _, body in sent[:2])
    assert (with_timing["sendAt"], with_timing["expiration"]) == (
        "2026-12-07T09:00:00Z", "2026-12-07T10:00:00Z",
    )  # fmt: skip
    assert "sendAt" not in without and "expiration" not in without
    assert "validityPeriod" not in without
    assert sent[2][:2] == ("POST", "/v1/users/u/messages/m-1/cancel")
