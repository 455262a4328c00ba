"""The ``twilio`` carrier: messages sent through a Twilio account (REST API 2010-04-01).

``send`` POSTs a form to ``/2010-04-01/Accounts/{AccountSid}/Messages.json`` with Basic
auth (account SID, auth token): ``To``, ``From`` (or ``MessagingServiceSid`` when one is
configured: Twilio then picks the sender from the service, ``From`` still naming ours),
``Body``, one ``MediaUrl`` per media URL, ``StatusCallback`` pointing at our events
endpoint, ``ValidityPeriod`` (the seconds the message's expiry leaves, when under Twilio's
36,000-second maximum, which is also its default) and ``SmartEncoded=false`` (the text is
final: smart encoding, when asked for, was applied before it was stored and segmented).
A scheduled message is handed over at its time, without ``SendAt``.  The answer's ``sid``
is the carrier reference.  Twilio's error answers (``{"code", "message", "more_info",
"status"}``) are mapped by :func:`refusal`: 408/425/429/5xx and no connection in time are
retried, a timeout once the request went out is unanswered (``provider_http.py``); every
other refusal is final, with the delivery code Twilio's error code means
(:data:`ERROR_CODES`) and Twilio's words as the reason.

Status callbacks and inbound messages come back to ``/v1/carriers/{name}/events``
(``carriers/twilio_events.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import quote

from trebuchet.server.carriers.base import (
    Accepted,
    CarrierSink,
    OutboundMessage,
    PermanentFailure,
    Receipt,
    TransientFailure,
)
from trebuchet.server.carriers.media_links import MediaLinks
from trebuchet.server.carriers.provider_http import (
    Answer,
    ProviderClient,
    basic_auth,
    events_url,
    taken_ref,
)
from trebuchet.server.carriers.refs import Part, Refs, SqlRefs
from trebuchet.server.config import Settings
from trebuchet.server.net.guard import AddressPolicy
from trebuchet.server.store import Store

API_URL = "https://api.twilio.com"
DEFAULT_TIMEOUT = 10.0

# Twilio error codes (send-time answers and ``ErrorCode`` of callbacks) → delivery codes.
ERROR_CODES: dict[int, int] = {
    21211: 720,  # invalid 'To' phone number
    21214: 720,  # 'To' phone number cannot be reached
    21217: 720,  # phone number does not appear to be valid
    21265: 720,  # 'To' number cannot be a short code
    21401: 720,  # invalid phone number
    21407: 720,  # number not supported
    21408: 750,  # permission to send to this region not enabled
    21612: 720,  # the 'To' number is not currently reachable via SMS
    21614: 720,  # 'To' number is not a valid mobile number
    21635: 720,  # 'To' number cannot be a landline
    21606: 740,  # the 'From' number is not a valid, SMS-capable number for the account
    21659: 740,  # 'From' is not a Twilio phone number
    21660: 740,  # mismatch between 'From' and the account
    21661: 740,  # 'From' number is not SMS-capable
    21610: 775,  # attempt to send to an unsubscribed recipient
    21617: 751,  # the concatenated message body exceeds the 1600 character limit
    21620: 751,  # invalid media URL(s) / media too large
    30001: 600,  # queue overflow
    30002: 620,  # account suspended
    30003: 650,  # unreachable destination handset
    30004: 750,  # message blocked
    30005: 720,  # unknown destination handset
    30006: 720,  # landline or unreachable carrier
    30007: 770,  # message filtered (carrier violation)
    30008: 999,  # unknown error
    30032: 750,  # toll-free number has not been verified
    30034: 750,  # message from an unregistered number
    30036: 902,  # validity period expired
}
# ``ValidityPeriod`` takes 1 to 36000 seconds; 36000 is also what Twilio keeps a message
# queued without one.
MAX_VALIDITY_PERIOD = 36_000
# Twilio error codes that mean "later" whatever the HTTP status.
TRANSIENT_ERRORS = frozenset({20429, 30001})


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str
    auth_token: str
    # Optional: send through a messaging service (MG...) instead of the From number alone.
    messaging_service_sid: str = ""
    # The URL Twilio calls for status callbacks and inbound messages, exactly as Twilio sees
    # it (signatures cover it); default: public_url + /v1/carriers/{name}/events.
    events_url: str = ""
    # The API root (a test double's address; Twilio's by default).
    url: str = API_URL
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_mapping(cls, name: str, values: Mapping[str, Any]) -> TwilioConfig:
        given = {key: value for key, value in values.items() if key != "type"}
        unknown = set(given) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"carrier {name!r}: unknown settings {', '.join(sorted(unknown))}")
        missing = [key for key in ("account_sid", "auth_token") if not given.get(key)]
        if missing:
            raise ValueError(f"carrier {name!r}: missing {', '.join(missing)}")
        return cls(**given)


def delivery_code(error_code: int | None, default: int) -> int:
    """The delivery code a Twilio error code means (``default`` for one we do not know)."""
    return ERROR_CODES.get(error_code, default) if error_code is not None else default


def refusal(answer: Answer) -> Exception:
    """What a Twilio error answer means: a retry or a final refusal with its code."""
    document = answer.json()
    error = document if isinstance(document, dict) else {}
    raw_code = error.get("code")
    code = raw_code if isinstance(raw_code, int) else None
    said = str(error.get("message") or answer.text[:200] or "no explanation")
    reason = f"Twilio answered {answer.status} (error {code}): {said}"
    if code in TRANSIENT_ERRORS:
        return TransientFailure(reason)
    default = 620 if answer.status in (401, 403, 404) else 750
    return PermanentFailure(reason, delivery_code(code, default))


class TwilioCarrier:
    def __init__(
        self,
        name: str,
        config: TwilioConfig,
        refs: Refs,
        client: ProviderClient,
        callback_url: str,
        links: MediaLinks | None = None,
    ):
        self.name = name
        self.config = config
        self.refs = refs
        self.client = client
        self.callback_url = callback_url
        self.links = links

    def bind(self, sink: CarrierSink) -> None:
        pass  # callbacks arrive at the events endpoint, not through this object

    def form(self, message: OutboundMessage, media: list[str]) -> list[tuple[str, str]]:
        """The ``CreateMessage`` form (a list: ``MediaUrl`` repeats)."""
        form = [("To", message.to_number), ("From", message.from_number)]
        if self.config.messaging_service_sid:
            form.append(("MessagingServiceSid", self.config.messaging_service_sid))
        if message.text:
            form.append(("Body", message.text))
        form += [("MediaUrl", url) for url in media]
        form.append(("StatusCallback", self.callback_url))
        validity = message.validity_seconds
        if validity is not None and validity < MAX_VALIDITY_PERIOD:
            form.append(("ValidityPeriod", str(validity)))
        # The record shows the text as sent: a messaging service's own smart encoding
        # must not change it.
        form.append(("SmartEncoded", "false"))
        return form

    async def send(self, message: OutboundMessage) -> Accepted:
        c = self.config
        media = await self.links.public(message) if self.links else list(message.media)
        url = f"{c.url.rstrip('/')}/2010-04-01/Accounts/{quote(c.account_sid)}/Messages.json"
        auth = basic_auth(c.account_sid, c.auth_token)
        answer = await self.client.post(url, auth, data=self.form(message, media))
        if answer.status >= 300:
            raise refusal(answer)
        sid = taken_ref(answer, "sid", "Twilio", "a sid")
        await self.refs.record(self.name, [Part(message.id, 1, 1, sid)])
        return Accepted(sid)

    async def poll_receipt(self, message: OutboundMessage, carrier_ref: str) -> Receipt | None:
        return None  # receipts are pushed to the events endpoint

    async def close(self) -> None:
        await self.client.close()


def build_twilio_carrier(
    name: str, values: Mapping[str, Any], store: Store, settings: Settings
) -> TwilioCarrier:
    config = TwilioConfig.from_mapping(name, values)
    if not (config.events_url or settings.public_url):
        raise ValueError(
            f"carrier {name!r}: set public_url (or the carrier's events_url) to the address"
            " Twilio calls: its signatures cover that URL"
        )
    client = ProviderClient(AddressPolicy.from_settings(settings), config.timeout)
    callback = events_url(name, config.events_url, settings)
    return TwilioCarrier(
        name, config, SqlRefs(store), client, callback, MediaLinks.from_settings(store, settings)
    )
