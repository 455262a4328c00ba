"""The states and kinds a message, a callback event or a number can be in (spec §3.3).

Each is a :class:`~enum.StrEnum`: a member equals its text, so rows, filters and JSON
carry the same strings as before and a value read back from the database compares equal
to the member.  Message states move ``queued`` → ``sending`` → ``sent`` or ``error``
(outbound; ``sending`` → ``queued`` again on a transient failure) or start and stay
``received`` (inbound); receipts change only the delivery state.  A message sent with
``sendAt`` starts ``scheduled`` and is claimed like a queued one when its time comes; a
queued or scheduled one can be cancelled, which ends it ``canceled``.
"""

from __future__ import annotations

from enum import StrEnum


class MessageState(StrEnum):
    RECEIVED = "received"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    ERROR = "error"
    SCHEDULED = "scheduled"
    CANCELED = "canceled"


class Direction(StrEnum):
    IN = "in"  # from the network to one of the user's numbers
    OUT = "out"  # from one of the user's numbers to the network


class DeliveryState(StrEnum):
    WAITING = "waiting"
    DELIVERED = "delivered"
    NOT_DELIVERED = "not-delivered"


class ReceiptRequest(StrEnum):
    """``receiptRequested``: which receipts become callback events."""

    NONE = "none"
    ALL = "all"
    ERROR = "error"  # only not-delivered ones


class EventState(StrEnum):
    """A callback event in the outbox."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class NumberState(StrEnum):
    # In the operator's inventory, assigned to nobody.
    AVAILABLE = "available"
    ENABLED = "enabled"
    RELEASED = "released"


# Outbound states in which the message has not reached a carrier yet.
NOT_SENT = (MessageState.QUEUED, MessageState.SENDING)
# The receipt requests that ask for receipts at all.
WANTS_RECEIPTS = (ReceiptRequest.ALL, ReceiptRequest.ERROR)
# Outbound states a message can be cancelled in: not handed to a carrier, not claimed.
CANCELABLE = (MessageState.QUEUED, MessageState.SCHEDULED)
