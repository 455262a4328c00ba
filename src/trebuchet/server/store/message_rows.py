"""A :class:`~trebuchet.server.domain.message.Message` as a ``messages`` row, and back.

The only place a message row is built: its keys are the table's columns, ``media`` is the
JSON array of URLs (NULL when there are none) and states are stored as their text.

A message whose delivery bookkeeping (lease, attempts, carrier reference, slot, origin) and
controls (``sendAt``, expiry) are all at the table's defaults, as nearly every newly
accepted one is, leaves those columns out and the table fills them in: each bound value
costs the group commit's writer on every row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from trebuchet.server.domain.keywords import Keyword
from trebuchet.server.domain.message import Message
from trebuchet.server.domain.states import DeliveryState, Direction, MessageState, ReceiptRequest

_encode = msgspec.json.Encoder().encode
_decode_media = msgspec.json.Decoder(tuple[str, ...]).decode


# Bookkeeping columns and their defaults in the table (NULL, and 0 attempts).
_BOOKKEEPING = (
    "lease_owner",
    "lease_until_us",
    "attempts",
    "carrier_ref",
    "slot_us",
    "origin_id",
    "crashes",
    "carrier",
    "claims",
)
# Scheduling and expiry, left out with them when unset (most messages have neither).
_CONTROLS = ("send_at_us", "expires_us")


def message_to_row(message: Message) -> dict[str, Any]:
    """The row to store for ``message``: every column of ``messages``, except the
    bookkeeping columns when all of them are at their defaults, and ``keyword`` when
    it is NULL."""
    row = msgspec.structs.asdict(message)
    media = message.media
    row["media"] = _encode(media).decode() if media else None
    if (
        message.lease_owner is None
        and message.lease_until_us is None
        and message.attempts == 0
        and message.carrier_ref is None
        and message.slot_us is None
        and message.origin_id is None
        and message.send_at_us is None
        and message.expires_us is None
        and message.crashes == 0
        and message.carrier is None
        and message.claims == 0
    ):
        for column in (*_BOOKKEEPING, *_CONTROLS):
            del row[column]
    if message.keyword is None:  # every message but keywords and their auto-replies
        del row["keyword"]
    return row


def message_from_row(row: Mapping[str, Any]) -> Message:
    """The record of a stored row (every column of ``messages``, as the store answers it)."""
    media = row["media"]
    receipt = row["receipt_requested"]
    delivery = row["delivery_state"]
    keyword = row["keyword"]
    return Message(
        id=row["id"],
        user_id=row["user_id"],
        from_number=row["from_number"],
        to_number=row["to_number"],
        direction=Direction(row["direction"]),
        text=row["text"],
        media=_decode_media(media) if media else (),
        state=MessageState(row["state"]),
        time_us=row["time_us"],
        segment_count=row["segment_count"],
        callback_url=row["callback_url"],
        callback_http_method=row["callback_http_method"],
        callback_timeout=row["callback_timeout"],
        fallback_url=row["fallback_url"],
        tag=row["tag"],
        receipt_requested=None if receipt is None else ReceiptRequest(receipt),
        delivery_state=None if delivery is None else DeliveryState(delivery),
        delivery_code=row["delivery_code"],
        delivery_description=row["delivery_description"],
        skip_mms_carrier_validation=bool(row["skip_mms_carrier_validation"]),
        application_id=row["application_id"],
        due_us=row["due_us"],
        lease_owner=row["lease_owner"],
        lease_until_us=row["lease_until_us"],
        attempts=row["attempts"],
        carrier_ref=row["carrier_ref"],
        slot_us=row["slot_us"],
        origin_id=row["origin_id"],
        keyword=None if keyword is None else Keyword(keyword),
        send_at_us=row["send_at_us"],
        expires_us=row["expires_us"],
        crashes=row.get("crashes") or 0,
        carrier=row["carrier"],
        claims=row.get("claims") or 0,
    )
