"""Turning a send request (one object or one element of a bulk array) into a row.

``null`` is the same as absent everywhere; unknown properties are ignored (spec open
point 16).  Ownership of ``from`` is checked by the caller, which can cache it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from trebuchet.server.api import validation as v
from trebuchet.server.api.message_timing import timing
from trebuchet.server.domain import errors
from trebuchet.server.domain.ids import new_message_id
from trebuchet.server.domain.message import Message
from trebuchet.server.domain.segments import segment_count, utf16_length
from trebuchet.server.domain.smart_encoding import smart_encode
from trebuchet.server.domain.states import (
    WANTS_RECEIPTS,
    DeliveryState,
    Direction,
    ReceiptRequest,
)
from trebuchet.server.net.guard import AddressPolicy
from trebuchet.server.store.message_rows import message_to_row

RESOURCE = "message"
MAX_TEXT = 2048
MAX_TAG = 1024
MAX_MEDIA_ITEMS = 10
RECEIPT_VALUES = tuple(ReceiptRequest)
_RECEIPTS = {receipt.value: receipt for receipt in ReceiptRequest}
# Only global addresses: what a caller that names no policy gets.
GLOBAL_ONLY = AddressPolicy()


class MessageIn(msgspec.Struct, rename={"from_": "from"}):
    from_: str | None = None
    to: str | None = None
    text: str | None = None
    media: str | list[str] | None = None
    receiptRequested: str | None = None
    callbackUrl: str | None = None
    callbackHttpMethod: str | None = None
    callbackTimeout: int | str | None = None
    fallbackUrl: str | None = None
    tag: str | None = None
    skipMMSCarrierValidation: bool | None = None
    # An extension (docs/messaging-controls.md): replace GSM-7 look-alikes before
    # segmenting; None takes the user's default.
    smartEncoding: bool | None = None
    # Extensions (``message_timing.py``): when to send, until when.
    sendAt: str | None = None
    expiration: str | None = None
    validityPeriod: int | None = None


def _media(value: str | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    items = (value,) if isinstance(value, str) else tuple(value)
    if len(items) > MAX_MEDIA_ITEMS:
        raise errors.invalid_property(
            RESOURCE, "media", f"exceeds the limit of {MAX_MEDIA_ITEMS} items"
        )
    for url in items:
        if not v.is_http_url(url):
            raise errors.media_invalid_url(url)
    return items


def _text(value: str | None, has_media: bool) -> str:
    if value is None:
        if has_media:
            return ""
        raise errors.missing_property(RESOURCE, "text")
    if utf16_length(value) > MAX_TEXT:
        raise errors.text_too_long()
    return value


def _receipt(value: str | None) -> ReceiptRequest | None:
    lowered = v.one_of(RESOURCE, "receiptRequested", value, RECEIPT_VALUES)
    return None if lowered is None else _RECEIPTS[lowered]


def new_message(
    msg: MessageIn,
    user_id: str,
    now_us: int,
    *,
    policy: AddressPolicy = GLOBAL_ONLY,
    smart_encoding: bool = False,
) -> Message:
    """Validate ``msg`` and build the message to store; raises :class:`ApiError`.  Callback
    URLs must be ones ``policy`` lets the deployment contact; ``smart_encoding`` is the
    user's default when ``msg`` does not say."""
    from_number = v.phone_number(RESOURCE, "from", msg.from_)
    to_number = v.phone_number(RESOURCE, "to", msg.to, short_code=True)
    media = _media(msg.media)
    text = _text(msg.text, bool(media))
    if msg.smartEncoding if msg.smartEncoding is not None else smart_encoding:
        text = smart_encode(text, is_mms=bool(media))
    receipt = _receipt(msg.receiptRequested)
    if media and receipt in WANTS_RECEIPTS:
        raise errors.invalid_property(
            RESOURCE, "receiptRequested", "cannot be combined with media: MMS has no receipts"
        )
    if msg.tag is not None and len(msg.tag) > MAX_TAG:
        raise errors.invalid_property(RESOURCE, "tag", f"exceeds the limit of {MAX_TAG}")
    when = timing(msg.sendAt, msg.expiration, msg.validityPeriod, now_us)
    return Message(
        id=new_message_id(now_us),
        user_id=user_id,
        from_number=from_number,
        to_number=to_number,
        direction=Direction.OUT,
        text=text,
        media=media,
        state=when.state,
        time_us=now_us,
        segment_count=segment_count(text, is_mms=bool(media)),
        callback_url=v.callback_url("callbackUrl", msg.callbackUrl, policy),
        callback_http_method=v.callback_method(RESOURCE, msg.callbackHttpMethod),
        callback_timeout=v.timeout_ms(RESOURCE, "callbackTimeout", msg.callbackTimeout),
        fallback_url=v.callback_url("fallbackUrl", msg.fallbackUrl, policy),
        tag=msg.tag,
        receipt_requested=receipt,
        delivery_state=DeliveryState.WAITING if receipt in WANTS_RECEIPTS else None,
        skip_mms_carrier_validation=bool(msg.skipMMSCarrierValidation),
        due_us=when.due_us,
        send_at_us=when.send_at_us,
        expires_us=when.expires_us,
    )


def message_row(
    msg: MessageIn, user_id: str, now_us: int, *, policy: AddressPolicy = GLOBAL_ONLY
) -> dict[str, Any]:
    """The row of :func:`new_message`, ready to insert."""
    return message_to_row(new_message(msg, user_id, now_us, policy=policy))
