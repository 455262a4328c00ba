"""Every property of a message resource (spec §3.2), as the wire spells it, in the order
the server writes them.

Standard library only: the server's OpenAPI schema reads this list too, and the SDK
imports nothing from the server.
"""

from __future__ import annotations

MESSAGE_PROPERTIES = (
    "id",
    "messageId",
    "from",
    "to",
    "direction",
    "text",
    "media",
    "state",
    "time",
    "segmentCount",
    "skipMMSCarrierValidation",
    "callbackUrl",
    "callbackHttpMethod",
    "callbackTimeout",
    "fallbackUrl",
    "tag",
    "receiptRequested",
    "deliveryState",
    "deliveryCode",
    "deliveryDescription",
    # An extension: present only on an opt-out keyword or the auto-reply answering one.
    "keyword",
    # Extensions, present only on messages sent with them.
    "sendAt",
    "expiration",
    # Trebuchet's own, beyond the spec: the carrier that took an outbound message.
    "carrier",
)
