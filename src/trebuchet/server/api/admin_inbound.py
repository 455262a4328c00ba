"""``POST /v1/admin/inbound``: simulate a message arriving from the network.

Authenticated with ``Authorization: Bearer <admin_token>``, behind the same
failed-authentication throttling as the API (429 once a client has failed too often);
while the ``admin_token`` setting is unset the endpoint does not exist (404).  Body:
``{"from": "+1...", "to": "+1...", "text": "...", "media": ["https://..."]}``; answers 201
with the stored message's ``Location`` and ``{"messageId", "userId"}``.  The message goes
through the app's delivery assembly (``app.state.delivery``), like any arrival: its media
is copied into the recipient's media store.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trebuchet.server.api import validation as v
from trebuchet.server.api.admin_auth import admin_services
from trebuchet.server.api.body import decode_json, read_body
from trebuchet.server.api.responses import json_response
from trebuchet.server.carriers.base import InboundMessage, UnknownNumber
from trebuchet.server.domain import errors
from trebuchet.server.engine.delivery import Delivery


class InboundIn(msgspec.Struct, rename={"from_": "from"}):
    from_: str | None = None
    to: str | None = None
    text: str | None = None
    media: list[str] | None = None


async def inject(request: Request) -> Response:
    services = await admin_services(request)
    body = decode_json(
        await read_body(request, services.settings.max_body_bytes), InboundIn, "message"
    )
    message = InboundMessage(
        from_number=v.phone_number("message", "from", body.from_, short_code=True),
        to_number=v.phone_number("message", "to", body.to),
        text=body.text or "",
        media=list(body.media or []),
    )
    delivery: Delivery = request.app.state.delivery
    try:
        message_id, user_id = await delivery.route(message)
    except UnknownNumber:
        raise errors.not_found("number", message.to_number) from None
    root = services.settings.public_url or f"{request.url.scheme}://{request.url.netloc}"
    location = f"{root.rstrip('/')}/v1/users/{user_id}/messages/{message_id}"
    return json_response(
        {"messageId": message_id, "userId": user_id}, 201, headers={"Location": location}
    )


routes = [Route("/v1/admin/inbound", inject, methods=["POST"])]

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/admin/inbound": {
        "post": {
            "summary": "Simulate an inbound message (Bearer admin token; 404 when unset)",
            "security": [{"adminToken": []}],
            "responses": {
                "201": {"description": "Stored and routed; Location of the message"},
                "401": {"description": "Wrong admin token"},
                "429": {"description": "Too many failed authentications from this client"},
                "404": {"description": "Admin endpoints are off, or nobody owns `to`"},
            },
        }
    }
}
