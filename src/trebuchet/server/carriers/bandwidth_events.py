"""Bandwidth's callbacks (JSON arrays of events), verified and turned into sink calls.

Bandwidth posts status callbacks and inbound messages to the URLs set on the messaging
application, with the Basic credentials set there (``callback_username``,
``callback_password``), as a JSON array of events:

* ``message-delivered``: delivery code 0 for the message whose ``message.id`` we kept;
* ``message-failed``: the code Bandwidth's ``errorCode`` means (``bandwidth.py``);
* ``message-received``: an inbound message to ``to`` (``message.from``, ``text``,
  ``media``; Bandwidth's media URLs need the API credentials, so the carrier fetches them
  with those and hands the bytes on);
* anything else (``message-sending``, ``message-sent``, ``message-read``): nothing stored.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from trebuchet.server.carriers.bandwidth import BandwidthConfig, delivery_code
from trebuchet.server.carriers.base import CarrierSink
from trebuchet.server.carriers.provider_http import MediaLoader
from trebuchet.server.carriers.refs import Refs
from trebuchet.server.carriers.upstream_events import PushedEvents
from trebuchet.server.domain.tokens import token_matches


def authorised(headers: Mapping[str, str], config: BandwidthConfig) -> bool:
    """Whether the request carries the application's callback credentials (Basic)."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    # Both compared, always, so the time taken does not tell which one was wrong.
    user_ok = token_matches(user, config.callback_username)
    password_ok = token_matches(password, config.callback_password)
    return user_ok and password_ok


class BandwidthEvents(PushedEvents):
    """Turns one Bandwidth callback event into a receipt or an inbound message."""

    def __init__(self, name: str, refs: Refs, sink: CarrierSink, load_media: MediaLoader):
        super().__init__(name, refs, sink)
        self.load_media = load_media

    async def handle(self, event: Mapping[str, Any]) -> str:
        """What was done: "receipt", "inbound" or "ignored"."""
        kind = event.get("type")
        message = event.get("message")
        if not isinstance(message, dict):
            return "ignored"
        if kind == "message-received":
            return await self._received(event, message)
        if kind == "message-delivered":
            return await self._receipt(message.get("id"), 0)
        if kind == "message-failed":
            error = event.get("errorCode")
            return await self._receipt(
                message.get("id"), delivery_code(error if isinstance(error, int) else None)
            )
        return "ignored"

    async def _received(self, event: Mapping[str, Any], message: Mapping[str, Any]) -> str:
        media = message.get("media")
        urls = [str(url) for url in media] if isinstance(media, list) else []
        parts = await self.load_media(urls) if urls else ()
        return await self._inbound(
            message.get("from"), event.get("to"), message.get("text"), urls,
            message.get("id"), parts,
        )  # fmt: skip
