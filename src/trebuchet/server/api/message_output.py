"""The message resource as JSON (spec §3.2): unset optional properties are left out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from trebuchet.server.domain.times import format_time

_decode_media = msgspec.json.Decoder(list[str]).decode
# (column, JSON property) pairs shown only when set.
_OPTIONAL = (
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


def message_json(row: Mapping[Any, Any]) -> dict[str, Any]:
    media = row["media"]
    body: dict[str, Any] = {
        "id": row["id"],
        "messageId": row["id"],
        "from": row["from_number"],
        "to": row["to_number"],
        "direction": row["direction"],
        "text": row["text"],
        "media": _decode_media(media) if media else [],
        "state": row["state"],
        "time": format_time(row["time_us"]),
        "segmentCount": row["segment_count"],
        "skipMMSCarrierValidation": bool(row["skip_mms_carrier_validation"]),
    }
    for column, prop in _OPTIONAL:
        value = row[column]
        if value is not None:
            body[prop] = value
    return body
