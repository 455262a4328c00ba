"""Inbound messages (spec §6.3): store for the number's owner, then route the event.

The message and its event (or the user error explaining why there is none) are written
in one transaction.  A message reported twice under the same key is stored once.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from trebuchet.server.callbacks.outbox import Outbox, application_destination
from trebuchet.server.carriers.base import InboundMessage, UnknownNumber
from trebuchet.server.config import Settings
from trebuchet.server.domain.clock import Clock
from trebuchet.server.domain.ids import new_message_id
from trebuchet.server.domain.message import Message
from trebuchet.server.domain.segments import segment_count
from trebuchet.server.domain.states import Direction, MessageState
from trebuchet.server.engine.keywords import KeywordDesk
from trebuchet.server.media.fetch import ReceivedMedia
from trebuchet.server.store.delivery import DeliveryStore, NewMessage, Recipients, Row
from trebuchet.server.store.group_commit import Batcher
from trebuchet.server.store.message_rows import message_to_row
from trebuchet.server.store.messaging_settings import NumberSettings, UserSettings


def keyed_message_id(key: str) -> str:
    """A message id derived from a carrier's key, the same every time."""
    digest = hashlib.sha256(f"inbound:{key}".encode()).digest()[:15]
    return "m-" + base64.b32encode(digest).decode("ascii").lower()[:23]


class InboundRouter:
    """Stores arrivals; built once, by the delivery assembly (``engine/delivery.py``), so
    every inbound path copies media into the recipient's store the same way."""

    def __init__(
        self,
        delivery: DeliveryStore,
        outbox: Outbox,
        clock: Clock,
        notify: Callable[[], None],
        media: ReceivedMedia,
        keywords: KeywordDesk | None = None,
    ):
        self._delivery = delivery
        self._outbox = outbox
        self._clock = clock
        self._notify = notify
        self._media = media
        self._keywords = keywords or KeywordDesk.from_settings(Settings())
        self._arrivals: Batcher[_Arrival, str | None] = Batcher(self._store)

    async def _store_media(self, message: InboundMessage, message_id: str) -> InboundMessage:
        """The message with its media copied into the recipient's own media store."""
        number = await self._delivery.store.numbers.find_enabled(message.to_number)
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
        if message.parts or message.media:
            message = await self._store_media(message, message_id)
        user_id = await self._arrivals.submit(_Arrival(message_id, message, now))
        if user_id is None:
            raise UnknownNumber(message.to_number)
        self._notify()
        return message_id, user_id

    async def _store(self, arrivals: Sequence[_Arrival]) -> list[str | None]:
        to_numbers = {arrival.message.to_number for arrival in arrivals}
        origins = [a.message.origin_id for a in arrivals if a.message.origin_id is not None]
        return await self._delivery.receive(
            to_numbers, origins, lambda found: self._plan(arrivals, found)
        )

    def _plan(
        self, arrivals: Sequence[_Arrival], found: Recipients
    ) -> tuple[list[str | None], list[NewMessage]]:
        """Each arrival's user (None: nobody has its number), and the messages to store
        with their events or user errors.  Runs in the store's transaction."""
        owners: list[str | None] = []
        new: dict[str, NewMessage] = {}
        for arrival in arrivals:
            number = found.numbers.get(arrival.message.to_number)
            owners.append(None if number is None else number["user_id"])
            if number is None or arrival.message_id in new:
                continue
            app = found.applications.get(number["application_id"])
            if app is not None and app["user_id"] != number["user_id"]:
                app = None
            message = arrival.message
            if message.origin_id in found.redacted:
                message = replace(message, text="")
            record = _message(arrival.message_id, number["user_id"], message,
                              app["id"] if app else None, arrival.now)  # fmt: skip
            answer = self._keywords.answer(
                record,
                found.user_settings.get(number["user_id"], UserSettings()),
                found.number_settings.get(number["number"], NumberSettings()),
                arrival.now,
            )
            if answer is None:
                new[arrival.message_id] = self._new_message(record, app)
                continue
            stored = self._new_message(answer.message, app)
            new[arrival.message_id] = replace(
                stored,
                opt_outs=[answer.change] if answer.change else [],
                replies=[message_to_row(answer.reply)] if answer.reply else [],
            )
        return owners, list(new.values())

    def _new_message(self, record: Message, app: Row | None) -> NewMessage:
        """The row of ``record`` with its event, or the user error saying why it has none."""
        row = message_to_row(record)
        if app is not None and application_destination(app).reachable:
            event = self._outbox.event(record, application_destination(app), record.time_us)
            return NewMessage(row, events=[event] if event is not None else [])
        return NewMessage(row, user_errors=[_no_callback(record, app)])


@dataclass(frozen=True)
class _Arrival:
    message_id: str
    message: InboundMessage
    now: int


def _no_callback(message: Message, app: Row | None) -> dict[str, Any]:
    """The user error of a message whose number has no application, or one without URL."""
    number = message.to_number
    details = {"number": number, "messageId": message.id}
    if app is None:
        code = "no-application-for-number"
        text = f"No application is configured for number {number}"
    else:
        code = "no-callback-for-message"
        text = f"The application {app['id']} of number {number} has no incomingMessageUrl"
        details["applicationId"] = app["id"]
    return {
        "user_id": message.user_id,
        "time_us": message.time_us,
        "category": "unavailable",
        "code": code,
        "message": text,
        "details": json.dumps(details),
    }


def _message(
    message_id: str, user_id: str, message: InboundMessage, app_id: str | None, now: int
) -> Message:
    media = tuple(message.media)
    return Message(
        id=message_id,
        user_id=user_id,
        from_number=message.from_number,
        to_number=message.to_number,
        direction=Direction.IN,
        text=message.text,
        media=media,
        state=MessageState.RECEIVED,
        time_us=now,
        segment_count=segment_count(message.text, is_mms=bool(media)),
        application_id=app_id,
        origin_id=message.origin_id,
    )
