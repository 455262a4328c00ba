"""AsyncClient: the same behaviour as Client, through an ASGI app in process and a real socket."""

from __future__ import annotations

import inspect
import types
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import trebuchet
from trebuchet import AsyncClient, Client, RetryPolicy

from .conftest import CREDS, Reply, ScriptedASGI, ScriptedServer, SleepRecorder, json_reply

MESSAGES = "/v1/users/u-testuser/messages"
ENDPOINT = "http://testserver"


@pytest.fixture
async def api(asgi: ScriptedASGI, sleeps: SleepRecorder) -> AsyncIterator[AsyncClient]:
    policy = RetryPolicy(max_retries=2, jitter=0.0)
    async with AsyncClient(
        *CREDS,
        api_endpoint=ENDPOINT,
        transport=httpx.ASGITransport(app=asgi),
        retry_policy=policy,
        sleep=sleeps.async_sleep,
    ) as client:
        yield client


def script_conversation(script: Any, base: str) -> None:
    """A fixed sequence of replies for: get, send, bulk, a two-page list."""
    script.add(
        json_reply(200, {"id": "m-1", "messageId": "m-1", "segmentCount": 1}),
        Reply(201, b"", {"Location": f"https://h{MESSAGES}/m-2"}),
        json_reply(
            202,
            [
                {"result": "accepted", "location": f"https://h{MESSAGES}/m-3"},
                {"result": "error", "error": {"code": "blank-property", "message": "blank"}},
            ],
        ),
        json_reply(
            200,
            [{"id": "m-3", "deliveryState": "waiting"}],
            Link=f'<{base}{MESSAGES}?size=1&c=1>; rel="next"',
        ),
        json_reply(200, [{"id": "m-2", "deliveryState": "delivered"}]),
    )


BATCH = [
    {"from": "+15550001111", "to": "+15550002222", "text": "a"},
    {"from": "+15550001111", "to": "", "text": "b"},
]


async def test_parity_with_the_sync_client(server: ScriptedServer, asgi: ScriptedASGI) -> None:
    script_conversation(server, server.url)
    with Client(*CREDS, api_endpoint=server.url) as sync_api:
        sync_results = [
            sync_api.get_message("m-1"),
            sync_api.send_message("+15550001111", "+15550002222", "hi", tag="t"),
            sync_api.send_messages(BATCH),
            list(sync_api.list_messages(size=1, direction="out")),
        ]
    script_conversation(asgi, ENDPOINT)
    async with AsyncClient(
        *CREDS, api_endpoint=ENDPOINT, transport=httpx.ASGITransport(app=asgi)
    ) as async_api:
        async_results = [
            await async_api.get_message("m-1"),
            await async_api.send_message("+15550001111", "+15550002222", "hi", tag="t"),
            await async_api.send_messages(BATCH),
            [m async for m in async_api.list_messages(size=1, direction="out")],
        ]
    assert async_results == sync_results
    assert async_results[1] == "m-2"
    assert async_results[3] == [
        {"id": "m-3", "delivery_state": "waiting"},
        {"id": "m-2", "delivery_state": "delivered"},
    ]

    def shape(requests: list[Any]) -> list[tuple[str, str, Any]]:
        return [(r.method, r.target, r.json() if r.body else None) for r in requests]

    assert shape(asgi.requests) == shape(server.requests)
    for recorded in (asgi.requests, server.requests):
        assert recorded[0].headers["user-agent"] == f"trebuchet-python/{trebuchet.__version__}"
        assert "idempotency-key" in recorded[1].headers


async def test_list_messages_is_a_lazy_async_generator(
    api: AsyncClient, asgi: ScriptedASGI
) -> None:
    messages = api.list_messages()
    assert isinstance(messages, types.AsyncGeneratorType)
    assert inspect.isasyncgen(messages)
    assert asgi.requests == []
    asgi.add(json_reply(200, [{"messageId": "m-1"}]))
    assert await messages.__anext__() == {"message_id": "m-1"}
    with pytest.raises(StopAsyncIteration):
        await messages.__anext__()


async def test_validation_happens_at_call_time(api: AsyncClient, asgi: ScriptedASGI) -> None:
    with pytest.raises(ValueError, match="state must be one of"):
        api.list_messages(state="bogus")
    with pytest.raises(ValueError, match=r"E\.164"):
        await api.send_message("+15550001111", "nope", "x")
    assert asgi.requests == []


async def test_retries_reuse_the_idempotency_key(
    api: AsyncClient, asgi: ScriptedASGI, sleeps: SleepRecorder
) -> None:
    asgi.add(
        json_reply(503, {"message": "busy"}),
        json_reply(429, {"message": "slow"}, Retry_After="2"),
        Reply(201, b"", {"Location": "https://h/m/m-ok"}),
    )
    assert await api.send_message("+15550001111", "+15550002222", "x") == "m-ok"
    assert len({r.headers["idempotency-key"] for r in asgi.requests}) == 1
    assert sleeps.calls == [0.5, 2.0]


async def test_error_mapping_is_shared(api: AsyncClient, asgi: ScriptedASGI) -> None:
    asgi.add(
        json_reply(404, {"category": "not-found", "code": "message-not-found", "message": "gone"})
    )
    with pytest.raises(trebuchet.NotFoundError) as info:
        await api.get_message("m-x")
    assert str(info.value) == "Error message-not-found: gone"


async def test_connection_errors_are_retried(closed_port_url: str, sleeps: SleepRecorder) -> None:
    policy = RetryPolicy(max_retries=1, backoff_base=0.1, jitter=0.0)
    async with AsyncClient(
        *CREDS, api_endpoint=closed_port_url, retry_policy=policy, sleep=sleeps.async_sleep
    ) as api:
        with pytest.raises(trebuchet.APIConnectionError):
            await api.get_message("m-1")
    assert sleeps.calls == [0.1]


async def test_timeout_over_a_real_socket(server: ScriptedServer) -> None:
    server.add(Reply(200, b"{}", delay=1.0))
    async with AsyncClient(*CREDS, api_endpoint=server.url, timeout=0.05, max_retries=0) as api:
        with pytest.raises(trebuchet.APITimeoutError):
            await api.get_message("m-1")


async def test_default_sleep_waits_for_real(asgi: ScriptedASGI) -> None:
    asgi.add(json_reply(500, {"message": "x"}), json_reply(200, {"id": "m"}))
    policy = RetryPolicy(max_retries=1, backoff_base=0.01)
    async with AsyncClient(
        *CREDS, api_endpoint=ENDPOINT, transport=httpx.ASGITransport(app=asgi), retry_policy=policy
    ) as api:
        assert await api.get_message("m") == {"id": "m"}


async def test_a_callers_client_is_left_open(asgi: ScriptedASGI) -> None:
    asgi.add(json_reply(200, {"id": "m"}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi)) as http:
        async with AsyncClient(*CREDS, api_endpoint=ENDPOINT, http_client=http) as api:
            await api.get_message("m")
        assert not http.is_closed


async def test_aclose() -> None:
    api = AsyncClient(*CREDS)
    await api.aclose()
    assert api._http.is_closed


def test_construction_rules() -> None:
    with pytest.raises(ValueError, match="api_token"):
        AsyncClient("u", "", "s")
    with httpx.Client() as sync_http, pytest.raises(TypeError):
        AsyncClient(*CREDS, http_client=sync_http)  # type: ignore[arg-type]


async def test_http_client_and_transport_are_exclusive() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError, match="not both"):
            AsyncClient(*CREDS, http_client=http, transport=httpx.AsyncHTTPTransport())
