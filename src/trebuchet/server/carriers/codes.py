"""Delivery codes and their exact descriptions (spec §3.4); 0 is the only success."""

from __future__ import annotations

from trebuchet.server.domain.states import DeliveryState

DELIVERED = 0

DELIVERY_CODES: dict[int, str] = {
    0: "Message Delivered to Carrier",
    187: "Spam Detected \u2013 Statistical",
    188: "Spam Detected -Keyword",
    189: "Spam Detected",
    482: "Loop Detected",
    600: "Destination Carrier Queue Full",
    610: "submit_sm or submit_multi failed",
    620: "Destination App Error",
    630: "NACK",
    650: "Destination Failure",
    700: "Invalid Service Type",
    720: "Invalid Destination Address",
    740: "Invalid Source Address",
    750: "Destination Rejected Message",
    751: "Destination Rejected Message too large",
    770: "Destination Rejected due to spam",
    775: "Rejected due to user opt out",
    902: "Message Expired",
    999: "Unknown Error",
}


def delivery_state(code: int) -> DeliveryState:
    return DeliveryState.DELIVERED if code == DELIVERED else DeliveryState.NOT_DELIVERED
