"""The carrier boundary: how the engine hands messages to a network and hears back.

A :class:`Carrier` sends one message at a time and answers :class:`Accepted` or raises
one of::

    CarrierError
    ├── TransientFailure   try again later (throttled, gateway down, timeout)
    │   └── Unanswered     sent, but no answer came: the carrier may have taken it
    └── PermanentFailure   never going to work (rejected number, bad content)

Receipts and inbound messages travel the other way through a :class:`CarrierSink` that
the engine hands to the carrier with :meth:`Carrier.bind`.  A carrier that learns of a
receipt at send time returns it in :class:`Accepted` (stored with the ``sent`` state, in
one transaction); one that must be asked later sets ``poll_after`` and the engine calls
:meth:`Carrier.poll_receipt` when that time comes (a durable timer: it survives restarts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from trebuchet.server.carriers.codes import DELIVERY_CODES
from trebuchet.server.media.parts import MediaPart


@dataclass(frozen=True)
class OutboundMessage:
    id: str
    user_id: str
    from_number: str
    to_number: str
    text: str
    media: list[str]
    segment_count: int
    # 1 for the first submission; carriers may use ``id`` as an idempotency key.
    attempt: int
    # The media's bytes and types, fetched before the carrier is called (MMS only).
    parts: tuple[MediaPart, ...] = ()
    # Seconds the network may keep trying (the message's expiry, counted from now);
    # None: the network's default.  SMPP sends it as ``validity_period``.
    validity_seconds: int | None = None


@dataclass(frozen=True)
class Receipt:
    code: int
    description: str

    @classmethod
    def for_code(cls, code: int) -> Receipt:
        return cls(code, DELIVERY_CODES.get(code, DELIVERY_CODES[999]))


@dataclass(frozen=True)
class Accepted:
    carrier_ref: str
    receipt: Receipt | None = None
    # Seconds after which the engine should ask poll_receipt (None: never).
    poll_after: float | None = None
    # The name of the carrier that took the message, when a router chose among several
    # (None: the carrier the engine holds).
    carrier: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    from_number: str
    to_number: str
    text: str
    media: list[str] = field(default_factory=list)
    # A stable id for this message (the carrier's own, say): a repeated report with the same
    # key stores nothing new.  None: every report is a new message.
    key: str | None = None
    # The media's content, when the carrier delivers it (else ``media`` URLs are fetched).
    parts: tuple[MediaPart, ...] = ()
    # The id of the outbound message this is a copy of, when the platform delivered one of
    # its own messages to itself (the sandbox); redacting that message scrubs this one.
    origin_id: str | None = None


class CarrierError(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class TransientFailure(CarrierError):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class Unanswered(TransientFailure):
    """The message was handed over and no answer came in time: the carrier may have taken
    it.  Retried like any transient failure; a router decides by its ``on_timeout``
    setting whether another carrier may send it (docs/carriers.md, Failover)."""


class PermanentFailure(CarrierError):
    """Refused for good; ``code`` is the delivery code (spec §3.4) when the network gave one."""

    def __init__(self, reason: str, code: int | None = None):
        super().__init__(reason)
        self.code = code


class UnknownNumber(LookupError):
    """An inbound message for a number nobody on this platform owns."""


class CarrierSink(Protocol):
    """What a carrier calls when the network reports something."""

    async def receipt(self, message_id: str, receipt: Receipt) -> None: ...

    async def inbound(self, message: InboundMessage) -> str:
        """Store (and route) an inbound message; answers its id.

        Raises :class:`UnknownNumber` when no enabled number matches ``to_number``.
        """
        ...


class Carrier(Protocol):
    name: str

    def bind(self, sink: CarrierSink) -> None: ...

    async def send(self, message: OutboundMessage) -> Accepted: ...

    async def poll_receipt(self, message: OutboundMessage, carrier_ref: str) -> Receipt | None: ...

    async def close(self) -> None: ...
