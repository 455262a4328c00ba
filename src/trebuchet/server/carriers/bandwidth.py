"""The ``bandwidth`` carrier: messages sent through Bandwidth's Messaging API v2.

``send`` POSTs JSON to ``/users/{accountId}/messages`` with Basic auth (the API
credentials): ``applicationId``, ``to`` (one number), ``from``, ``text``, ``media`` and our
message id as ``tag`` (it comes back in every callback).  The answer's ``id`` is the
carrier reference.  408/425/429/5xx and no connection in time are retried, a timeout once
the request went out is unanswered (``provider_http.py``); any other error answer
(``{"type", "description", "fieldErrors"}``) is final: 401/403/404 mean the account or
application is wrong (620), anything else a refused message (750, 720 when a field error
names ``to``), with Bandwidth's words as the reason.

Bandwidth does not take a callback URL per message: status callbacks and inbound
messages go to the URLs set on the application, which should be our
``/v1/carriers/{name}/events`` (``carriers/bandwidth_events.py``).
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
)
from trebuchet.server.carriers.codes import DELIVERY_CODES
from trebuchet.server.carriers.media_links import MediaLinks
from trebuchet.server.carriers.provider_http import (
    Answer,
    ProviderClient,
    basic_auth,
    taken_ref,
)
from trebuchet.server.carriers.refs import Part, Refs, SqlRefs
from trebuchet.server.config import Settings
from trebuchet.server.net.guard import AddressPolicy
from trebuchet.server.store import Store

API_URL = "https://messaging.bandwidth.com/api/v2"
DEFAULT_TIMEOUT = 10.0
# Bandwidth error codes whose last three digits are not the delivery code they mean.
ERROR_CODES: dict[int, int] = {
    4001: 700,  # service not allowed
    4301: 720,  # malformed or invalid destination
    4302: 720,  # unsupported destination
    4303: 770,  # rejected as spam
    4350: 720,  # malformed for destination
    4360: 902,  # message expired
    4405: 750,  # unsupported content type
    4432: 750,  # blocked to this country
    4434: 750,  # blocked to toll-free
    4470: 770,  # rejected as spam
    4481: 740,  # blocked 'from' number
    4492: 902,  # expired in the carrier's queue
    4701: 650,  # destination unreachable
    4702: 650,  # destination unavailable
    4721: 720,  # destination not in service
    4780: 750,  # P2P volume violation
}


@dataclass(frozen=True)
class BandwidthConfig:
    account_id: str
    username: str
    password: str
    application_id: str
    # The Basic credentials Bandwidth sends with callbacks (set on the application).
    callback_username: str = ""
    callback_password: str = ""
    # The API root (a test double's address; Bandwidth's by default).
    url: str = API_URL
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_mapping(cls, name: str, values: Mapping[str, Any]) -> BandwidthConfig:
        given = {key: value for key, value in values.items() if key != "type"}
        unknown = set(given) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"carrier {name!r}: unknown settings {', '.join(sorted(unknown))}")
        needed = ("account_id", "username", "password", "application_id", "callback_username",
                  "callback_password")  # fmt: skip
        missing = [key for key in needed if not given.get(key)]
        if missing:
            raise ValueError(f"carrier {name!r}: missing {', '.join(missing)}")
        return cls(**given)


def delivery_code(error_code: int | None) -> int:
    """The delivery code a Bandwidth error code means: Bandwidth's codes are ours with a
    leading 4 (client), 5 (carrier) or 9 (timeout), save those in :data:`ERROR_CODES`."""
    if error_code is None:
        return 999
    if error_code in ERROR_CODES:
        return ERROR_CODES[error_code]
    if error_code % 1000 in DELIVERY_CODES:
        return error_code % 1000
    return {4: 750, 5: 650}.get(error_code // 1000, 999)


def refusal(answer: Answer) -> PermanentFailure:
    """What a final Bandwidth error answer means."""
    document = answer.json()
    error = document if isinstance(document, dict) else {}
    said = str(error.get("description") or answer.text[:200] or "no explanation")
    kind = error.get("type") or "error"
    reason = f"Bandwidth answered {answer.status} ({kind}): {said}"
    if answer.status in (401, 403, 404):
        return PermanentFailure(reason, 620)
    fields_named = [
        item.get("fieldName") for item in error.get("fieldErrors") or [] if isinstance(item, dict)
    ]
    return PermanentFailure(reason, 720 if "to" in fields_named else 750)


class BandwidthCarrier:
    def __init__(
        self,
        name: str,
        config: BandwidthConfig,
        refs: Refs,
        client: ProviderClient,
        links: MediaLinks | None = None,
    ):
        self.name = name
        self.config = config
        self.refs = refs
        self.client = client
        self.links = links

    def bind(self, sink: CarrierSink) -> None:
        pass  # callbacks arrive at the events endpoint, not through this object

    def body(self, message: OutboundMessage, media: list[str]) -> dict[str, Any]:
        """The ``createMessage`` request."""
        body: dict[str, Any] = {
            "applicationId": self.config.application_id,
            "to": [message.to_number],
            "from": message.from_number,
            "tag": message.id,
        }
        if message.text:
            body["text"] = message.text
        if media:
            body["media"] = media
        return body

    async def send(self, message: OutboundMessage) -> Accepted:
        c = self.config
        media = await self.links.public(message) if self.links else list(message.media)
        url = f"{c.url.rstrip('/')}/users/{quote(c.account_id)}/messages"
        auth = basic_auth(c.username, c.password)
        answer = await self.client.post(url, auth, json=self.body(message, media))
        if answer.status >= 300:
            raise refusal(answer)
        ref = taken_ref(answer, "id", "Bandwidth", "a message id")
        await self.refs.record(self.name, [Part(message.id, 1, 1, ref)])
        return Accepted(ref)

    async def poll_receipt(self, message: OutboundMessage, carrier_ref: str) -> Receipt | None:
        return None  # receipts are pushed to the events endpoint

    async def close(self) -> None:
        await self.client.close()


def build_bandwidth_carrier(
    name: str, values: Mapping[str, Any], store: Store, settings: Settings
) -> BandwidthCarrier:
    config = BandwidthConfig.from_mapping(name, values)
    client = ProviderClient(AddressPolicy.from_settings(settings), config.timeout)
    return BandwidthCarrier(
        name, config, SqlRefs(store), client, MediaLinks.from_settings(store, settings)
    )
