"""The message resource as JSON (spec §3.2): unset optional properties are left out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from trebuchet.server.domain.times import format_time
from trebuchet.server.store.store import MESSAGE_COLUMN_NAMES

_decode_media = msgspec.json.Decoder(list[str]).decode
# Rows come positionally in MESSAGE_COLUMNS order; index lookups are the cheap path.
_AT = {name: index for index, name in enumerate(MESSAGE_COLUMN_NAMES)}
_ID, _FROM, _TO, _DIRECTION = _AT["id"], _AT["from_number"], _AT["to_number"], _AT["direction"]
_TEXT, _MEDIA, _STATE, _TIME = _AT["text"], _AT["media"], _AT["state"], _AT["time_us"]
_SEGMENTS, _SKIP = _AT["segment_count"], _AT["skip_mms_carrier_validation"]
# (index, JSON property) pairs shown only when set.
_OPTIONAL = tuple(
    (_AT[column], prop)
    for column, prop in (
        ("callback_url", "callbackUrl"),
        ("callback_http_method", "callbackHttpMethod"),
        ("callback_timeout", "callbackTimeout"),
        ("fallback_url", "fallbackUrl"),
        ("tag", "tag"),
        ("receipt_requested", "receiptRequested"),
        ("delivery_state", "deliveryState"),
        ("delivery_code", "deliveryCode"),
        ("delivery_description", "deliveryDescription"),
    )
)


def message_json(row: Sequence[Any]) -> dict[str, Any]:
    """JSON for a message row as the store returns it (columns in MESSAGE_COLUMNS order)."""
    media = row[_MEDIA]
    body: dict[str, Any] = {
        "id": row[_ID],
        "messageId": row[_ID],
        "from": row[_FROM],
        "to": row[_TO],
        "direction": row[_DIRECTION],
        "text": row[_TEXT],
        "media": _decode_media(media) if media else [],
        "state": row[_STATE],
        "time": format_time(row[_TIME]),
        "segmentCount": row[_SEGMENTS],
        "skipMMSCarrierValidation": bool(row[_SKIP]),
    }
    for index, prop in _OPTIONAL:
        value = row[index]
        if value is not None:
            body[prop] = value
    return body
