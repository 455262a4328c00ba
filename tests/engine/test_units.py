"""Pure pieces, no clock and no network: retry policies, request building, signing,
the address policy, sandbox number parsing, sender rates."""

from __future__ import annotations

import asyncio
import base64
import ipaddress

import pytest

from trebuchet import verify_signature
from trebuchet._signature import signature_header
from trebuchet.server.callbacks.request import build_request, encode_query, split_credentials
from trebuchet.server.carriers.sandbox import Scenario, scenario
from trebuchet.server.domain.backoff import Backoff, CallbackRetry, SendRetry
from trebuchet.server.domain.times import US
from trebuchet.server.engine.throttle import SenderLimits, parse_rates
from trebuchet.server.net.guard import AddressPolicy, AddressRefused


def test_backoff_doubles_up_to_its_cap_and_jitter_only_shortens() -> None:
    backoff = Backoff(initial=1, factor=2, maximum=10, jitter=0.2)
    assert [backoff.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert backoff.delay(3, draw=0.999999) == pytest.approx(3.2, rel=1e-3)
    assert backoff.delay(10_000) == 10  # no overflow
    with pytest.raises(ValueError, match="from 1"):
        backoff.delay(0)


def test_send_retry_honours_retry_after_and_gives_up() -> None:
    retry = SendRetry(Backoff(initial=1, factor=2, maximum=60, jitter=0), max_attempts=3)
    assert retry.next_delay_us(1, None, 0) == US
    assert retry.next_delay_us(2, 10.0, 0) == 10 * US
    assert retry.next_delay_us(3, None, 0) is None


def test_callback_retry_stops_at_the_end_of_its_window() -> None:
    retry = CallbackRetry(Backoff(initial=1, factor=2, maximum=3600, jitter=0), window_us=60 * US)
    assert retry.next_due_us(1, now=0, expires_us=60 * US, draw=0) == US
    assert retry.next_due_us(7, now=10 * US, expires_us=60 * US, draw=0) == 60 * US  # clipped
    assert retry.next_due_us(8, now=60 * US, expires_us=60 * US, draw=0) is None


def test_post_request_is_compact_json_with_headers() -> None:
    request = build_request(
        "https://user:p%40ss@hooks.example.test/cb", "POST", '{"text":"héllo","segmentCount":1}',
        event_id="ev-1", sequence=2, attempt=3, secret=None, timestamp=0,
    )  # fmt: skip
    assert request.method == "POST"
    assert request.url == "https://hooks.example.test/cb"
    assert request.body == '{"text":"héllo","segmentCount":1}'.encode()
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"user:p@ss").decode()
    assert request.headers["Trebuchet-Event-Id"] == "ev-1"
    assert request.headers["Trebuchet-Event-Sequence"] == "2"
    assert request.headers["Trebuchet-Event-Attempt"] == "3"
    assert "Trebuchet-Signature" not in request.headers


def test_get_request_merges_queries_and_keeps_fragments() -> None:
    request = build_request(
        "http://h.example.test:8080/cb?a=1#frag", "get", '{"from":"+1555","media":["x","y"]}',
        event_id="ev-1", sequence=1, attempt=1, secret="s", timestamp=1700000000,
    )  # fmt: skip
    assert request.method == "GET" and request.body is None
    assert request.url == "http://h.example.test:8080/cb?a=1&from=%2B1555&media=%5Bx%2C%20y%5D#frag"
    query = "a=1&from=%2B1555&media=%5Bx%2C%20y%5D"
    signed = signature_header("s", 1700000000, "ev-1", 1, query.encode())
    assert request.headers["Trebuchet-Signature"] == signed


def test_query_encoding_of_values() -> None:
    assert encode_query({"a": True, "b": 7, "c": "x y&z"}) == "a=true&b=7&c=x%20y%26z"


def test_credentials_are_split_from_ipv6_urls() -> None:
    bare, auth = split_credentials("http://u:p@[::1]:81/x?q")
    assert bare == "http://[::1]:81/x?q" and auth is not None
    assert split_credentials("http://h/x") == ("http://h/x", None)


def test_signature_format_and_verification() -> None:
    header = signature_header("secret", 1700000000, "ev-1", 4, b'{"a":1}')
    assert header.startswith("t=1700000000,v2=") and len(header.split("v2=")[1]) == 64

    def verify(header: str, now: int, event_id: str = "ev-1", sequence: str = "4") -> bool:
        return verify_signature(
            "secret", header, b'{"a":1}', event_id=event_id, sequence=sequence, now=now
        )

    assert verify(header, now=1700000100)
    assert not verify(header, now=1700001000)  # too old
    assert not verify("garbage", now=1700000000)
    assert not verify(header, now=1700000000, event_id="ev-2")
    assert not verify(header, now=1700000000, sequence="5")


def test_the_server_signs_the_event_id_and_sequence_it_sends() -> None:
    request = build_request(
        "http://h.example.test/cb", "POST", '{"a":1}',
        event_id="ev-9", sequence=7, attempt=2, secret="s", timestamp=1700000000,
    )  # fmt: skip
    headers = request.headers
    assert request.body is not None
    assert verify_signature(
        "s",
        headers["Trebuchet-Signature"],
        request.body,
        event_id=headers["Trebuchet-Event-Id"],
        sequence=headers["Trebuchet-Event-Sequence"],
        now=1700000000,
    )
    assert not verify_signature(
        "s",
        headers["Trebuchet-Signature"],
        request.body,
        event_id="ev-10",
        sequence=headers["Trebuchet-Event-Sequence"],
        now=1700000000,
    )


@pytest.mark.parametrize(
    ("address", "loopback", "private"),
    [
        ("93.184.216.34", True, True),
        ("127.0.0.1", True, False),
        ("::1", True, False),
        ("::ffff:127.0.0.1", True, False),
        ("0.0.0.0", True, False),
        ("10.0.0.1", False, True),
        ("192.168.1.1", False, True),
        ("169.254.169.254", False, True),
        ("fe80::1", False, True),
        ("224.0.0.1", False, True),
    ],
)
def test_address_policy(address: str, loopback: bool, private: bool) -> None:
    """Each setting opens its own kind of address and nothing else."""
    ip = ipaddress.ip_address(address)
    assert AddressPolicy(allow_loopback=True, allow_private=False).permits(ip) is loopback
    assert AddressPolicy(allow_loopback=False, allow_private=True).permits(ip) is private
    assert AddressPolicy(allow_loopback=True, allow_private=True).permits(ip)
    assert AddressPolicy().permits(ip) is (loopback and private)


def test_address_policy_checks_literal_urls() -> None:
    policy = AddressPolicy(allow_loopback=False, allow_private=False)
    with pytest.raises(AddressRefused):
        asyncio.run(policy.check_url("http://10.1.1.1/media.jpg"))
    asyncio.run(policy.check_url("http://93.184.216.34/media.jpg"))


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+15559990000", Scenario(0, 0)),
        ("+15559990720", Scenario(0, 720)),
        ("+15559990721", None),  # not a delivery code: an ordinary number
        ("+15559991030", Scenario(1, 30)),
        ("+15559992000", Scenario(2, 0)),
        ("+15559993005", Scenario(3, 5)),
        ("+15559994000", Scenario(4, 0)),
        ("+15559995000", None),
        ("+15557654321", None),
        ("+155599900001", None),
    ],
)
def test_sandbox_magic_numbers(number: str, expected: Scenario | None) -> None:
    assert scenario(number) == expected


def test_sender_rates() -> None:
    limits = SenderLimits(0.0, parse_rates("+15550001111=1, +15550002222=0.5"))
    assert limits.interval_us("+15550001111") == US
    assert limits.interval_us("+15550002222") == 2 * US
    assert limits.interval_us("+15550003333") is None
    assert SenderLimits(4.0).interval_us("+1") == US // 4
    with pytest.raises(ValueError, match="number=rate"):
        parse_rates("+15550001111")
