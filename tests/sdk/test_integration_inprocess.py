"""AsyncClient against the real app in process, over every store backend."""

from __future__ import annotations

import collections
import time
import types
from collections.abc import AsyncIterator
from typing import Any

import pytest

import trebuchet
from trebuchet import AsyncClient

from .integration import (
    FILTER_CASES,
    FILTER_IDS,
    NUMBERS,
    OWN,
    PEER,
    corpus_job,
    expected_ids,
)

ENDPOINT = "http://testserver"
BULK = 50


@pytest.fixture
async def creds(harness: Any) -> Any:
    return await harness.create_user(numbers=NUMBERS)


@pytest.fixture
async def api(harness: Any, creds: Any) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(
        creds.user_id,
        creds.api_token,
        creds.api_secret,
        api_endpoint=ENDPOINT,
        http_client=harness.http(),
    ) as client:
        yield client


@pytest.fixture
async def corpus(harness: Any, creds: Any) -> list[str]:
    job, ids = corpus_job(creds.user_id)
    await harness.store.messages.insert(job)
    return ids


async def test_round_trip(api: AsyncClient) -> None:
    message_id = await api.send_message(OWN, PEER, "hello", tag="t-1")
    message = await api.get_message(message_id)
    assert (message["id"], message["message_id"], message["text"]) == (
        message_id,
        message_id,
        "hello",
    )
    assert message["segment_count"] == 1


async def test_paging_over_thousands(api: AsyncClient) -> None:
    sent: list[str] = []
    deadline = time.monotonic() + 120
    for start in range(0, 1_500, BULK):
        assert time.monotonic() < deadline
        batch = [{"from": OWN, "to": PEER, "text": f"m{n}"} for n in range(start, start + BULK)]
        sent += [r["id"] for r in await api.send_messages(batch)]
    assert "" not in sent
    for size, order in ((None, None), (97, "desc"), (1000, "asc")):
        messages = api.list_messages(size=size, sort_order=order)
        assert isinstance(messages, types.AsyncGeneratorType)
        seen = [m["id"] async for m in messages]
        assert [k for k, n in collections.Counter(seen).items() if n > 1] == []
        assert set(seen) == set(sent)


@pytest.mark.parametrize(("filters", "keep"), FILTER_CASES, ids=FILTER_IDS)
async def test_every_filter(
    api: AsyncClient, corpus: list[str], filters: dict[str, Any], keep: Any
) -> None:
    found = [m["id"] async for m in api.list_messages(**filters)]
    assert sorted(found) == sorted(expected_ids(corpus, keep))


async def test_error_paths(harness: Any, api: AsyncClient, creds: Any) -> None:
    with pytest.raises(trebuchet.NotFoundError) as not_found:
        await api.get_message("m-unknown")
    assert not_found.value.code == "message-not-found"

    with pytest.raises(trebuchet.BadRequestError) as bad:
        await api.send_message(OWN, PEER)
    assert bad.value.code == "missing-property"

    with pytest.raises(trebuchet.PermissionDeniedError) as limit:
        await api.send_messages([{"from": OWN, "to": PEER, "text": "x"}] * 51)
    assert limit.value.code == "multi-message-limit"

    async with AsyncClient(
        creds.user_id,
        creds.api_token,
        "wrong-secret",
        api_endpoint=ENDPOINT,
        http_client=harness.http(),
    ) as wrong:
        with pytest.raises(trebuchet.AuthenticationError) as denied:
            await wrong.get_message("m-any")
        assert denied.value.status_code == 401
        with pytest.raises(trebuchet.AuthenticationError):
            await wrong.list_messages().__anext__()


async def test_idempotency_key_replays(harness: Any, creds: Any) -> None:
    http = harness.http(creds)
    path = harness.messages_path(creds)
    headers = {"Idempotency-Key": "k-1"}
    first = await http.post(path, json={"from": OWN, "to": PEER, "text": "x"}, headers=headers)
    again = await http.post(path, json={"from": OWN, "to": PEER, "text": "x"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.headers["location"] == again.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
