"""Callback (webhook) helpers: parse message events and check their signatures.

A Trebuchet server delivers message events to your ``callbackUrl`` either as a JSON POST
or, when the callback method is GET, as query parameters (spec §4). Each delivery carries
``Trebuchet-Event-Id`` (stable across re-deliveries, for de-duplication) and
``Trebuchet-Event-Sequence`` (per message, increasing), and, when a signing secret is
configured, ``Trebuchet-Signature: t=<unix seconds>,v2=<hex>`` where ``hex`` is
HMAC-SHA256 over ``f"{t}.{event_id}.{sequence}."`` followed by the raw body (POST) or
the raw query string without ``?`` (GET). The construction lives in ``_signature``.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from . import _signature
from ._signature import (
    EVENT_ATTEMPT_HEADER,
    EVENT_ID_HEADER,
    EVENT_SEQUENCE_HEADER,
    SIGNATURE_HEADER,
)

DEFAULT_TOLERANCE = 300

HeadersLike = Mapping[str, str] | Iterable[tuple[str, str]]


class WebhookVerificationError(ValueError):
    """A callback's ``Trebuchet-Signature`` is missing, malformed, stale or wrong."""


@dataclass(frozen=True)
class MessageEvent:
    """One SMS/MMS event (spec §4.3), with snake_case attributes.

    ``from_`` holds the wire field ``from``. ``time`` is an aware UTC ``datetime``;
    ``media`` is a tuple of URLs (empty for SMS). Fields a given event does not carry
    (``application_id`` on outbound events, the ``delivery_*`` fields without receipts,
    ``tag``) are ``None``. ``event_id``, ``sequence`` and ``attempt`` come from the
    ``Trebuchet-Event-Id``, ``-Sequence`` and ``-Attempt`` headers (``None`` without
    them). ``raw`` keeps every field as received, unknown ones included.

    Example::

        event = trebuchet.parse_event(request_body, request_headers)
        if event.direction == "in":
            print(f"{event.from_} says {event.text!r}")
    """

    event_type: str
    direction: str
    from_: str
    to: str
    message_id: str
    message_uri: str | None
    text: str
    application_id: str | None
    time: dt.datetime | None
    state: str
    delivery_state: str | None = None
    delivery_code: int | None = None
    delivery_description: str | None = None
    segment_count: int | None = None
    media: tuple[str, ...] = ()
    tag: str | None = None
    event_id: str | None = None
    sequence: int | None = None
    attempt: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def parse_event(
    body: bytes | str | Mapping[str, Any],
    headers: HeadersLike | None = None,
    *,
    secret: str | bytes | None = None,
    tolerance: float | None = DEFAULT_TOLERANCE,
) -> MessageEvent:
    """Parse a POST callback: the JSON body (raw or already decoded) and its headers.

    With ``secret``, the ``Trebuchet-Signature`` header is checked first against the raw
    body and the ``Trebuchet-Event-Id`` and ``Trebuchet-Event-Sequence`` headers, and
    ``WebhookVerificationError`` (naming what is wrong) is raised when one is missing or
    does not match. A body that is not a message event raises ``ValueError``.

    Example::

        # in any web framework: raw bytes of the request body plus its headers
        event = trebuchet.parse_event(request.body, request.headers, secret=WEBHOOK_SECRET)
        print(event.message_id, event.state, event.delivery_state)
    """
    header_map = _lower_headers(headers)
    if secret is not None:
        if not isinstance(body, bytes | str):
            raise TypeError("signature checking needs the raw body (bytes or str)")
        _require_signature(secret, header_map, body, tolerance)
    if isinstance(body, bytes | str):
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise ValueError(f"callback body is not JSON: {exc}") from None
    else:
        data = body
    if not isinstance(data, Mapping):
        raise ValueError("callback body must be a JSON object")
    return _event(data, header_map)


def parse_event_query(
    query: str | bytes | Mapping[str, Any],
    headers: HeadersLike | None = None,
    *,
    secret: str | bytes | None = None,
    tolerance: float | None = DEFAULT_TOLERANCE,
) -> MessageEvent:
    """Parse a GET callback from its query string (with or without ``?``) or a mapping.

    ``media`` is read in every shape a GET callback may use: the documented
    ``media=[url1, url2]``, a JSON array, a repeated ``media`` parameter or one bare URL.
    With ``secret``, the signature over the raw query string and the event id and
    sequence headers is checked first.

    Example::

        event = trebuchet.parse_event_query(request.url.query, request.headers)
        print(event.from_, event.text)
    """
    header_map = _lower_headers(headers)
    if isinstance(query, bytes):
        query = query.decode("utf-8")
    if secret is not None:
        if not isinstance(query, str):
            raise TypeError("signature checking needs the raw query string")
        _require_signature(secret, header_map, query.removeprefix("?"), tolerance)
    pairs: list[tuple[str, Any]]
    if isinstance(query, str):
        pairs = parse_qsl(query.removeprefix("?"), keep_blank_values=True)
    else:
        pairs = list(query.items())
    data: dict[str, Any] = {}
    media: list[str] = []
    for key, value in pairs:
        if key in ("media", "media[]"):
            values = value if isinstance(value, list | tuple) else [value]
            for item in values:
                media.extend(_split_media(item))
        elif key not in data:
            data[key] = value
    data["media"] = media
    return _event(data, header_map)


def sign_payload(
    secret: str | bytes,
    payload: bytes | str,
    *,
    event_id: str,
    sequence: int | str,
    timestamp: int | None = None,
) -> str:
    """The ``Trebuchet-Signature`` value for a callback, e.g. to test your own receiver.

    ``event_id`` and ``sequence`` are the ``Trebuchet-Event-Id`` and
    ``Trebuchet-Event-Sequence`` headers sent with ``payload``; they are signed too.

    Example::

        header = trebuchet.sign_payload("whsec", b'{"eventType": "sms"}',
                                        event_id="ev-1", sequence=1, timestamp=1700000000)
        # 't=1700000000,v2=...'
    """
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    return _signature.signature_header(secret, stamp, event_id, sequence, payload)


def verify_signature(
    secret: str | bytes,
    signature_header: str | None,
    payload: bytes | str,
    *,
    event_id: str | None,
    sequence: int | str | None,
    tolerance: float | None = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """True when ``signature_header`` signs this callback with ``secret`` and is fresh.

    ``payload`` is the raw request body (POST) or the raw query string without ``?``
    (GET); ``event_id`` and ``sequence`` are the ``Trebuchet-Event-Id`` and
    ``Trebuchet-Event-Sequence`` headers as received (``None`` when missing, which fails).
    The timestamp must lie within ``tolerance`` seconds of ``now`` (default: the current
    time; ``tolerance=None`` skips the check). Any ``v2`` entry may match, so a sender
    can sign with an old and a new secret while rotating. Comparison is constant-time.

    Example::

        ok = trebuchet.verify_signature(
            WEBHOOK_SECRET,
            request.headers.get("Trebuchet-Signature"),
            request.body,
            event_id=request.headers.get("Trebuchet-Event-Id"),
            sequence=request.headers.get("Trebuchet-Event-Sequence"),
        )
    """
    current = time.time() if now is None else now
    reason = _signature.problem(
        secret,
        signature_header,
        payload,
        event_id=event_id,
        sequence=sequence,
        tolerance=tolerance,
        now=current,
    )
    return reason is None


def _require_signature(
    secret: str | bytes, headers: Mapping[str, str], payload: bytes | str, tolerance: float | None
) -> None:
    reason = _signature.problem(
        secret,
        headers.get(SIGNATURE_HEADER.lower()),
        payload,
        event_id=headers.get(EVENT_ID_HEADER.lower()),
        sequence=headers.get(EVENT_SEQUENCE_HEADER.lower()),
        tolerance=tolerance,
        now=time.time(),
    )
    if reason is not None:
        raise WebhookVerificationError(reason)


def _lower_headers(headers: HeadersLike | None) -> dict[str, str]:
    if headers is None:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for key, value in items:
        out.setdefault(str(key).lower(), str(value))
    return out


def _split_media(value: Any) -> list[str]:
    if not isinstance(value, str):
        return [str(value)] if value is not None else []
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            decoded = json.loads(text)
        except ValueError:
            decoded = None
        if isinstance(decoded, list):
            return [str(item) for item in decoded if item]
        return [url.strip() for url in text[1:-1].split(",") if url.strip()]
    return [text] if text else []


def _event(data: Mapping[str, Any], headers: Mapping[str, str]) -> MessageEvent:
    missing = [key for key in ("eventType", "messageId", "from", "to") if not data.get(key)]
    if missing:
        raise ValueError(f"not a message event: missing {', '.join(missing)}")
    media = data.get("media")
    if isinstance(media, str):
        media_urls = _split_media(media)
    elif isinstance(media, list | tuple):
        media_urls = [str(url) for url in media]
    else:
        media_urls = []
    return MessageEvent(
        event_type=str(data["eventType"]),
        direction=str(data.get("direction", "")),
        from_=str(data["from"]),
        to=str(data["to"]),
        message_id=str(data["messageId"]),
        message_uri=_optional_str(data.get("messageUri", data.get("messageURI"))),
        text=str(data.get("text") or ""),
        application_id=_optional_str(data.get("applicationId")),
        time=_parse_time(data.get("time")),
        state=str(data.get("state", "")),
        delivery_state=_optional_str(data.get("deliveryState")),
        delivery_code=_optional_int(data.get("deliveryCode")),
        delivery_description=_optional_str(data.get("deliveryDescription")),
        segment_count=_optional_int(data.get("segmentCount")),
        media=tuple(media_urls),
        tag=_optional_str(data.get("tag")),
        event_id=headers.get(EVENT_ID_HEADER.lower()),
        sequence=_optional_int(headers.get(EVENT_SEQUENCE_HEADER.lower())),
        attempt=_optional_int(headers.get(EVENT_ATTEMPT_HEADER.lower())),
        raw=dict(data),
    )


def _optional_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _optional_int(value: Any) -> int | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected an integer, got {value!r}") from None


def _parse_time(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value / 1000, dt.UTC)  # epoch milliseconds
    try:
        parsed = dt.datetime.fromisoformat(str(value).strip().replace(" ", "T"))
    except ValueError:
        raise ValueError(f"event time is not ISO 8601: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)
