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
``id``).  Both go through the app's delivery assembly (``app.state.delivery``): the
media of an inbound MMS is copied into the recipient's media store.  The translation of
an event is ``carriers/upstream_events.py``.  Hosted providers' callbacks (``twilio``,
``bandwidth``) are handled by ``api/provider_events.py``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trebuchet.server.api.body import read_body
from trebuchet.server.api.provider_events import PROVIDER_TYPES, provider_events
from trebuchet.server.api.responses import json_response
from trebuchet.server.carriers.base import UnknownNumber
from trebuchet.server.carriers.http_upstream import UpstreamConfig
from trebuchet.server.carriers.refs import SqlRefs
from trebuchet.server.carriers.upstream_events import (
    UPSTREAM_TYPES,
    NotYet,
    UpstreamEvents,
    authorised,
)
from trebuchet.server.config import Settings
from trebuchet.server.domain import errors
from trebuchet.server.engine.delivery import Delivery

NOT_YET_RETRY_AFTER = "1"


async def carrier_events(request: Request) -> Response:
    services = request.app.state.services
    settings: Settings = services.settings
    name = request.path_params["name"]
    values = settings.carriers.get(name)
    if isinstance(values, dict) and values.get("type") in PROVIDER_TYPES:
        return await provider_events(request, name, values)
    if not isinstance(values, dict) or values.get("type") not in UPSTREAM_TYPES:
        raise errors.resource_not_found()
    config = UpstreamConfig.from_mapping(name, values)

    async def verify() -> bytes | None:
        body = await read_body(request, settings.max_body_bytes)
        given = authorised(request.headers, request.query_params, config, body)
        return body if given else None

    body = await services.guard.attempt(request, f"carrier:{name}", verify)
    try:
        event = json.loads(body)
    except ValueError:
        return json_response({"error": "the body is not JSON"}, 400)
    if not isinstance(event, dict):
        return json_response({"error": "the body is not a JSON object"}, 400)
    delivery: Delivery = request.app.state.delivery
    handler = UpstreamEvents(name, config, SqlRefs(services.store), delivery)
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
            "summary": "Receipts and inbound messages from an HTTP upstream or hosted provider",
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
