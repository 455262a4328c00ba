"""Carriers: where outbound messages go and inbound ones come from."""

from trebuchet.server.carriers.base import (
    Accepted,
    Carrier,
    CarrierError,
    CarrierSink,
    InboundMessage,
    OutboundMessage,
    PermanentFailure,
    Receipt,
    TransientFailure,
    UnknownNumber,
)
from trebuchet.server.carriers.sandbox import SandboxCarrier

__all__ = [
    "Accepted",
    "Carrier",
    "CarrierError",
    "CarrierSink",
    "InboundMessage",
    "OutboundMessage",
    "PermanentFailure",
    "Receipt",
    "SandboxCarrier",
    "TransientFailure",
    "UnknownNumber",
]
