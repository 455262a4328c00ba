"""Twilio's status callbacks and inbound messages, verified and turned into sink calls.

Twilio POSTs forms to the URL it was given (``StatusCallback`` on each message we send,
the number's or messaging service's "a message comes in" webhook for inbound ones) and
signs each with ``X-Twilio-Signature``: base64 of HMAC-SHA1, keyed by the auth token, over
that URL followed by every parameter name and value, names sorted.  Behind a proxy the
URL we are called at is not the one Twilio signed, so the carrier's ``events_url`` (or
``public_url``) is the one checked, with the request's own query string; as Twilio's
library does, the URL with and without the default port both pass.

A form whose status (``MessageStatus``, or ``SmsStatus`` for older webhooks) is
``received`` is an inbound message (``Body``, ``NumMedia``, ``MediaUrl0``..); any other is
a status callback of one of ours, by ``MessageSid``: ``delivered`` is delivery code 0,
``undelivered`` and ``failed`` the code Twilio's ``ErrorCode`` means (650 or 610 without
one); intermediate states (``queued``, ``sending``, ``sent``, ...) store nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from trebuchet.server.carriers.base import CarrierSink
from trebuchet.server.carriers.provider_http import MediaLoader
from trebuchet.server.carriers.refs import Refs
from trebuchet.server.carriers.twilio import delivery_code
from trebuchet.server.carriers.upstream_events import PushedEvents
from trebuchet.server.domain.tokens import token_matches

SIGNATURE_HEADER = "x-twilio-signature"
# What the endpoint answers an inbound message with: empty TwiML, no reply.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
FINAL_FAILURES = {"undelivered": 650, "failed": 610}
DEFAULT_PORTS = {"https": 443, "http": 80}

Form = Sequence[tuple[str, str]]


def compute_signature(auth_token: str, url: str, form: Form) -> str:
    """Twilio's signature of ``form`` posted to ``url``."""
    text = url
    for name in sorted({key for key, _ in form}):
        for value in sorted({value for key, value in form if key == name}):
            text += name + value
    digest = hmac.new(auth_token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signed_urls(events_url: str, query: str) -> list[str]:
    """The URLs Twilio may have signed: ``events_url`` with the request's query, with and
    without the scheme's default port."""
    parts = urlsplit(events_url)
    query = query or parts.query
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    return [
        urlunsplit((parts.scheme, f"{prefix}{host}", parts.path, query, "")),
        urlunsplit((parts.scheme, f"{prefix}{host}:{port}", parts.path, query, "")),
    ]


def verified(auth_token: str, events_url: str, query: str, form: Form, given: str) -> bool:
    """Whether ``given`` (the ``X-Twilio-Signature``) signs this form for our endpoint."""
    if not given:
        return False
    return any(
        token_matches(given, compute_signature(auth_token, url, form))
        for url in signed_urls(events_url, query)
    )


def _number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


class TwilioEvents(PushedEvents):
    """Turns one Twilio callback form into a receipt or an inbound message."""

    def __init__(self, name: str, refs: Refs, sink: CarrierSink, load_media: MediaLoader):
        super().__init__(name, refs, sink)
        self.load_media = load_media

    async def handle(self, form: Form) -> str:
        """What was done: "receipt", "inbound" or "ignored"."""
        values = dict(form)
        status = values.get("MessageStatus") or values.get("SmsStatus") or ""
        if status == "received":
            count = _number(values.get("NumMedia", "0"))
            media = [values[f"MediaUrl{i}"] for i in range(count) if f"MediaUrl{i}" in values]
            parts = await self.load_media(media) if media else ()
            return await self._inbound(
                values.get("From"), values.get("To"), values.get("Body", ""), media,
                values.get("MessageSid"), parts,
            )  # fmt: skip
        if status == "delivered":
            return await self._receipt(values.get("MessageSid"), 0)
        if status in FINAL_FAILURES:
            raw = values.get("ErrorCode")
            error = _number(raw) if raw else None
            code = delivery_code(error, FINAL_FAILURES[status])
            return await self._receipt(values.get("MessageSid"), code)
        return "ignored"
