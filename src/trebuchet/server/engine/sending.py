"""Sending: the work queue behind the send worker, and receipts.

A claimed message is in ``sending`` (or ``sent`` when only a delayed receipt is due).
The outcome is written in one transaction with the events it causes, fenced on the
lease, so a worker that lost its lease changes nothing:

* accepted → ``sent`` (+ a receipt when the carrier already has one);
* transient failure → back to ``queued`` with backoff, ``error`` after the last attempt;
* permanent failure → ``error``, with a ``message-delivery-failed`` user error;
* past its ``expires_us`` before reaching a carrier → ``error`` with delivery code 902 and
  a ``message-expired`` user error (retries and rate slots never wait past the expiry).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

from msgspec.structs import replace

from trebuchet.server.callbacks.outbox import Outbox, message_destination
from trebuchet.server.carriers.base import (
    Accepted,
    Carrier,
    OutboundMessage,
    PermanentFailure,
    Receipt,
    TransientFailure,
)
from trebuchet.server.carriers.codes import delivery_state
from trebuchet.server.domain.backoff import SendRetry
from trebuchet.server.domain.clock import Clock
from trebuchet.server.domain.controls import (
    EXPIRED_CODE,
    EXPIRED_ERROR,
    capped_due,
    expired,
    validity_seconds,
)
from trebuchet.server.domain.dead_letters import PROCESSING_CRASHED, parked_message
from trebuchet.server.domain.message import Message
from trebuchet.server.domain.states import (
    WANTS_RECEIPTS,
    DeliveryState,
    Direction,
    MessageState,
    ReceiptRequest,
)
from trebuchet.server.domain.times import US
from trebuchet.server.engine.throttle import SenderLimits
from trebuchet.server.hooks import EngineHooks, MetricsHooks
from trebuchet.server.media.fetch import MediaFailure, MediaFetcher
from trebuchet.server.media.parts import MediaPart
from trebuchet.server.net.guard import AddressRefused
from trebuchet.server.store.delivery import Change, DeliveryStore, Finish
from trebuchet.server.store.leases import LeasedQueue, Leasing
from trebuchet.server.store.message_rows import message_from_row
from trebuchet.server.store.opt_outs import OPTED_OUT

log = logging.getLogger("trebuchet.engine")
Row = Mapping[str, Any]


def receipt_values(receipt: Receipt) -> dict[str, Any]:
    return {
        "delivery_state": delivery_state(receipt.code),
        "delivery_code": receipt.code,
        "delivery_description": receipt.description,
    }


def notifies(message: Message, receipt: Receipt) -> bool:
    """``all``: every receipt; ``error``: only not-delivered ones."""
    requested = message.receipt_requested
    return requested == ReceiptRequest.ALL or (
        requested == ReceiptRequest.ERROR
        and delivery_state(receipt.code) != DeliveryState.DELIVERED
    )


def outbound(
    message: Message, parts: tuple[MediaPart, ...] = (), *, now_us: int = 0
) -> OutboundMessage:
    return OutboundMessage(
        id=message.id,
        user_id=message.user_id,
        from_number=message.from_number,
        to_number=message.to_number,
        text=message.text,
        media=list(message.media),
        segment_count=message.segment_count,
        attempt=message.attempts,
        parts=parts,
        validity_seconds=validity_seconds(message.expires_us, now_us),
    )


# A send to a recipient who opted out: the delivery code (spec §3.4, "Rejected due to
# user opt out") and the user error's code.
OPTED_OUT_CODE = 775
OPTED_OUT_ERROR = "recipient-opted-out"
# MMS media failures, also shown as delivery fields on the message and its error event.
MEDIA_DELIVERY_CODES = {"media-size-overflow": 751, "media-not-supported": 750}
MEDIA_ERROR_CATEGORIES = {"media-unavailable": "unavailable"}


class SendQueue(LeasedQueue):
    name = "messages"
    noun = "message"
    lost_note = "its new owner finishes it"
    log = log

    def parked(
        self, item: Row, now: int, summary: str, crashes: int, code: str = PROCESSING_CRASHED
    ) -> tuple[dict[str, Any], dict[str, object]]:
        return parked_message(item, now, summary, crashes, code)

    def unclaimed(self, item: Row) -> dict[str, Any]:
        # A claim counts an attempt only for a message waiting or sending (claims.py).
        values = super().unclaimed(item)
        if item["state"] != MessageState.SENDING:
            del values["attempts"]
        return values

    def __init__(
        self,
        delivery: DeliveryStore,
        carrier: Carrier,
        outbox: Outbox,
        clock: Clock,
        retry: SendRetry,
        limits: SenderLimits,
        *,
        lease_us: int,
        media: MediaFetcher,
        notify: Callable[[], None] = lambda: None,
        draw: Callable[[], float] = random.random,
        hooks: EngineHooks | None = None,
    ):
        leasing = Leasing(
            delivery.claim_messages,
            delivery.extend_message_leases,
            delivery.finish_message,
            delivery.next_message_due,
        )
        super().__init__(leasing, clock, lease_us)
        self._media = media
        self._hooks = hooks or MetricsHooks()
        self._delivery = delivery
        self._carrier = carrier
        self._outbox = outbox
        self._retry = retry
        self._limits = limits
        self._notify = notify
        self._draw = draw

    async def process(self, owner: str, row: Row) -> None:
        message = message_from_row(row)  # media decoded once, for every step below
        if message.state == MessageState.SENT:
            await self._poll(owner, message)
            return
        if row.get(OPTED_OUT):
            await self._refuse_opted_out(owner, message)
            return
        if expired(message.expires_us, self._clock.now_us()):
            await self._expire(owner, message)
            return
        if await self._wait_for_slot(owner, message):
            return
        try:
            parts = await self._media_parts(message)
            now = self._clock.now_us()
            if expired(message.expires_us, now):  # the media took that long
                await self._expire(owner, message)
                return
            accepted = await self._carrier.send(outbound(message, parts, now_us=now))
        except MediaFailure as exc:
            await self._media_failed(owner, message, exc)
        except TransientFailure as exc:
            await self._retry_later(owner, message, exc.reason, exc.retry_after)
        except PermanentFailure as exc:
            await self._fail(owner, message, exc.reason, values=_refusal_receipt(message, exc))
        except AddressRefused as exc:
            await self._fail(owner, message, str(exc), code="media-unavailable")
        except Exception as exc:  # a carrier bug must not lose the message
            log.exception("carrier %s failed on %s", self._carrier.name, message.id)
            await self._retry_later(owner, message, f"{type(exc).__name__}: {exc}", None)
        else:
            await self._sent(owner, message, accepted)

    async def _media_parts(self, message: Message) -> tuple[MediaPart, ...]:
        if not message.media:
            return ()
        return tuple(await self._media.fetch(message.user_id, list(message.media)))

    async def _expire(self, owner: str, message: Message) -> None:
        receipt = Receipt.for_code(EXPIRED_CODE)
        await self._fail(
            owner,
            message,
            "it expired before it was handed to a carrier",
            code=EXPIRED_ERROR,
            text=f"The message from {message.from_number} to {message.to_number} expired "
            "before it could be sent",
            values={**receipt_values(receipt), "delivery_state": DeliveryState.NOT_DELIVERED},
        )

    async def _media_failed(self, owner: str, message: Message, failure: MediaFailure) -> None:
        """A part could not be fetched or is unusable: ``error`` at once, no retry."""
        code = MEDIA_DELIVERY_CODES.get(failure.code, 999)
        await self._fail(
            owner,
            message,
            failure.reason,
            code=failure.code,
            category=MEDIA_ERROR_CATEGORIES.get(failure.code, "forbidden"),
            text=failure.message,
            values={
                **receipt_values(Receipt.for_code(code)),
                "delivery_state": DeliveryState.NOT_DELIVERED,
            },
        )

    async def _refuse_opted_out(self, owner: str, message: Message) -> None:
        """The recipient opted out of this sender: ``error`` without reaching a carrier,
        with delivery code 775 and, when receipts were asked for, a receipt saying so."""
        receipt = Receipt.for_code(OPTED_OUT_CODE)
        now = self._clock.now_us()
        values = {
            "state": MessageState.ERROR,
            "due_us": None,
            "slot_us": None,
            **receipt_values(receipt),
            "delivery_state": DeliveryState.NOT_DELIVERED,
        }
        error = {
            "user_id": message.user_id,
            "time_us": now,
            "category": "forbidden",
            "code": OPTED_OUT_ERROR,
            "message": f"The recipient {message.to_number} opted out of messages from "
            f"{message.from_number}",
            "details": json.dumps({"messageId": message.id, "to": message.to_number}),
        }
        sent_receipt = receipt if message.wants_receipts else None
        if await self._write(owner, message, values, now, receipt=sent_receipt,
                             state_event=True, user_error=error):  # fmt: skip
            self._hooks.message_failed()

    async def _wait_for_slot(self, owner: str, message: Message) -> bool:
        """Defer the message to its sender's next free slot; True when deferred."""
        interval = self._limits.interval_us(message.from_number)
        now = self._clock.now_us()
        if interval is None or (message.slot_us is not None and message.slot_us <= now):
            return False
        slot = await self._delivery.reserve_slot(message.from_number, now, interval)
        if slot <= now:
            return False
        values = {
            "state": MessageState.QUEUED,
            "due_us": capped_due(slot, message.expires_us),
            "slot_us": slot,
            "attempts": message.attempts - 1,  # waiting for a slot is not an attempt
        }
        await self._delivery.finish_message(Finish(message.id, owner, values))
        return True

    async def _sent(self, owner: str, message: Message, accepted: Accepted) -> None:
        now = self._clock.now_us()
        values: dict[str, Any] = {
            "state": MessageState.SENT,
            "carrier_ref": accepted.carrier_ref,
            "carrier": accepted.carrier or self._carrier.name,
            "due_us": None,
            "slot_us": None,
        }
        receipt = accepted.receipt if message.wants_receipts else None
        if receipt is not None:
            values.update(receipt_values(receipt))
        elif accepted.poll_after is not None and message.wants_receipts:
            values["due_us"] = now + round(accepted.poll_after * US)
        if await self._write(owner, message, values, now, receipt=receipt, state_event=True):
            self._hooks.message_sent()

    async def _poll(self, owner: str, message: Message) -> None:
        receipt = await self._carrier.poll_receipt(outbound(message), message.carrier_ref or "")
        values: dict[str, Any] = {"due_us": None}
        if receipt is not None:
            values.update(receipt_values(receipt))
        await self._write(owner, message, values, self._clock.now_us(), receipt=receipt)

    async def _retry_later(
        self, owner: str, message: Message, reason: str, retry_after: float | None
    ) -> None:
        delay = self._retry.next_delay_us(message.attempts, retry_after, self._draw())
        if delay is None:
            await self._fail(owner, message, f"gave up after {message.attempts} attempts: {reason}")
            return
        values = {
            "state": MessageState.QUEUED,
            "due_us": capped_due(self._clock.now_us() + delay, message.expires_us),
            "slot_us": None,
        }
        await self._delivery.finish_message(Finish(message.id, owner, values))

    async def _fail(
        self,
        owner: str,
        message: Message,
        reason: str,
        *,
        code: str = "message-delivery-failed",
        category: str = "unavailable",
        text: str | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        now = self._clock.now_us()
        changes = {"state": MessageState.ERROR, "due_us": None, "slot_us": None, **(values or {})}
        error = {
            "user_id": message.user_id,
            "time_us": now,
            "category": category,
            "code": code,
            "message": text
            or f"The message from {message.from_number} to {message.to_number} "
            "could not be delivered",
            "details": json.dumps({"messageId": message.id, "reason": reason}),
        }
        if await self._write(owner, message, changes, now, state_event=True, user_error=error):
            self._hooks.message_failed()

    async def _write(
        self,
        owner: str,
        message: Message,
        values: dict[str, Any],
        now: int,
        *,
        receipt: Receipt | None = None,
        state_event: bool = False,
        user_error: Mapping[str, Any] | None = None,
    ) -> bool:
        """Store the outcome with its events; False when the lease was lost."""
        updated = replace(message, **values)
        destination = message_destination(message)
        events = [
            self._outbox.event(updated, destination, now) if state_event else None,
            self._outbox.event(updated, destination, now, receipt=True)
            if receipt is not None and notifies(message, receipt)
            else None,
        ]
        finish = Finish(
            message.id,
            owner,
            values,
            events=[event for event in events if event is not None],
            user_errors=[user_error] if user_error is not None else [],
        )
        if not await self.finish(finish):
            return False
        if finish.events:
            self._notify()
        return True


async def apply_receipt(
    delivery: DeliveryStore, outbox: Outbox, message_id: str, receipt: Receipt, now: int
) -> bool:
    """A receipt the carrier pushed later; False when the message is unknown or not waiting."""

    def decide(row: Row) -> Change | None:
        message = message_from_row(row)
        if message.direction != Direction.OUT or not message.wants_receipts:
            return None
        values: dict[str, Any] = receipt_values(receipt)
        if message.state == MessageState.SENT and message.lease_owner is None:
            values["due_us"] = None  # no need to poll any more
        if not notifies(message, receipt):
            return Change(values)
        updated = replace(message, **values)
        event = outbox.event(updated, message_destination(message), now, receipt=True)
        return Change(values, [event] if event is not None else [])

    return await delivery.change_message(message_id, decide)


def _refusal_receipt(message: Message, failure: PermanentFailure) -> dict[str, Any] | None:
    """Delivery fields for a refused message: the network's code when it gave one; for a
    message whose sender asked for receipts, "not delivered" in any case (999 unknown)."""
    if failure.code is None and message.receipt_requested not in WANTS_RECEIPTS:
        return None
    receipt = Receipt.for_code(failure.code if failure.code is not None else 999)
    return {**receipt_values(receipt), "delivery_state": DeliveryState.NOT_DELIVERED}
