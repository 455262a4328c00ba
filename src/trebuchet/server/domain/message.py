"""A message as it is stored: one typed record shared by intake, inbound routing, sending
and callback events.

Its fields are the columns of the ``messages`` table, in the table's order; states are
the enums of ``states.py`` and ``media`` is a tuple of URLs, decoded once when the record
is read (the store keeps it as JSON text: ``store/message_rows.py`` maps records to rows
and back).  The record is a frozen ``msgspec.Struct``: building one costs a fraction of a
frozen dataclass, which matters on the intake path.
"""

from __future__ import annotations

import msgspec

from trebuchet.server.domain.keywords import Keyword
from trebuchet.server.domain.states import (
    WANTS_RECEIPTS,
    DeliveryState,
    Direction,
    MessageState,
    ReceiptRequest,
)


class Message(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    user_id: str
    from_number: str
    to_number: str
    direction: Direction
    text: str
    media: tuple[str, ...] = ()
    state: MessageState
    time_us: int
    segment_count: int
    callback_url: str | None = None
    callback_http_method: str | None = None
    callback_timeout: int | None = None
    fallback_url: str | None = None
    tag: str | None = None
    receipt_requested: ReceiptRequest | None = None
    delivery_state: DeliveryState | None = None
    delivery_code: int | None = None
    delivery_description: str | None = None
    skip_mms_carrier_validation: bool = False
    application_id: str | None = None
    # Delivery engine bookkeeping, never shown on the API.
    due_us: int | None = None
    lease_owner: str | None = None
    lease_until_us: int | None = None
    attempts: int = 0
    carrier_ref: str | None = None
    slot_us: int | None = None
    origin_id: str | None = None
    # The opt-out keyword an inbound message is, or that an outbound auto-reply answers.
    keyword: Keyword | None = None
    # Messaging controls (migration 0010): the time ``sendAt`` asked for, and the time
    # after which the message is not handed to a carrier any more.
    send_at_us: int | None = None
    expires_us: int | None = None
    # How often processing it crashed in the engine (migration 0012; dead letters).
    crashes: int = 0
    # The carrier that took it (shown on the API).
    carrier: str | None = None
    # Claims since it last finished (migration 0016): parked past ``crash_max_attempts``.
    claims: int = 0

    @property
    def wants_receipts(self) -> bool:
        """Whether the sender asked for receipts (an MMS has none)."""
        return self.receipt_requested in WANTS_RECEIPTS and not self.media
