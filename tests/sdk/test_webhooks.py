"""Callback parsing (spec §4.3, §4.4) and signature checks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest

import trebuchet
from trebuchet import MessageEvent, parse_event, parse_event_query, sign_payload, verify_signature

SECRET = "whsec-test"
NOW = 1_700_000_000

INBOUND_SMS = {
    "eventType": "sms",
    "direction": "in",
    "messageId": "m-dr4mcch2wfb6frcls677glq",
    "messageUri": "https://sms.example.test/v1/users/u-1/messages/m-dr4mcch2wfb6frcls677glq",
    "from": "+15550002222",
    "to": "+15550001111",
    "text": "STOP",
    "applicationId": "a-abc",
    "time": "2023-11-14T22:15:02.004Z",
    "state": "received",
    "segmentCount": 1,
}

RECEIPT = {
    "eventType": "sms",
    "direction": "out",
    "messageId": "m-x",
    "messageUri": "https://sms.example.test/v1/users/u-1/messages/m-x",
    "from": "+15550001111",
    "to": "+15550002222",
    "text": "Your code is 4417",
    "time": "2023-11-14T22:13:20Z",
    "state": "sent",
    "deliveryState": "not-delivered",
    "deliveryCode": 720,
    "deliveryDescription": "Invalid Destination Address",
    "segmentCount": 1,
    "tag": "otp-17",
}

HEADERS = {"Trebuchet-Event-Id": "ev-123", "Trebuchet-Event-Sequence": "3"}


def test_inbound_sms_from_raw_bytes() -> None:
    event = parse_event(json.dumps(INBOUND_SMS).encode(), HEADERS)
    assert event == MessageEvent(
        event_type="sms",
        direction="in",
        from_="+15550002222",
        to="+15550001111",
        message_id="m-dr4mcch2wfb6frcls677glq",
        message_uri=INBOUND_SMS["messageUri"],  # type: ignore[arg-type]
        text="STOP",
        application_id="a-abc",
        time=dt.datetime(2023, 11, 14, 22, 15, 2, 4000, tzinfo=dt.UTC),
        state="received",
        segment_count=1,
        media=(),
        event_id="ev-123",
        sequence=3,
    )
    assert event.delivery_state is None
    assert event.delivery_code is None
    assert event.tag is None
    assert event.raw == INBOUND_SMS


def test_receipt_from_a_mapping_or_str() -> None:
    for body in (RECEIPT, json.dumps(RECEIPT)):
        event = parse_event(body)
        assert event.delivery_state == "not-delivered"
        assert event.delivery_code == 720
        assert event.delivery_description == "Invalid Destination Address"
        assert event.tag == "otp-17"
        assert event.application_id is None
        assert event.event_id is None
        assert event.sequence is None
        assert event.time == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)


def test_delivery_code_as_a_string_is_an_int() -> None:
    assert parse_event({**RECEIPT, "deliveryCode": "0"}).delivery_code == 0


def test_inbound_mms() -> None:
    media = [
        "https://sms.example.test/v1/users/u-1/media/a-m-1.jpg",
        "https://sms.example.test/v1/users/u-1/media/123_1-m-1.smil",
    ]
    event = parse_event({**INBOUND_SMS, "eventType": "mms", "media": media, "text": None})
    assert event.event_type == "mms"
    assert event.media == tuple(media)
    assert event.text == ""


def test_headers_are_case_insensitive_and_may_be_pairs() -> None:
    event = parse_event(
        INBOUND_SMS,
        [
            ("trebuchet-event-id", "ev-9"),
            ("TREBUCHET-EVENT-SEQUENCE", "1"),
            ("Trebuchet-Event-Attempt", "2"),
        ],
    )
    assert (event.event_id, event.sequence, event.attempt) == ("ev-9", 1, 2)


def test_events_are_frozen_and_hashable() -> None:
    event = parse_event(INBOUND_SMS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.text = "changed"  # type: ignore[misc]
    assert hash(event) == hash(parse_event(json.dumps(INBOUND_SMS)))


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'"sms"', json.dumps({"eventType": "sms"}).encode(), {"from": "+1"}],
)
def test_bodies_that_are_not_events(body: object) -> None:
    with pytest.raises(ValueError, match=r"JSON|event"):
        parse_event(body)  # type: ignore[arg-type]


def test_bad_time_or_numbers() -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_event({**INBOUND_SMS, "time": "yesterday"})
    with pytest.raises(ValueError, match="integer"):
        parse_event({**INBOUND_SMS, "segmentCount": "many"})


def test_one_media_url_as_a_string() -> None:
    assert parse_event({**INBOUND_SMS, "media": URL1}).media == (URL1,)
    assert parse_event({**INBOUND_SMS, "media": f"[{URL1}, {URL2}]"}).media == (URL1, URL2)


def test_epoch_millisecond_time() -> None:
    event = parse_event({**INBOUND_SMS, "time": 1479308598680})
    assert event.time == dt.datetime(2016, 11, 16, 15, 3, 18, 680000, tzinfo=dt.UTC)
    assert parse_event({**INBOUND_SMS, "time": None}).time is None


def test_query_mapping_with_a_media_list() -> None:
    event = parse_event_query(
        {**{k: str(v) for k, v in INBOUND_SMS.items()}, "media": [URL1, None]}
    )
    assert event.media == (URL1,)


def test_naive_time_is_utc() -> None:
    event = parse_event({**INBOUND_SMS, "time": "2023-11-14T22:15:02"})
    assert event.time == dt.datetime(2023, 11, 14, 22, 15, 2, tzinfo=dt.UTC)


# -- GET callbacks ------------------------------------------------------------------------


def query_of(data: dict[str, object]) -> str:
    return urlencode({k: str(v) for k, v in data.items()})


def test_get_sms_query() -> None:
    query = query_of(INBOUND_SMS)
    assert "from=%2B15550002222" in query
    for raw in (query, "?" + query, query.encode()):
        event = parse_event_query(raw, HEADERS)
        assert event == parse_event(INBOUND_SMS, HEADERS)


def test_get_query_as_a_mapping() -> None:
    event = parse_event_query({k: str(v) for k, v in RECEIPT.items()})
    assert event.delivery_code == 720
    assert event.segment_count == 1


URL1 = "https://sms.example.test/v1/users/u-1/media/a.jpg"
URL2 = "https://sms.example.test/v1/users/u-1/media/b.smil"


@pytest.mark.parametrize(
    "media_query",
    [
        urlencode({"media": f"[{URL1}, {URL2}]"}),
        urlencode({"media": f"[{URL1},{URL2}]"}),
        urlencode({"media": json.dumps([URL1, URL2])}),
        urlencode([("media", URL1), ("media", URL2)]),
        urlencode([("media[]", URL1), ("media[]", URL2)]),
    ],
)
def test_get_mms_media_in_every_shape(media_query: str) -> None:
    base = query_of({**INBOUND_SMS, "eventType": "mms"})
    event = parse_event_query(f"{base}&{media_query}")
    assert event.media == (URL1, URL2)


@pytest.mark.parametrize(
    ("value", "expected"), [("[]", ()), ("", ()), (URL1, (URL1,)), (f"[{URL1}]", (URL1,))]
)
def test_get_media_edge_cases(value: str, expected: tuple[str, ...]) -> None:
    event = parse_event_query(f"{query_of(INBOUND_SMS)}&{urlencode({'media': value})}")
    assert event.media == expected


def test_get_without_media_is_sms() -> None:
    assert parse_event_query(query_of(INBOUND_SMS)).media == ()


# -- signatures ---------------------------------------------------------------------------

EVENT_ID, SEQUENCE = "ev-123", 3  # the values of HEADERS


def reference_signature(
    secret: str, stamp: int, payload: bytes, event_id: str = "ev-123", sequence: int = 3
) -> str:
    signed = f"{stamp}.{event_id}.{sequence}.".encode() + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def test_sign_payload_matches_the_documented_construction() -> None:
    body = json.dumps(INBOUND_SMS).encode()
    header = sign_payload(SECRET, body, event_id=EVENT_ID, sequence=SEQUENCE, timestamp=NOW)
    assert header == f"t={NOW},v2={reference_signature(SECRET, NOW, body)}"


def test_verify_signature() -> None:
    body = json.dumps(RECEIPT).encode()
    header = f"t={NOW},v2={reference_signature(SECRET, NOW, body)}"
    assert verify_signature(SECRET, header, body, event_id="ev-123", sequence="3", now=NOW)
    assert verify_signature(SECRET, header, body, event_id="ev-123", sequence=3, now=NOW)
    assert verify_signature(
        SECRET.encode(), header, body.decode(), event_id="ev-123", sequence="3", now=NOW + 300
    )
    assert verify_signature(SECRET, header, body, event_id="ev-123", sequence=3, now=NOW - 300)
    assert not verify_signature(SECRET, header, body, event_id="ev-123", sequence=3, now=NOW + 301)
    assert not verify_signature(SECRET, header, body, event_id="ev-123", sequence=3, now=NOW - 301)
    assert verify_signature(
        SECRET, header, body, event_id="ev-123", sequence=3, tolerance=None, now=NOW + 10**6
    )
    assert not verify_signature("other", header, body, event_id="ev-123", sequence=3, now=NOW)
    assert not verify_signature(SECRET, header, body + b" ", event_id="ev-123", sequence=3, now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "v2=abc",
        f"t={NOW}",
        "t=soon,v2=abc",
        f"t={NOW},v2=",
        f"t={NOW},v0=abc",
        "garbage",
    ],
)
def test_malformed_signature_headers(header: str | None) -> None:
    assert not verify_signature(SECRET, header, b"{}", event_id="ev-123", sequence=3, now=NOW)


def test_any_of_several_v2_signatures_may_match() -> None:
    good = reference_signature(SECRET, NOW, b"{}")
    header = f"t={NOW}, v2={'0' * 64}, v2={good.upper()}"
    assert verify_signature(SECRET, header, b"{}", event_id="ev-123", sequence=3, now=NOW)


def test_query_signature_covers_the_raw_query_without_question_mark() -> None:
    query = query_of(INBOUND_SMS)
    header = sign_payload(SECRET, query, event_id=EVENT_ID, sequence=SEQUENCE, timestamp=NOW)
    assert verify_signature(SECRET, header, query, event_id=EVENT_ID, sequence=SEQUENCE, now=NOW)


def test_parse_event_with_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.dumps(INBOUND_SMS).encode()
    signed = {
        **HEADERS,
        "Trebuchet-Signature": sign_payload(SECRET, body, event_id=EVENT_ID, sequence=SEQUENCE),
    }
    assert parse_event(body, signed, secret=SECRET).message_id == INBOUND_SMS["messageId"]
    with pytest.raises(trebuchet.WebhookVerificationError, match="does not match"):
        parse_event(body, signed, secret="wrong")
    with pytest.raises(trebuchet.WebhookVerificationError, match="missing"):
        parse_event(body, HEADERS, secret=SECRET)
    with pytest.raises(TypeError):
        parse_event(INBOUND_SMS, signed, secret=SECRET)
    stale_header = sign_payload(SECRET, body, event_id=EVENT_ID, sequence=SEQUENCE, timestamp=NOW)
    stale = {**HEADERS, "Trebuchet-Signature": stale_header}
    with pytest.raises(trebuchet.WebhookVerificationError, match="from now"):
        parse_event(body, stale, secret=SECRET)
    assert parse_event(body, stale, secret=SECRET, tolerance=None).text == "STOP"
    assert issubclass(trebuchet.WebhookVerificationError, ValueError)


def test_parse_event_query_with_secret() -> None:
    query = query_of(INBOUND_SMS)
    signed = {
        **HEADERS,
        "Trebuchet-Signature": sign_payload(SECRET, query, event_id=EVENT_ID, sequence=SEQUENCE),
    }
    assert parse_event_query("?" + query, signed, secret=SECRET).text == "STOP"
    with pytest.raises(trebuchet.WebhookVerificationError):
        parse_event_query(query + "&x=1", signed, secret=SECRET)
    with pytest.raises(TypeError):
        parse_event_query(dict(INBOUND_SMS), signed, secret=SECRET)  # type: ignore[arg-type]
