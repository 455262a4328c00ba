"""``POST /v1/carriers/{name}/events``: receipts and inbound messages from HTTP upstreams.

Authenticated per carrier: the ``events_token`` (``?token=``, or as a Bearer token or a
Basic password) or, with ``events_secret``, an ``X-Trebuchet-Signature: sha256=<hex>``
HMAC of the body, behind the same failed-authentication throttling as the API (429 once
a client has failed too often).  Answers 200 once the event is stored; 503 with
``Retry-After`` while the message it names is not yet recorded as sent (the upstream
retries, so a receipt never overtakes the ``sent`` state); 404 for an unknown carrier or
an inbound message to a number nobody owns.

A ``catapult`` upstream posts Catapult message events (``direction`` ``out`` for our
messages, with ``messageId`` the upstream's id; ``in`` for inbound messages).  An ``http``
upstream posts JSON whose fields are named by ``event_fields``: ``type`` is ``receipt``
(``ref``, ``status`` or ``code``) or ``inbound`` (``from``, ``to``, ``text``, ``media``,
``id``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trebuchet.server.api.body import read_body
from trebuchet.server.api.responses import json_response
from trebuchet.server.carriers.base import (
    CarrierSink,
    InboundMessage,
    Receipt,
    UnknownNumber,
)
from trebuchet.server.carriers.http_upstream import UpstreamConfig, dig
from trebuchet.server.carriers.refs import Refs, SqlRefs
from trebuchet.server.config import Settings
from trebuchet.server.domain import errors
from trebuchet.server.domain.states import NOT_SENT, DeliveryState, Direction, MessageState
from trebuchet.server.store import Store

SIGNATURE_HEADER = "x-trebuchet-signature"
UPSTREAM_TYPES = ("catapult", "http")
REF_WAIT_SECONDS = 3.0
NOT_YET_RETRY_AFTER = "1"


class NotYet(Exception):
    """The event names a message not yet recorded as sent: the upstream should retry."""


class StoreSink:
    """The carrier sink outside the engine: the same writes, without waking workers."""

    def __init__(self, store: Store, settings: Settings):
        from trebuchet.server.callbacks.outbox import Outbox
        from trebuchet.server.domain.times import US
        from trebuchet.server.engine.admin import inbound_router
        from trebuchet.server.engine.engine import base_url
        from trebuchet.server.store.delivery import DeliveryStore

        self._delivery = DeliveryStore(store)
        self._outbox = Outbox(base_url(settings), round(settings.callback_retry_window * US))
        self._router = inbound_router(store, settings)

    async def receipt(self, message_id: str, receipt: Receipt) -> None:
        from trebuchet.server.domain.times import now_us
        from trebuchet.server.engine.sending import apply_receipt

        await apply_receipt(self._delivery, self._outbox, message_id, receipt, now_us())

    async def inbound(self, message: InboundMessage) -> str:
        return await self._router.accept(message)


def authorised(request: Request, config: UpstreamConfig, body: bytes) -> bool:
    if config.events_secret:
        expected = hmac.new(config.events_secret.encode(), body, hashlib.sha256).hexdigest()
        given = request.headers.get(SIGNATURE_HEADER, "").removeprefix("sha256=")
        # Compared as bytes: compare_digest refuses strings with non-ASCII characters.
        if given and hmac.compare_digest(
            given.encode("utf-8", "surrogateescape"), expected.encode()
        ):
            return True
    token = config.events_token
    if not token:
        return False
    candidates = [request.query_params.get("token", "")]
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        candidates.append(value.strip())
    elif scheme.lower() == "basic":
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            candidates.append(base64.b64decode(value).decode().partition(":")[2])
    return any(
        hmac.compare_digest(c.encode("utf-8", "surrogateescape"), token.encode())
        for c in candidates
        if c
    )


class UpstreamEvents:
    """Turns one upstream event into a receipt or an inbound message for the sink."""

    def __init__(self, name: str, config: UpstreamConfig, refs: Refs, sink: CarrierSink):
        self.name = name
        self.config = config
        self.refs = refs
        self.sink = sink

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
        if await self.refs.message_state(part.message_id) in NOT_SENT:
            raise NotYet(part.message_id)
        if await self.refs.report(self.name, ref, code, "first") is None:
            return "ignored"  # a repeat
        await self.sink.receipt(part.message_id, Receipt.for_code(code))
        return "receipt"

    async def _inbound(self, sender: Any, to: Any, text: Any, media: Any, ident: Any) -> str:
        if not isinstance(sender, str) or not isinstance(to, str):
            return "ignored"
        message = InboundMessage(
            from_number=sender,
            to_number=to,
            text=text if isinstance(text, str) else "",
            media=[str(url) for url in media] if isinstance(media, list) else [],
            key=f"{self.name}:{ident}" if ident else None,
        )
        await self.sink.inbound(message)
        return "inbound"


def _code(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 999


async def carrier_events(request: Request) -> Response:
    services = request.app.state.services
    settings: Settings = services.settings
    name = request.path_params["name"]
    values = settings.carriers.get(name)
    if not isinstance(values, dict) or values.get("type") not in UPSTREAM_TYPES:
        raise errors.resource_not_found()
    config = UpstreamConfig.from_mapping(name, values)

    async def verify() -> bytes | None:
        body = await read_body(request, settings.max_body_bytes)
        return body if authorised(request, config, body) else None

    body = await services.guard.attempt(request, f"carrier:{name}", verify)
    try:
        event = json.loads(body)
    except ValueError:
        return json_response({"error": "the body is not JSON"}, 400)
    if not isinstance(event, dict):
        return json_response({"error": "the body is not a JSON object"}, 400)
    engine = getattr(request.app.state, "engine", None)
    sink: CarrierSink = engine if engine is not None else StoreSink(services.store, settings)
    handler = UpstreamEvents(name, config, SqlRefs(services.store), sink)
    try:
        done = await handler.handle(event)
    except NotYet:
        return json_response(
            {"retry": "the message is not sent yet"}, 503,
            headers={"Retry-After": NOT_YET_RETRY_AFTER},
        )  # fmt: skip
    except UnknownNumber:
        raise errors.not_found("number", str(event.get("to", ""))) from None
    return json_response({"done": done})


routes = [Route("/v1/carriers/{name}/events", carrier_events, methods=["POST"])]

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/carriers/{name}/events": {
        "post": {
            "summary": "Receipts and inbound messages from an HTTP upstream carrier",
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {"description": "Stored (or ignored: a repeat, an unknown message)"},
                "401": {"description": "Wrong token or signature"},
                "429": {"description": "Too many failed authentications from this client"},
                "404": {"description": "No such upstream carrier, or nobody owns `to`"},
                "503": {"description": "The message is not sent yet: retry (Retry-After)"},
            },
        }
    }
}
