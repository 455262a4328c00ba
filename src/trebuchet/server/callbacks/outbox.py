"""Callback events (spec §4.3) and where they go (§4.1), written to the outbox.

An event's payload is fixed when it is written, in the same transaction as the state
change it reports, so a crash can lose neither.  Its ``destination`` (the receiver's
``host:port``) is written with it: callbacks in flight are capped per destination and per
user (``DeliveryStore.claim_events``), so one slow receiver cannot take every slot.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from trebuchet.server.domain.message import Message
from trebuchet.server.domain.states import DeliveryState, Direction
from trebuchet.server.domain.times import format_time

DEFAULT_TIMEOUT_MS = 10_000
DEFAULT_PORTS = {"http": 80, "https": 443}
Row = Mapping[str, Any]


def destination_key(url: str) -> str:
    """The receiver a URL reaches, ``host:port`` (lowercase, default port filled in)."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    except ValueError:
        return parts.netloc.rpartition("@")[2].lower()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class Destination:
    url: str | None
    fallback_url: str | None
    method: str
    timeout_ms: int

    @property
    def reachable(self) -> bool:
        return bool(self.url or self.fallback_url)

    @property
    def key(self) -> str:
        """The receiver first tried: what caps its callbacks in flight."""
        return destination_key(self.url or self.fallback_url or "")


def _timeout(value: int | None) -> int:
    return min(value or DEFAULT_TIMEOUT_MS, DEFAULT_TIMEOUT_MS)


def message_destination(message: Message) -> Destination:
    """Outbound events go to the message's own URLs (open points 19 and 36)."""
    return Destination(
        url=message.callback_url,
        fallback_url=message.fallback_url,
        method=(message.callback_http_method or "POST").upper(),
        timeout_ms=_timeout(message.callback_timeout),
    )


def application_destination(app: Row) -> Destination:
    """Inbound events go to the receiving number's application."""
    return Destination(
        url=app["incoming_message_url"],
        fallback_url=app["incoming_message_fallback_url"],
        method=(app["callback_http_method"] or "POST").upper(),
        timeout_ms=_timeout(app["incoming_message_url_callback_timeout"]),
    )


def event_payload(message: Message, base_url: str, *, receipt: bool = False) -> dict[str, Any]:
    media = message.media
    payload: dict[str, Any] = {
        "eventType": "mms" if media else "sms",
        "direction": message.direction,
        "from": message.from_number,
        "to": message.to_number,
        "messageId": message.id,
        "messageUri": f"{base_url}/v1/users/{message.user_id}/messages/{message.id}",
        "text": message.text,
        "time": format_time(message.time_us),
        "state": message.state,
        "segmentCount": message.segment_count,
    }
    if media:
        payload["media"] = list(media)
    if message.direction == Direction.IN and message.application_id:
        payload["applicationId"] = message.application_id
    # MMS have no receipts; their delivery fields only tell of a failure (spec §4.3.2).
    if receipt or (media and message.delivery_state == DeliveryState.NOT_DELIVERED):
        payload["deliveryState"] = message.delivery_state
        payload["deliveryCode"] = message.delivery_code
        payload["deliveryDescription"] = message.delivery_description
    if message.tag is not None:
        payload["tag"] = message.tag
    # An extension, only on keywords and their auto-replies: other events are unchanged.
    if message.keyword is not None:
        payload["keyword"] = message.keyword
    return payload


@dataclass(frozen=True)
class Outbox:
    """Builds outbox rows; ``window_us`` is how long each event may be retried.

    The rows are written by the caller, in the transaction that changes the message
    (:class:`~trebuchet.server.store.delivery.Finish`, ``DeliveryStore.change_message`` and
    ``DeliveryStore.receive`` take them).
    """

    base_url: str
    window_us: int

    def event(
        self, message: Message, destination: Destination, now: int, *, receipt: bool = False
    ) -> dict[str, Any] | None:
        """The event reporting ``message`` as it is now; None when it has nowhere to go."""
        if not destination.reachable:
            return None
        payload = event_payload(message, self.base_url, receipt=receipt)
        return {
            "user_id": message.user_id,
            "message_id": message.id,
            # Compact: a POST callback sends this text as it is.
            "payload": json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
            "url": destination.url,
            "fallback_url": destination.fallback_url,
            "destination": destination.key,
            "method": destination.method,
            "timeout_ms": destination.timeout_ms,
            "created_us": now,
            "expires_us": now + self.window_us,
            "due_us": now,
        }
