"""Receipts and inbound messages pushed by HTTP upstreams, turned into carrier-sink calls.

The route that receives them is ``api/carrier_events.py``.  A ``catapult`` upstream posts
Catapult message events (``direction`` ``out`` for our messages, with ``messageId`` the
upstream's id; ``in`` for inbound messages).  An ``http`` upstream posts JSON whose fields
are named by ``event_fields``: ``type`` is ``receipt`` (``ref``, ``status`` or ``code``) or
``inbound`` (``from``, ``to``, ``text``, ``media``, ``id``).  A receipt for a message not
yet recorded as sent raises :class:`NotYet`, so the upstream retries and a receipt never
overtakes the ``sent`` state.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

from trebuchet.server.carriers.base import CarrierSink, InboundMessage, Receipt
from trebuchet.server.carriers.http_upstream import UpstreamConfig, dig
from trebuchet.server.carriers.refs import Refs
from trebuchet.server.domain.states import NOT_SENT, DeliveryState, Direction, MessageState
from trebuchet.server.domain.tokens import token_matches
from trebuchet.server.media.parts import MediaPart

SIGNATURE_HEADER = "x-trebuchet-signature"
UPSTREAM_TYPES = ("catapult", "http")
REF_WAIT_SECONDS = 3.0


class NotYet(Exception):
    """The event names a message not yet recorded as sent: the upstream should retry."""


def authorised(
    headers: Mapping[str, str], query: Mapping[str, str], config: UpstreamConfig, body: bytes
) -> bool:
    """Whether a request (its headers, lower-case names, and query) may post ``body``."""
    if config.events_secret:
        expected = hmac.new(config.events_secret.encode(), body, hashlib.sha256).hexdigest()
        given = headers.get(SIGNATURE_HEADER, "").removeprefix("sha256=")
        if given and token_matches(given, expected):
            return True
    token = config.events_token
    if not token:
        return False
    candidates = [query.get("token", "")]
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        candidates.append(value.strip())
    elif scheme.lower() == "basic":
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            candidates.append(base64.b64decode(value).decode().partition(":")[2])
    return any(token_matches(c, token) for c in candidates if c)


class PushedEvents:
    """Hands pushed receipts and inbound messages to the sink: the part every carrier
    whose events arrive at the events endpoint shares (HTTP upstreams, hosted providers)."""

    def __init__(self, name: str, refs: Refs, sink: CarrierSink):
        self.name = name
        self.refs = refs
        self.sink = sink

    async def _receipt(self, ref: Any, code: int) -> str:
        if not isinstance(ref, str) or not ref:
            return "ignored"
        deadline = time.monotonic() + REF_WAIT_SECONDS
        part = await self.refs.find(self.name, ref)
        while part is None and time.monotonic() < deadline:  # our send is recording it
            await asyncio.sleep(0.05)
            part = await self.refs.find(self.name, ref)
        if part is None:
            return "ignored"
        while await self.refs.message_state(part.message_id) in NOT_SENT:
            if time.monotonic() >= deadline:  # our send is storing its outcome
                raise NotYet(part.message_id)
            await asyncio.sleep(0.05)
        if await self.refs.report(self.name, ref, code, "first") is None:
            return "ignored"  # a repeat
        await self.sink.receipt(part.message_id, Receipt.for_code(code))
        return "receipt"

    async def _inbound(
        self, sender: Any, to: Any, text: Any, media: Any, ident: Any,
        parts: tuple[MediaPart, ...] = (),
    ) -> str:  # fmt: skip
        if not isinstance(sender, str) or not isinstance(to, str):
            return "ignored"
        message = InboundMessage(
            from_number=sender,
            to_number=to,
            text=text if isinstance(text, str) else "",
            media=[str(url) for url in media] if isinstance(media, list) else [],
            key=f"{self.name}:{ident}" if ident else None,
            parts=parts,
        )
        await self.sink.inbound(message)
        return "inbound"


class UpstreamEvents(PushedEvents):
    """Turns one upstream event into a receipt or an inbound message for the sink."""

    def __init__(self, name: str, config: UpstreamConfig, refs: Refs, sink: CarrierSink):
        super().__init__(name, refs, sink)
        self.config = config

    async def handle(self, event: dict[str, Any]) -> str:
        """What was done: "receipt", "inbound" or "ignored"."""
        if self.config.type == "catapult":
            if event.get("direction") == Direction.IN:
                return await self._inbound(
                    event.get("from"), event.get("to"), event.get("text"),
                    event.get("media"), event.get("messageId"),
                )  # fmt: skip
            state = event.get("deliveryState")
            if state in (DeliveryState.DELIVERED, DeliveryState.NOT_DELIVERED):
                return await self._receipt(event.get("messageId"), _code(event.get("deliveryCode")))
            # Failed upstream after it took the message.
            if event.get("state") == MessageState.ERROR:
                return await self._receipt(event.get("messageId"), 610)
            return "ignored"
        f = self.config.fields_map()
        kind = dig(event, f["type"])
        if kind == "inbound":
            return await self._inbound(
                dig(event, f["from"]), dig(event, f["to"]), dig(event, f["text"]),
                dig(event, f["media"]), dig(event, f["id"]),
            )  # fmt: skip
        if kind == "receipt":
            code = dig(event, f["code"])
            if code is None:
                code = self.config.codes().get(str(dig(event, f["status"])).lower(), 999)
            return await self._receipt(dig(event, f["ref"]), _code(code))
        return "ignored"


def _code(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 999
