"""An ``Idempotency-Key`` stands for one request: the same request replays its first
answer; a different body under the same key is a 422 and creates nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import func, select

from tests.conftest import Credentials, Harness
from trebuchet.server.store import tables as t

FROM = "+15550001111"
TO = "+15557770000"


async def _count(harness: Harness) -> int:
    async with harness.store.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(t.messages)) or 0)


def _assert_reused(response: httpx.Response, key: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["category"] == "unprocessable"
    assert body["code"] == "idempotency-key-reused"
    assert key in body["message"] and "different request" in body["message"]
    assert {"name": "idempotencyKey", "value": key} in body["details"]
    assert "idempotent-replayed" not in response.headers


async def _post(http: httpx.AsyncClient, creds: Credentials, body: Any, key: str) -> httpx.Response:
    return await http.post(
        f"/v1/users/{creds.user_id}/messages",
        content=body if isinstance(body, bytes) else json.dumps(body).encode(),
        headers={"Idempotency-Key": key, "Content-Type": "application/json"},
    )


async def test_one_message_with_another_body_is_refused(harness: Harness) -> None:
    creds = await harness.create_user([FROM])
    http = harness.http(creds)
    first = await _post(http, creds, {"from": FROM, "to": TO, "text": "first"}, "k1")
    assert first.status_code == 201
    _assert_reused(await _post(http, creds, {"from": FROM, "to": TO, "text": "second"}, "k1"), "k1")
    assert await _count(harness) == 1
    # the key still stands for the first request
    again = await _post(http, creds, {"from": FROM, "to": TO, "text": "first"}, "k1")
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    listed = (await http.get(f"/v1/users/{creds.user_id}/messages")).json()
    assert [m["text"] for m in listed] == ["first"]


async def test_the_same_body_spelled_differently_still_replays(harness: Harness) -> None:
    creds = await harness.create_user([FROM])
    http = harness.http(creds)
    compact = f'{{"from":"{FROM}","to":"{TO}","text":"x"}}'.encode()
    spaced = f'{{ "text": "x",\n  "to": "{TO}", "from": "{FROM}" }}'.encode()
    first = await _post(http, creds, compact, "k")
    second = await _post(http, creds, spaced, "k")
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.headers["idempotent-replayed"] == "true"
    assert await _count(harness) == 1


async def test_bulk_with_another_body_is_refused(harness: Harness) -> None:
    creds = await harness.create_user([FROM])
    http = harness.http(creds)
    bulk = [{"from": FROM, "to": TO, "text": "a"}, {"from": FROM, "to": TO, "text": "b"}]
    first = await _post(http, creds, bulk, "bulk")
    assert first.status_code == 202
    _assert_reused(await _post(http, creds, [*bulk, {"from": FROM, "to": TO, "text": "c"}],
                               "bulk"), "bulk")  # fmt: skip
    _assert_reused(await _post(http, creds, bulk[0], "bulk"), "bulk")  # an object this time
    assert await _count(harness) == 2
    again = await _post(http, creds, bulk, "bulk")
    assert again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await _count(harness) == 2


async def test_keys_stay_per_user(harness: Harness) -> None:
    alice = await harness.create_user([FROM])
    bob = await harness.create_user(["+15550002222"])
    one = await _post(harness.http(alice), alice, {"from": FROM, "to": TO, "text": "a"}, "k")
    two = await _post(harness.http(bob), bob, {"from": "+15550002222", "to": TO, "text": "b"}, "k")
    assert (one.status_code, two.status_code) == (201, 201)
    assert "idempotent-replayed" not in two.headers
    assert await _count(harness) == 2


async def test_keys_stored_before_hashes_replay_whatever_the_body(harness: Harness) -> None:
    """A key written before requests were hashed has no hash: it replays as it always did."""
    creds = await harness.create_user([FROM])
    http = harness.http(creds)
    first = await _post(http, creds, {"from": FROM, "to": TO, "text": "old"}, "legacy")
    async with harness.store.write() as conn:
        await conn.execute(t.idempotency_keys.update().values(request_hash=None))
    again = await _post(http, creds, {"from": FROM, "to": TO, "text": "new"}, "legacy")
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert await _count(harness) == 1
