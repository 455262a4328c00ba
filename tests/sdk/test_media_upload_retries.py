"""When an upload is tried again: bytes (which can be sent twice) after a retryable
answer or a transport error, under the retry policy; a stream never, its first failure
is raised.  Both clients, over an in-process transport that answers from a script."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from trebuchet import APIStatusError, AsyncClient, Client

ENDPOINT = "http://sms.test"
Outcome = int | type[httpx.TransportError]


class Script:
    """Answers each request with the next outcome: a status code, or an error raised."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.bodies: list[bytes] = []

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(request.read())
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, int):
            body = {"category": "x", "code": "x", "message": "x", "details": []}
            return httpx.Response(outcome, json=body if outcome >= 400 else None)
        raise outcome("scripted", request=request)

    async def answer_async(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        return self.answer(request)


def _client(script: Script, waits: list[float]) -> Client:
    return Client(
        "u-1", "t", "s", api_endpoint=ENDPOINT,
        transport=httpx.MockTransport(script.answer), sleep=waits.append,
    )  # fmt: skip


def _async_client(script: Script, waits: list[float]) -> AsyncClient:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return AsyncClient(
        "u-1", "t", "s", api_endpoint=ENDPOINT,
        transport=httpx.MockTransport(script.answer_async), sleep=sleep,
    )  # fmt: skip


def _chunks() -> Iterator[bytes]:
    yield b"ab"
    yield b"cd"


async def _async_chunks() -> AsyncIterator[bytes]:
    yield b"ab"
    yield b"cd"


@pytest.mark.parametrize("first", [503, httpx.ConnectError])
def test_bytes_are_sent_again_after_a_retryable_failure(first: Outcome) -> None:
    script, waits = Script(first, 200), []
    with _client(script, waits) as api:
        api.upload_media("a/b.png", b"abcd", "image/png")
    assert script.bodies == [b"abcd", b"abcd"]
    assert len(waits) == 1


def test_bytes_give_up_when_the_retries_run_out() -> None:
    script, waits = Script(503, 503, 503), []
    with _client(script, waits) as api, pytest.raises(APIStatusError) as raised:
        api.upload_media("b.png", b"abcd")
    assert raised.value.status_code == 503
    assert len(script.bodies) == 3 and len(waits) == 2


def test_bytes_are_not_sent_again_after_a_client_error() -> None:
    script, waits = Script(400), []
    with _client(script, waits) as api, pytest.raises(APIStatusError):
        api.upload_media("b.png", b"abcd")
    assert len(script.bodies) == 1 and waits == []


def test_a_stream_is_never_sent_twice() -> None:
    script, waits = Script(503, 200), []
    with _client(script, waits) as api, pytest.raises(APIStatusError):
        api.upload_media("b.png", _chunks())
    script = Script(httpx.ConnectError, 200)
    with _client(script, waits) as api, pytest.raises(httpx.ConnectError):
        api.upload_media("b.png", _chunks())
    assert waits == []


@pytest.mark.parametrize("first", [503, httpx.ConnectError])
async def test_async_bytes_are_sent_again_after_a_retryable_failure(first: Outcome) -> None:
    script, waits = Script(first, 200), []
    async with _async_client(script, waits) as api:
        await api.upload_media("a/b.png", b"abcd", "image/png")
    assert script.bodies == [b"abcd", b"abcd"]
    assert len(waits) == 1


async def test_async_a_stream_is_never_sent_twice() -> None:
    script, waits = Script(503, 200), []
    async with _async_client(script, waits) as api:
        with pytest.raises(APIStatusError):
            await api.upload_media("b.png", _async_chunks())
    script = Script(httpx.ConnectError, 200)
    async with _async_client(script, waits) as api:
        with pytest.raises(httpx.ConnectError):
            await api.upload_media("b.png", _async_chunks())
    assert waits == []
