"""Inbound messages (spec §6.3): store for the number's owner, then route the event.

The message and its event (or the user error explaining why there is none) are written
in one transaction.  A message reported twice under the same key is stored once.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from trebuchet.server.carriers.base import InboundMessage, UnknownNumber
from trebuchet.server.domain.ids import new_message_id
from trebuchet.server.domain.segments import segment_count
from trebuchet.server.engine.clock import Clock
from trebuchet.server.engine.events import Outbox, application_destination
from trebuchet.server.media.fetch import ReceivedMedia
from trebuchet.server.store.delivery import DeliveryStore


def keyed_message_id(key: str) -> str:
    """A message id derived from a carrier's key, the same every time."""
    digest = hashlib.sha256(f"inbound:{key}".encode()).digest()[:15]
    return "m-" + base64.b32encode(digest).decode("ascii").lower()[:23]


class InboundRouter:
    def __init__(
        self,
        delivery: DeliveryStore,
        outbox: Outbox,
        clock: Clock,
        notify: Callable[[], None] = lambda: None,
        media: ReceivedMedia | None = None,
    ):
        self._delivery = delivery
        self._outbox = outbox
        self._clock = clock
        self._notify = notify
        self._media = media

    async def _store_media(self, message: InboundMessage, message_id: str) -> InboundMessage:
        """The message with its media copied into the recipient's own media store."""
        assert self._media is not None
        number = await self._delivery.store.number_owner(message.to_number)
        if number is None:
            raise UnknownNumber(message.to_number)
        urls = await self._media.store(number["user_id"], message_id, message.parts, message.media)
        return replace(message, media=urls, parts=())

    async def accept(self, message: InboundMessage) -> str:
        return (await self.route(message))[0]

    async def route(self, message: InboundMessage) -> tuple[str, str]:
        """Store ``message`` and queue its event; answers the message id and its user.

        Raises :class:`UnknownNumber` when no enabled number is ``message.to_number``.
        """
        now = self._clock.now_us()
        message_id = keyed_message_id(message.key) if message.key else new_message_id()
        if self._media is not None and (message.parts or message.media):
            message = await self._store_media(message, message_id)
        d = self._delivery
        async with d.store.write() as conn:
            number = await d.enabled_number(conn, message.to_number)
            if number is None:
                raise UnknownNumber(message.to_number)
            user_id = number["user_id"]
            app_id = number["application_id"]
            app = await d.application(conn, user_id, app_id) if app_id else None
            row = _row(message_id, user_id, message, app["id"] if app else None, now)
            if not await d.insert_message_once(conn, row):
                return message_id, user_id
            details = {"number": message.to_number, "messageId": message_id}
            if app is None:
                await d.add_user_error(
                    conn, user_id, now, "unavailable", "no-application-for-number",
                    f"No application is configured for number {message.to_number}", details,
                )  # fmt: skip
            elif not application_destination(app).reachable:
                await d.add_user_error(
                    conn, user_id, now, "unavailable", "no-callback-for-message",
                    f"The application {app['id']} of number {message.to_number} has no "
                    "incomingMessageUrl", {**details, "applicationId": app["id"]},
                )  # fmt: skip
            else:
                await self._outbox.add(conn, row, application_destination(app), now)
        self._notify()
        return message_id, user_id


def _row(
    message_id: str, user_id: str, message: InboundMessage, app_id: str | None, now: int
) -> dict[str, Any]:
    media = list(message.media)
    return {
        "id": message_id,
        "user_id": user_id,
        "from_number": message.from_number,
        "to_number": message.to_number,
        "direction": "in",
        "text": message.text,
        "media": json.dumps(media) if media else None,
        "state": "received",
        "time_us": now,
        "segment_count": segment_count(message.text, is_mms=bool(media)),
        "callback_url": None,
        "callback_http_method": None,
        "callback_timeout": None,
        "fallback_url": None,
        "tag": None,
        "receipt_requested": None,
        "delivery_state": None,
        "delivery_code": None,
        "delivery_description": None,
        "skip_mms_carrier_validation": False,
        "application_id": app_id,
        "due_us": None,
    }
