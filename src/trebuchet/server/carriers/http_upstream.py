"""HTTP upstream carriers: relaying messages to another provider over HTTP.

Two kinds (docs/carriers.md):

* ``catapult``: another Catapult v1 API, another Trebuchet say, which makes Trebuchet
  chainable.  ``send`` POSTs ``/v1/users/{user_id}/messages`` with our message id as the
  ``Idempotency-Key`` (a retried send never makes a second message upstream) and a
  ``callbackUrl`` pointing at our ``/v1/carriers/{name}/events``, so the upstream's
  receipts come back; the upstream's message id is the carrier ref.
* ``http``: any JSON API, described by a URL template, headers (auth) and a body template
  whose strings may hold ``{id}``, ``{from}``, ``{to}``, ``{text}`` and ``{callback_url}``.

Errors are translated here: no connection, 408, 425, 429 and 5xx are transient
(``Retry-After`` honoured); once the request was sent, no answer within ``timeout`` or a
connection dropped before the answer is transient too, but
:class:`~trebuchet.server.carriers.base.Unanswered` (the upstream may have taken it;
``http_outcome.py`` draws that line for every HTTP carrier); other 4xx answers are
permanent.  At most
:data:`ANSWER_BYTES` of an answer are read (a longer one is cut off by closing the
connection; an ``http`` upstream's ref is then not found and our message id stands in).
Receipts and inbound messages come back through
:mod:`trebuchet.server.carriers.upstream_events` (the route is ``api/carrier_events.py``).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import quote

import aiohttp

from trebuchet.server.carriers.base import (
    Accepted,
    CarrierSink,
    OutboundMessage,
    PermanentFailure,
    Receipt,
    TransientFailure,
)
from trebuchet.server.carriers.http_outcome import RequestProgress, failure, tracing
from trebuchet.server.carriers.refs import Part, Refs, SqlRefs
from trebuchet.server.config import Settings
from trebuchet.server.net.bounded import read_prefix
from trebuchet.server.store import Store

TRANSIENT_STATUSES = frozenset({408, 425, 429})
DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRY_AFTER = 5.0
# How much of an upstream's answer is read: enough for any JSON acceptance.
ANSWER_BYTES = 64 * 1024
# Generic events: what each ``status`` word means (§3.4 codes); more in ``status_codes``.
DEFAULT_STATUS_CODES = {"delivered": 0, "failed": 650, "expired": 902, "rejected": 750}
DEFAULT_EVENT_FIELDS = {
    "type": "type", "ref": "ref", "status": "status", "code": "code",
    "from": "from", "to": "to", "text": "text", "media": "media", "id": "id",
}  # fmt: skip


class PermanentRejection(PermanentFailure):
    def __init__(self, reason: str, code: int):
        super().__init__(reason, code)
        self.code: int = code


@dataclass(frozen=True)
class UpstreamConfig:
    type: str
    # catapult: the API root ("https://api.example.net"); http: the URL template.
    url: str
    # Accepted on our events endpoint as ?token=, Basic password or Bearer token.
    events_token: str = ""
    # http: HMAC-SHA256 key of the X-Trebuchet-Signature header of events ("sha256=<hex>").
    events_secret: str = ""
    # Where the upstream should send events (default: our public URL + the events path).
    callback_url: str = ""
    timeout: float = DEFAULT_TIMEOUT
    # catapult credentials.
    user_id: str = ""
    api_token: str = ""
    api_secret: str = ""
    # http: request shape.
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    # http: dotted path of the provider's id in the JSON answer ("" → our message id).
    ref_field: str = ""
    event_fields: Mapping[str, str] = field(default_factory=dict)
    status_codes: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, name: str, values: Mapping[str, Any]) -> UpstreamConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"carrier {name!r}: unknown settings {', '.join(sorted(unknown))}")
        config = cls(**values)
        needed = ["url"] + (
            ["user_id", "api_token", "api_secret"] if config.type == "catapult" else []
        )
        missing = [key for key in needed if not getattr(config, key)]
        if missing:
            raise ValueError(f"carrier {name!r}: missing {', '.join(missing)}")
        if not (config.events_token or config.events_secret):
            raise ValueError(f"carrier {name!r}: set events_token (or events_secret)")
        return config

    def fields_map(self) -> dict[str, str]:
        return {**DEFAULT_EVENT_FIELDS, **self.event_fields}

    def codes(self) -> dict[str, int]:
        return {**DEFAULT_STATUS_CODES, **self.status_codes}


def events_url(name: str, config: UpstreamConfig, settings: Settings) -> str:
    if config.callback_url:
        return config.callback_url
    root = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    token = f"?token={quote(config.events_token)}" if config.events_token else ""
    return f"{root}/v1/carriers/{quote(name)}/events{token}"


def _fill(template: Any, values: Mapping[str, str]) -> Any:
    """The template with ``{name}`` placeholders filled in its strings (JSON-safe)."""
    if isinstance(template, str):
        out = template
        for key, value in values.items():
            out = out.replace("{" + key + "}", value)
        return out
    if isinstance(template, list):
        return [_fill(item, values) for item in template]
    if isinstance(template, dict):
        return {key: _fill(item, values) for key, item in template.items()}
    return template


def dig(document: Any, path: str) -> Any:
    for key in path.split(".") if path else []:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def _retry_after(headers: Mapping[str, str]) -> float:
    try:
        return max(0.0, float(headers.get("Retry-After", DEFAULT_RETRY_AFTER)))
    except ValueError:
        return DEFAULT_RETRY_AFTER


def translate_status(status: int, text: str, headers: Mapping[str, str]) -> Exception:
    """The failure an HTTP answer means (the only place statuses are mapped)."""
    reason = f"upstream answered {status}: {text[:200]}"
    if status in TRANSIENT_STATUSES or status >= 500:
        return TransientFailure(reason, _retry_after(headers))
    code = 740 if "number-access-denied" in text else 750 if status == 400 else 620
    return PermanentRejection(reason, code)


class HttpUpstreamCarrier:
    def __init__(self, name: str, config: UpstreamConfig, refs: Refs, callback_url: str):
        self.name = name
        self.config = config
        self.refs = refs
        self.callback_url = callback_url
        self._session: aiohttp.ClientSession | None = None

    def bind(self, sink: CarrierSink) -> None:
        pass  # events arrive through the events endpoint, not through this object

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.config.timeout),
                trace_configs=[tracing()],
            )
        return self._session

    def _request(self, message: OutboundMessage) -> tuple[str, str, dict[str, str], Any]:
        c = self.config
        if c.type == "catapult":
            body: dict[str, Any] = {
                "from": message.from_number, "to": message.to_number, "text": message.text,
                "callbackUrl": self.callback_url, "callbackHttpMethod": "POST",
                "tag": message.id,
            }  # fmt: skip
            if message.media:
                body["media"] = message.media
            else:
                body["receiptRequested"] = "all"
            if message.validity_seconds is not None:  # ignored by an upstream without it
                body["validityPeriod"] = message.validity_seconds
            url = f"{c.url.rstrip('/')}/v1/users/{quote(c.user_id)}/messages"
            token = base64.b64encode(f"{c.api_token}:{c.api_secret}".encode()).decode()
            auth = f"Basic {token}"
            headers = {"Authorization": auth, "Idempotency-Key": message.id}
            return "POST", url, headers, body
        values = {
            "id": message.id, "from": message.from_number, "to": message.to_number,
            "text": message.text, "callback_url": self.callback_url,
            # Seconds the upstream may keep trying; empty when the message never expires.
            "validity": "" if message.validity_seconds is None else str(message.validity_seconds),
        }  # fmt: skip
        url_values = {key: quote(value, safe="") for key, value in values.items()}
        headers = {"Idempotency-Key": message.id, **_fill(dict(c.headers), values)}
        return c.method.upper(), _fill(c.url, url_values), headers, _fill(c.body, values)

    async def send(self, message: OutboundMessage) -> Accepted:
        method, url, headers, body = self._request(message)
        progress = RequestProgress()
        request = self._client().request(
            method, url, json=body, headers=headers, trace_request_ctx=progress
        )
        try:
            async with request as resp:
                text = (await read_prefix(resp, ANSWER_BYTES)).text(resp.charset)
                if resp.status >= 300:
                    raise translate_status(resp.status, text, resp.headers)
                ref = self._ref(message, resp.headers.get("Location", ""), text)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise failure(exc, progress, "upstream") from exc
        await self.refs.record(self.name, [Part(message.id, 1, 1, ref)])
        return Accepted(ref)

    def _ref(self, message: OutboundMessage, location: str, text: str) -> str:
        if self.config.type == "catapult":
            return location.rstrip("/").rsplit("/", 1)[-1] or message.id
        if not self.config.ref_field:
            return message.id
        try:
            found = dig(json.loads(text), self.config.ref_field)
        except ValueError:
            found = None
        return str(found) if found not in (None, "") else message.id

    async def poll_receipt(self, message: OutboundMessage, carrier_ref: str) -> Receipt | None:
        return None  # receipts are pushed to the events endpoint

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            await asyncio.sleep(0)  # let the connector close its sockets
            self._session = None


def build_http_carrier(
    name: str, values: Mapping[str, Any], store: Store, settings: Settings
) -> HttpUpstreamCarrier:
    config = UpstreamConfig.from_mapping(name, values)
    return HttpUpstreamCarrier(name, config, SqlRefs(store), events_url(name, config, settings))
