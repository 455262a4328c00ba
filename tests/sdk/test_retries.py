"""Retries against a real failing-on-purpose server: backoff, Retry-After, idempotency keys."""

from __future__ import annotations

import time

import pytest

import trebuchet
from trebuchet import Client, RetryPolicy

from .conftest import CREDS, Reply, ScriptedServer, SleepRecorder, json_reply

MESSAGES = "/v1/users/u-testuser/messages"
CREATED = Reply(201, b"", {"Location": f"https://h{MESSAGES}/m-ok"})
UNAVAILABLE = json_reply(
    503, {"category": "unavailable", "code": "internal-error", "message": "busy"}
)


def make(server: ScriptedServer, sleeps: SleepRecorder, **options: object) -> Client:
    policy = RetryPolicy(max_retries=3, backoff_base=0.5, jitter=0.0)
    return Client(*CREDS, api_endpoint=server.url, retry_policy=policy, sleep=sleeps, **options)  # type: ignore[arg-type]


def test_post_is_retried_with_the_same_idempotency_key(
    server: ScriptedServer, sleeps: SleepRecorder
) -> None:
    server.add(UNAVAILABLE, UNAVAILABLE, CREATED)
    with make(server, sleeps) as api:
        assert api.send_message("+15550001111", "+15550002222", "hi") == "m-ok"
    keys = [r.headers["idempotency-key"] for r in server.requests]
    assert len(keys) == 3
    assert len(set(keys)) == 1
    assert [r.body for r in server.requests] == [server.requests[0].body] * 3
    assert sleeps.calls == [0.5, 1.0]


def test_bulk_post_is_retried_with_the_same_key(
    server: ScriptedServer, sleeps: SleepRecorder
) -> None:
    server.add(
        Reply(drop=True), json_reply(202, [{"result": "accepted", "location": "https://h/m/m-1"}])
    )
    with make(server, sleeps) as api:
        results = api.send_messages([{"from": "+15550001111", "to": "+15550002222", "text": "x"}])
    assert results[0]["id"] == "m-1"
    assert len({r.headers["idempotency-key"] for r in server.requests}) == 1
    assert len(server.requests) == 2


def test_get_is_retried(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    server.add(json_reply(500, {"message": "boom"}), json_reply(200, {"id": "m-1"}))
    with make(server, sleeps) as api:
        assert api.get_message("m-1") == {"id": "m-1"}
    assert len(server.requests) == 2


def test_each_page_is_retried_on_its_own(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    next_url = f"{server.url}{MESSAGES}?c=2"
    server.add(
        json_reply(200, [{"id": "a"}], Link=f'<{next_url}>; rel="next"'),
        UNAVAILABLE,
        json_reply(200, [{"id": "b"}]),
    )
    with make(server, sleeps) as api:
        assert [m["id"] for m in api.list_messages()] == ["a", "b"]
    assert [r.target for r in server.requests] == [MESSAGES, f"{MESSAGES}?c=2", f"{MESSAGES}?c=2"]


def test_gives_up_after_max_retries(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    server.add(*[UNAVAILABLE] * 4)
    with make(server, sleeps) as api, pytest.raises(trebuchet.InternalServerError) as info:
        api.get_message("m-1")
    assert info.value.code == "internal-error"
    assert len(server.requests) == 4
    assert sleeps.calls == [0.5, 1.0, 2.0]


def test_max_retries_zero_turns_retries_off(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    server.add(UNAVAILABLE)
    with (
        Client(*CREDS, api_endpoint=server.url, max_retries=0, sleep=sleeps) as api,
        pytest.raises(trebuchet.InternalServerError),
    ):
        api.send_message("+15550001111", "+15550002222", "x")
    assert len(server.requests) == 1
    assert sleeps.calls == []


def test_max_retries_overrides_a_policy(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    server.add(UNAVAILABLE, UNAVAILABLE)
    with make(server, sleeps, max_retries=1) as api, pytest.raises(trebuchet.InternalServerError):
        api.get_message("m-1")
    assert len(server.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(
    server: ScriptedServer, sleeps: SleepRecorder, status: int
) -> None:
    server.add(json_reply(status, {"message": "no"}))
    with make(server, sleeps) as api, pytest.raises(trebuchet.APIStatusError):
        api.send_message("+15550001111", "+15550002222", "x")
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [408, 409, 429, 502, 504])
def test_retryable_statuses(server: ScriptedServer, sleeps: SleepRecorder, status: int) -> None:
    server.add(json_reply(status, {"message": "again"}), CREATED)
    with make(server, sleeps) as api:
        assert api.send_message("+15550001111", "+15550002222", "x") == "m-ok"


def test_429_honours_retry_after(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    limited = json_reply(429, {"code": "rate-limit-reached", "message": "slow"}, Retry_After="4")
    server.add(limited, json_reply(200, []))
    with make(server, sleeps) as api:
        assert list(api.list_messages()) == []
    assert sleeps.calls == [4.0]


def test_429_honours_rate_limit_reset_in_milliseconds(
    server: ScriptedServer, sleeps: SleepRecorder
) -> None:
    reset_ms = int((time.time() + 20) * 1000)
    limited = json_reply(429, {"message": "slow"}, X_RateLimit_Reset=str(reset_ms))
    server.add(limited, json_reply(200, []))
    with make(server, sleeps) as api:
        list(api.list_messages())
    assert len(sleeps.calls) == 1
    assert 15 < sleeps.calls[0] <= 20


def test_a_wait_beyond_the_cap_raises_with_retry_after(
    server: ScriptedServer, sleeps: SleepRecorder
) -> None:
    server.add(json_reply(429, {"message": "slow"}, Retry_After="3600"))
    with make(server, sleeps) as api, pytest.raises(trebuchet.RateLimitError) as info:
        api.get_message("m-1")
    assert info.value.retry_after == 3600
    assert sleeps.calls == []


def test_503_retry_after_is_honoured(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    server.add(
        json_reply(503, {"message": "later"}, Retry_After="1.5"), json_reply(200, {"id": "x"})
    )
    with make(server, sleeps) as api:
        api.get_message("x")
    assert sleeps.calls == [1.5]


def test_connection_errors_are_retried(closed_port_url: str, sleeps: SleepRecorder) -> None:
    policy = RetryPolicy(max_retries=2, backoff_base=0.25, jitter=0.0)
    with (
        Client(*CREDS, api_endpoint=closed_port_url, retry_policy=policy, sleep=sleeps) as api,
        pytest.raises(trebuchet.APIConnectionError),
    ):
        api.send_message("+15550001111", "+15550002222", "x")
    assert sleeps.calls == [0.25, 0.5]


def test_timeouts_are_retried_then_raised(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    server.add(Reply(200, b"{}", delay=0.5), json_reply(200, {"id": "m-1"}))
    with make(server, sleeps, timeout=0.05) as api:
        assert api.get_message("m-1") == {"id": "m-1"}
    assert len(sleeps.calls) == 1


def test_default_sleep_is_real_but_short(server: ScriptedServer) -> None:
    server.add(UNAVAILABLE, json_reply(200, {"id": "m-1"}))
    policy = RetryPolicy(max_retries=1, backoff_base=0.01)
    started = time.monotonic()
    with Client(*CREDS, api_endpoint=server.url, retry_policy=policy) as api:
        api.get_message("m-1")
    assert time.monotonic() - started < 2


def test_retries_are_logged(
    server: ScriptedServer, sleeps: SleepRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    server.add(UNAVAILABLE, json_reply(200, {"id": "m-1"}))
    with caplog.at_level("INFO", logger="trebuchet"), make(server, sleeps) as api:
        api.get_message("m-1")
    assert "Retrying GET" in caplog.text
    assert "HTTP 503" in caplog.text
