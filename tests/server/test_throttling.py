"""Per-user request rate limits and failed-authentication throttling, through the API."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest

from tests.conftest import Harness

Build = Callable[..., Awaitable[Harness]]


def _assert_429(response: object) -> int:
    """The spec's 429 (open point 23); returns the Retry-After seconds."""
    import httpx

    assert isinstance(response, httpx.Response)
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["category"] == "too-many-requests"
    assert body["code"] == "rate-limit-reached"
    assert body["message"]
    reset = int(response.headers["X-RateLimit-Reset"])
    assert {"name": "rateLimitResetTime", "value": str(reset)} in body["details"]
    now_ms = time.time() * 1000
    assert now_ms - 1000 < reset < now_ms + 3_600_000  # epoch milliseconds, not seconds
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    return retry_after


async def test_requests_over_the_rate_get_429(tuned_app: Build) -> None:
    h = await tuned_app(rate_limit_per_second=0.5, rate_limit_burst=3)
    alice = await h.create_user(["+15550001111"])
    bob = await h.create_user(["+15550002222"])
    http = h.http(alice)
    path = h.messages_path(alice)
    statuses = [(await http.get(path)).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = await http.post(path, json={"from": alice.numbers[0], "to": "+15550003333"})
    assert _assert_429(refused) == 2  # one token every 2 s
    # Per user: Bob still has his whole burst.
    assert (await h.http(bob).get(h.messages_path(bob))).status_code == 200
    # Unauthenticated endpoints are not rate limited.
    assert (await http.get("/health")).status_code == 200


async def test_rate_limits_off_cost_no_headers(tuned_app: Build) -> None:
    h = await tuned_app()
    alice = await h.create_user()
    http = h.http(alice)
    for _ in range(50):
        response = await http.get(h.messages_path(alice))
        assert response.status_code == 200
        assert "Retry-After" not in response.headers
    assert h.app.state.services.guard.rate is None


async def test_failed_auth_is_throttled_per_token(tuned_app: Build) -> None:
    h = await tuned_app(auth_failure_limit_token=3, auth_failure_limit_ip=100)
    alice = await h.create_user()
    http = h.http()
    path = h.messages_path(alice)
    for attempt in range(3):
        wrong = await http.get(path, auth=(alice.api_token, f"guess-{attempt}"))
        assert wrong.status_code == 401
    # Blocked: even the right secret gets 429 now, so a guess learns nothing.
    assert _assert_429(await http.get(path, auth=alice.auth)) <= 60
    assert _assert_429(await http.get(path, auth=(alice.api_token, "guess"))) <= 60


async def test_failed_auth_is_throttled_per_client_ip(tuned_app: Build) -> None:
    h = await tuned_app(auth_failure_limit_ip=4, auth_failure_window_seconds=30)
    alice = await h.create_user()
    http = h.http()
    path = h.messages_path(alice)
    bad = [None, ("t-nobody", "x"), ("t-nobody2", "y"), ("t-nobody3", "z")]
    for auth in bad:
        assert (await http.get(path, auth=auth)).status_code == 401
    assert _assert_429(await http.get(path, auth=alice.auth)) <= 30


async def test_each_presented_token_is_counted_on_its_own(tuned_app: Build) -> None:
    h = await tuned_app(auth_failure_limit_ip=0, auth_failure_limit_token=1)
    alice = await h.create_user()
    http = h.http()
    for index in range(5):
        response = await http.get(h.messages_path(alice), auth=(f"t-x{index}", "s"))
        assert response.status_code == 401
    assert (await http.get(h.messages_path(alice), auth=alice.auth)).status_code == 200
    # A token presented again after its limit is blocked, whether or not it exists.
    assert (await http.get(h.messages_path(alice), auth=("t-x0", "s"))).status_code == 429


async def test_throttling_can_be_switched_off(tuned_app: Build) -> None:
    h = await tuned_app(auth_failure_limit_ip=0, auth_failure_limit_token=0)
    alice = await h.create_user()
    http = h.http()
    for _ in range(30):
        wrong = await http.get(h.messages_path(alice), auth=(alice.api_token, "wrong"))
        assert wrong.status_code == 401
    assert (await http.get(h.messages_path(alice), auth=alice.auth)).status_code == 200


async def test_redis_limits_are_shared_between_app_processes(
    tuned_app: Build, redis_server: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two apps (as two API processes would) on one Redis share one user's bucket."""
    from trebuchet.server.limits import redis_backend

    monkeypatch.setattr(redis_backend, "KEY_PREFIX", redis_prefix)
    settings = {
        "limiter_backend": "redis",
        "redis_url": redis_server,
        "rate_limit_per_second": 0.2,
        "rate_limit_burst": 4,
    }
    first = await tuned_app(**settings)
    second = await tuned_app(**settings)
    alice = await first.create_user()  # both apps use one database
    statuses = []
    for index in range(6):
        app = (first, second)[index % 2]
        response = await app.http(alice).get(app.messages_path(alice))
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 200, 429, 429]
