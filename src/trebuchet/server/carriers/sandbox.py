"""The sandbox carrier: no network, every outcome on demand (see docs/sandbox.md).

Messages are "delivered" at once, except to the magic numbers ``+1555999KNNN`` where the
digit ``K`` picks a scenario and ``NNN`` is its argument:

===  ==============================================================================
K    outcome
===  ==============================================================================
0    sent; receipt at once with delivery code ``NNN`` (000 delivered, else §3.4 code)
1    sent; ``delivered`` receipt after ``NNN`` seconds
2    rejected at submit: state ``error``
3    throttled by the carrier on the first ``NNN`` submissions, then sent and delivered
4    sent; no receipt ever (``deliveryState`` stays ``waiting``)
===  ==============================================================================

The sandbox honours a message's validity period: a ``delivered`` receipt that would come
later than the validity allows (scenario 1) comes when the validity runs out instead, with
code 902 (Message Expired), as a network that could not reach the handset in time says.

A message to a number that the platform owns is also stored as an inbound message for
that number's owner (spec open point 34), keyed by the outbound id so a resend after a
crash stores it once, and linked to it, so that redacting the outbound message scrubs the
copy too.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from trebuchet.server.carriers.base import (
    Accepted,
    CarrierSink,
    InboundMessage,
    OutboundMessage,
    PermanentFailure,
    Receipt,
    TransientFailure,
    UnknownNumber,
)
from trebuchet.server.carriers.codes import DELIVERED, DELIVERY_CODES
from trebuchet.server.domain.controls import EXPIRED_CODE as EXPIRED

MAGIC_PREFIX = "+1555999"
THROTTLE_RETRY_AFTER = 1.0
# Marks the reference of a message whose validity runs out before its receipt would come.
EXPIRES_MARK = "~expires"

RECEIPT_NOW = 0
RECEIPT_LATER = 1
REJECT = 2
THROTTLE = 3
NO_RECEIPT = 4


@dataclass(frozen=True)
class Scenario:
    kind: int
    argument: int


def scenario(number: str) -> Scenario | None:
    """The magic behaviour of ``number``, or None for an ordinary number."""
    if not (number.startswith(MAGIC_PREFIX) and len(number) == len(MAGIC_PREFIX) + 4):
        return None
    digits = number[len(MAGIC_PREFIX) :]
    if not digits.isdigit():
        return None
    kind, argument = int(digits[0]), int(digits[1:])
    if kind == RECEIPT_NOW and argument not in DELIVERY_CODES:
        return None
    if kind > NO_RECEIPT:
        return None
    return Scenario(kind, argument)


def _receipt_for(message: OutboundMessage) -> Receipt | None:
    found = scenario(message.to_number)
    if found is None or found.kind in (RECEIPT_LATER, THROTTLE):
        return Receipt.for_code(DELIVERED)
    if found.kind == RECEIPT_NOW:
        return Receipt.for_code(found.argument)
    return None


class SandboxCarrier:
    name = "sandbox"

    def __init__(self) -> None:
        self._sink: CarrierSink | None = None

    def bind(self, sink: CarrierSink) -> None:
        self._sink = sink

    async def send(self, message: OutboundMessage) -> Accepted:
        found = scenario(message.to_number)
        if found is not None and found.kind == REJECT:
            raise PermanentFailure(f"the sandbox rejects messages to {message.to_number}")
        if found is not None and found.kind == THROTTLE and message.attempt <= found.argument:
            raise TransientFailure("sandbox carrier throttling", THROTTLE_RETRY_AFTER)
        await self._loop_back(message)
        ref = f"sbx-{message.id}"
        if found is not None and found.kind == RECEIPT_LATER:
            validity = message.validity_seconds
            if validity is not None and validity < found.argument:
                return Accepted(ref + EXPIRES_MARK, poll_after=float(validity))
            return Accepted(ref, poll_after=float(found.argument))
        return Accepted(ref, receipt=_receipt_for(message))

    async def poll_receipt(self, message: OutboundMessage, carrier_ref: str) -> Receipt | None:
        if carrier_ref.endswith(EXPIRES_MARK):
            return Receipt.for_code(EXPIRED)
        return _receipt_for(message)

    async def close(self) -> None:
        self._sink = None

    async def _loop_back(self, message: OutboundMessage) -> None:
        if self._sink is None:
            return
        inbound = InboundMessage(
            from_number=message.from_number,
            to_number=message.to_number,
            text=message.text,
            media=message.media,
            key=message.id,
            parts=message.parts,
            origin_id=message.id,
        )
        with contextlib.suppress(UnknownNumber):
            await self._sink.inbound(inbound)
