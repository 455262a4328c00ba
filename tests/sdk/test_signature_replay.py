"""The callback signature covers the event id and sequence, so a captured callback cannot
be replayed under a fresh ``Trebuchet-Event-Id`` (or sequence) to pass deduplication; and
a header of the earlier scheme is refused loudly by either side, never accepted."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

import trebuchet
from trebuchet import parse_event, parse_event_query, sign_payload, verify_signature
from trebuchet._signature import signed_string
from trebuchet.server.callbacks.request import build_request

SECRET = "whsec-replay"
NOW = 1_700_000_000
BODY = json.dumps(
    {"eventType": "sms", "direction": "out", "messageId": "m-1", "from": "+15550001111",
     "to": "+15550002222", "text": "hi", "state": "sent", "time": "2023-11-14T22:13:20Z"}
).encode()  # fmt: skip


def signed_headers(event_id: str = "ev-1", sequence: int = 2) -> dict[str, str]:
    return {
        "Trebuchet-Event-Id": event_id,
        "Trebuchet-Event-Sequence": str(sequence),
        "Trebuchet-Signature": sign_payload(SECRET, BODY, event_id=event_id, sequence=sequence),
    }


def test_the_original_callback_verifies() -> None:
    event = parse_event(BODY, signed_headers(), secret=SECRET)
    assert (event.event_id, event.sequence) == ("ev-1", 2)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Trebuchet-Event-Id", "ev-2"),  # a fresh id to get past deduplication
        ("Trebuchet-Event-Id", "ev-1 "),
        ("Trebuchet-Event-Sequence", "3"),
        ("Trebuchet-Event-Sequence", "02"),
    ],
)
def test_a_replay_with_changed_event_headers_fails(header: str, value: str) -> None:
    replay = {**signed_headers(), header: value}
    with pytest.raises(trebuchet.WebhookVerificationError, match="does not match"):
        parse_event(BODY, replay, secret=SECRET)
    assert not verify_signature(
        SECRET,
        replay["Trebuchet-Signature"],
        BODY,
        event_id=replay["Trebuchet-Event-Id"],
        sequence=replay["Trebuchet-Event-Sequence"],
        now=None,
    )


@pytest.mark.parametrize("missing", ["Trebuchet-Event-Id", "Trebuchet-Event-Sequence"])
def test_the_event_headers_are_required(missing: str) -> None:
    headers = signed_headers()
    del headers[missing]
    with pytest.raises(trebuchet.WebhookVerificationError, match=f"{missing} header is missing"):
        parse_event(BODY, headers, secret=SECRET)
    assert not verify_signature(
        SECRET,
        headers["Trebuchet-Signature"],
        BODY,
        event_id=headers.get("Trebuchet-Event-Id"),
        sequence=headers.get("Trebuchet-Event-Sequence"),
    )


def test_a_get_replay_with_a_fresh_event_id_fails() -> None:
    query = "eventType=sms&messageId=m-1&from=%2B15550001111&to=%2B15550002222"
    headers = {
        "Trebuchet-Event-Id": "ev-1",
        "Trebuchet-Event-Sequence": "1",
        "Trebuchet-Signature": sign_payload(SECRET, query, event_id="ev-1", sequence=1),
    }
    assert parse_event_query(query, headers, secret=SECRET).event_id == "ev-1"
    with pytest.raises(trebuchet.WebhookVerificationError):
        parse_event_query(query, {**headers, "Trebuchet-Event-Id": "ev-9"}, secret=SECRET)


def old_v1_header(secret: str, stamp: int, payload: bytes) -> str:
    """What servers sent before: the timestamp and payload only."""
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256)
    return f"t={stamp},v1={digest.hexdigest()}"


def old_verifier(secret: str, header: str, payload: bytes, now: int) -> bool:
    """The earlier SDK's check, as receivers that have not upgraded still run it."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    if "v1" not in parts or abs(now - int(parts["t"])) > 300:
        return False
    expected = old_v1_header(secret, int(parts["t"]), payload).split("v1=")[1]
    return hmac.compare_digest(expected, parts["v1"])


def test_an_earlier_scheme_header_is_refused_and_named() -> None:
    headers = {**signed_headers(), "Trebuchet-Signature": old_v1_header(SECRET, NOW, BODY)}
    with pytest.raises(trebuchet.WebhookVerificationError, match="retired scheme v1"):
        parse_event(BODY, headers, secret=SECRET, tolerance=None)


def test_a_receiver_still_checking_the_earlier_scheme_refuses_the_new_header() -> None:
    request = build_request(
        "http://h.example.test/cb", "POST", BODY.decode(),
        event_id="ev-1", sequence=2, attempt=1, secret=SECRET, timestamp=NOW,
    )  # fmt: skip
    assert request.body == BODY
    assert old_verifier(SECRET, old_v1_header(SECRET, NOW, BODY), BODY, NOW)  # it did work
    assert not old_verifier(SECRET, request.headers["Trebuchet-Signature"], BODY, NOW)
    assert verify_signature(
        SECRET,
        request.headers["Trebuchet-Signature"],
        BODY,
        event_id="ev-1",
        sequence=2,
        now=NOW,
    )


@pytest.mark.parametrize(
    ("event_id", "sequence"), [("ev.1", 2), ("", 2), ("ev-1", "2a"), ("ev-1", -1)]
)
def test_values_that_could_read_two_ways_are_never_signed(event_id: str, sequence: object) -> None:
    with pytest.raises(ValueError, match=r"an event (id|sequence) must"):
        signed_string(NOW, event_id, sequence, BODY)  # type: ignore[arg-type]
    assert not verify_signature(
        SECRET,
        f"t={NOW},v2={'0' * 64}",
        BODY,
        event_id=event_id,
        sequence=sequence,  # type: ignore[arg-type]
        now=NOW,
    )


def test_the_signed_string_is_readable() -> None:
    assert signed_string(NOW, "ev-1", 2, b"{}") == f"{NOW}.ev-1.2.{{}}".encode()
