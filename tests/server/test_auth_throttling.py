"""One failed-authentication throttle for every kind of credential, keyed so that a
stranger cannot lock an owner out, and unknown API tokens indistinguishable from known
ones (same answers, same work)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Harness
from trebuchet.server.api import context
from trebuchet.server.store import User

Build = Callable[..., Awaitable[Harness]]

ADMIN = "admin-token-0123"
EVENTS = "events-token-4567"
CARRIERS = {"up": {"type": "http", "url": "http://127.0.0.1:9/send", "events_token": EVENTS}}
WINDOW = 0.5
LIMIT = 4


def _client(h: Harness, ip: str, **kwargs: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=h.app, client=(ip, 40000))
    client = httpx.AsyncClient(transport=transport, base_url="http://testserver", **kwargs)
    h._clients.append(client)
    return client


async def _throttled_app(tuned_app: Build, **overrides: Any) -> Harness:
    settings: dict[str, Any] = {
        "admin_token": ADMIN,
        "carriers": CARRIERS,
        "auth_failure_limit_token": LIMIT,
        "auth_failure_limit_ip": 100,
        "auth_failure_window_seconds": WINDOW,
    }
    return await tuned_app(**{**settings, **overrides})


async def test_admin_tokens_are_throttled_like_api_credentials(tuned_app: Build) -> None:
    h = await _throttled_app(tuned_app)
    await h.create_user(["+15550001111"])
    http = _client(h, "10.0.0.5")
    inbound = {"from": "+15550002222", "to": "+15550001111", "text": "hi"}

    async def post(token: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return await http.post("/v1/admin/inbound", json=inbound, headers=headers)

    for attempt in range(LIMIT):
        assert (await post(f"wrong-{attempt}")).status_code == 401
    blocked = await post(ADMIN)
    assert blocked.status_code == 429, blocked.text  # the right token learns nothing
    assert blocked.json()["code"] == "rate-limit-reached"
    # Another client is not blocked by this one's failures.
    other = await _client(h, "10.0.0.6").post(
        "/v1/admin/inbound", json=inbound, headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert other.status_code == 201
    await asyncio.sleep(WINDOW + 0.1)
    assert (await post(ADMIN)).status_code == 201


async def test_carrier_event_credentials_are_throttled(tuned_app: Build) -> None:
    h = await _throttled_app(tuned_app)
    http = _client(h, "10.0.0.7")
    event = {"type": "other"}

    async def post(token: str) -> httpx.Response:
        return await http.post(f"/v1/carriers/up/events?token={token}", json=event)

    for attempt in range(LIMIT):
        assert (await post(f"wrong-{attempt}")).status_code == 401
    blocked = await post(EVENTS)
    assert blocked.status_code == 429, blocked.text
    await asyncio.sleep(WINDOW + 0.1)
    answer = await post(EVENTS)
    assert answer.status_code == 200 and answer.json() == {"done": "ignored"}


async def test_all_credentials_share_the_per_ip_limit(tuned_app: Build) -> None:
    h = await _throttled_app(tuned_app, auth_failure_limit_ip=3)
    alice = await h.create_user()
    http = _client(h, "10.0.0.8")
    assert (await http.post("/v1/carriers/up/events?token=x", json={})).status_code == 401
    wrong_admin = {"Authorization": "Bearer x"}
    assert (await http.post("/v1/admin/inbound", json={}, headers=wrong_admin)).status_code == 401
    wrong_api = (alice.api_token, "x")
    assert (await http.get(h.messages_path(alice), auth=wrong_api)).status_code == 401
    assert (await http.get(h.messages_path(alice), auth=alice.auth)).status_code == 429


async def test_a_stranger_cannot_lock_the_owner_out(tuned_app: Build) -> None:
    h = await tuned_app(auth_failure_limit_token=LIMIT, auth_failure_limit_ip=100)
    alice = await h.create_user()
    path = h.messages_path(alice)
    stranger = _client(h, "203.0.113.9")
    for attempt in range(LIMIT * 3):
        await stranger.get(path, auth=(alice.api_token, f"guess-{attempt}"))
    assert (await stranger.get(path, auth=alice.auth)).status_code == 429
    owner = _client(h, "198.51.100.4", auth=alice.auth)
    assert (await owner.get(path)).status_code == 200


def _comparable(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k not in ("x-request-id", "date")}
    return response.status_code, response.json(), headers


async def test_unknown_tokens_answer_exactly_like_known_ones(tuned_app: Build) -> None:
    h = await tuned_app(auth_failure_limit_token=LIMIT, auth_failure_limit_ip=100)
    alice = await h.create_user()
    path = h.messages_path(alice)
    known, unknown = [], []
    http = _client(h, "10.0.1.1")
    for attempt in range(LIMIT + 1):
        known.append(await http.get(path, auth=(alice.api_token, f"wrong-{attempt}")))
        unknown.append(await http.get(path, auth=("t-nobody-has-this", f"wrong-{attempt}")))
    assert [r.status_code for r in known] == [401] * LIMIT + [429]
    assert [r.status_code for r in unknown] == [401] * LIMIT + [429]
    assert _comparable(known[0]) == _comparable(unknown[0])
    assert known[-1].json()["code"] == unknown[-1].json()["code"] == "rate-limit-reached"


async def test_unknown_tokens_cost_the_same_work(
    tuned_app: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong secret is hashed and compared, and the token looked up in the store once
    per cache period, whether or not the token exists."""
    h = await tuned_app(auth_failure_limit_token=0, auth_failure_limit_ip=0)
    alice = await h.create_user()
    path = h.messages_path(alice)
    hashes: list[str] = []
    lookups: list[str] = []
    real_matches = context.secret_matches
    real_lookup = h.store.users.by_token

    def counting_matches(secret: str, secret_hash: str) -> bool:
        hashes.append(secret_hash)
        return real_matches(secret, secret_hash)

    async def counting_lookup(token: str) -> User | None:
        lookups.append(token)
        return await real_lookup(token)

    monkeypatch.setattr(context, "secret_matches", counting_matches)
    monkeypatch.setattr(h.store.users, "by_token", counting_lookup)
    http = h.http()
    work = {}
    for token in (alice.api_token, "t-unknown-token-000000000"):
        hashes.clear()
        lookups.clear()
        for attempt in range(3):
            assert (await http.get(path, auth=(token, f"wrong-{attempt}"))).status_code == 401
        work[token] = (len(hashes), len(lookups), {len(value) for value in hashes})
    assert work[alice.api_token] == work["t-unknown-token-000000000"] == (3, 1, {64})
