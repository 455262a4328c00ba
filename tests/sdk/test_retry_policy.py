"""The retry policy is pure: every decision is checked here without a clock."""

from __future__ import annotations

import email.utils

import pytest

from trebuchet import RetryPolicy
from trebuchet._retry import parse_rate_limit_reset, parse_retry_after

NOW = 1_700_000_000.0


def test_defaults() -> None:
    policy = RetryPolicy()
    assert policy.max_retries == 2
    assert policy.backoff_base == 0.5
    assert policy.backoff_max == 8.0


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 599])
def test_retryable_statuses(status: int) -> None:
    assert RetryPolicy.is_retryable_status(status)
    assert RetryPolicy().delay(0, status=status, now=NOW, rand=0.0) == 0.5


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 410, 413, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    assert not RetryPolicy.is_retryable_status(status)
    assert RetryPolicy().delay(0, status=status, now=NOW, rand=0.0) is None


def test_connection_errors_and_timeouts_are_retried() -> None:
    assert RetryPolicy().delay(0, status=None, now=NOW, rand=0.0) == 0.5


def test_exponential_backoff_is_capped() -> None:
    policy = RetryPolicy(max_retries=10, backoff_base=0.5, backoff_max=3.0, jitter=0.0)
    delays = [policy.delay(n, status=503, now=NOW, rand=0.9) for n in range(6)]
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_jitter_shortens_by_at_most_the_fraction() -> None:
    policy = RetryPolicy(backoff_base=1.0, jitter=0.25)
    assert policy.backoff(0, rand=0.0) == 1.0
    assert policy.backoff(0, rand=0.5) == 0.875
    assert policy.backoff(1, rand=0.999999) == pytest.approx(1.5, abs=1e-5)


def test_attempts_are_bounded_by_max_retries() -> None:
    policy = RetryPolicy(max_retries=2)
    assert policy.delay(1, status=503, now=NOW, rand=0) is not None
    assert policy.delay(2, status=503, now=NOW, rand=0) is None


def test_zero_retries_turns_retrying_off() -> None:
    policy = RetryPolicy(max_retries=0)
    assert policy.delay(0, status=503, now=NOW, rand=0) is None
    assert policy.delay(0, status=None, now=NOW, rand=0) is None


def test_non_idempotent_requests_are_never_retried() -> None:
    assert RetryPolicy().delay(0, status=503, now=NOW, rand=0, idempotent=False) is None
    assert RetryPolicy().delay(0, status=None, now=NOW, rand=0, idempotent=False) is None


def test_retry_after_seconds_wins_over_backoff() -> None:
    delay = RetryPolicy().delay(0, status=503, headers={"retry-after": "7"}, now=NOW, rand=0.5)
    assert delay == 7.0


def test_retry_after_http_date() -> None:
    date = email.utils.formatdate(NOW + 12, usegmt=True)
    assert (
        RetryPolicy().delay(0, status=429, headers={"retry-after": date}, now=NOW, rand=0) == 12.0
    )


def test_rate_limit_reset_is_epoch_milliseconds() -> None:
    headers = {"x-ratelimit-reset": str(int((NOW + 3.25) * 1000))}
    assert RetryPolicy().delay(0, status=429, headers=headers, now=NOW, rand=0) == 3.25


def test_rate_limit_reset_only_counts_on_429() -> None:
    headers = {"x-ratelimit-reset": str(int((NOW + 30) * 1000))}
    assert RetryPolicy().delay(0, status=503, headers=headers, now=NOW, rand=0) == 0.5


def test_retry_after_beats_rate_limit_reset() -> None:
    headers = {"retry-after": "2", "x-ratelimit-reset": str(int((NOW + 30) * 1000))}
    assert RetryPolicy().delay(0, status=429, headers=headers, now=NOW, rand=0) == 2.0


def test_a_wait_longer_than_the_cap_gives_up() -> None:
    policy = RetryPolicy(max_retry_after=10)
    assert policy.delay(0, status=429, headers={"retry-after": "11"}, now=NOW, rand=0) is None
    assert policy.delay(0, status=429, headers={"retry-after": "10"}, now=NOW, rand=0) == 10


def test_past_reset_means_retry_now() -> None:
    headers = {"x-ratelimit-reset": str(int((NOW - 5) * 1000))}
    assert RetryPolicy().delay(0, status=429, headers=headers, now=NOW, rand=0) == 0.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("  3 ", 3.0),
        ("1.5", 1.5),
        ("-4", 0.0),
        ("soon", None),
        ("nan", None),
        ("Wed, 21 Oct 2015 07:28:00", None),  # no zone: not a valid HTTP date
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("x", None),
        (str(int(NOW * 1000) + 1500), 1.5),
        (str(int(NOW) + 4), 4.0),  # seconds by mistake: recognised by its size
        ("inf", None),
    ],
)
def test_parse_rate_limit_reset(value: str | None, expected: float | None) -> None:
    assert parse_rate_limit_reset(value, NOW) == expected


@pytest.mark.parametrize(
    "kwargs", [{"max_retries": -1}, {"backoff_base": -1}, {"backoff_max": -0.1}, {"jitter": 1.5}]
)
def test_invalid_policies(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
