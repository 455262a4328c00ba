"""``GET /v1/users/{userId}/messages/{messageId}/events``: a message's callback events
with every delivery attempt, so users can see what their receivers were sent and said.

The events of an outbound message from the moment a carrier took it (``sent`` and its
receipts) name that carrier (``carrier``), the route's first or the one it failed over to;
the callback payloads themselves stay as the spec has them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from trebuchet.server.api.context import Ctx, user_route
from trebuchet.server.api.responses import json_response
from trebuchet.server.callbacks.request import redact
from trebuchet.server.domain import errors
from trebuchet.server.domain.states import MessageState
from trebuchet.server.domain.times import format_time

Row = Mapping[str, Any]


def attempt_json(row: Row) -> dict[str, Any]:
    body: dict[str, Any] = {
        "time": format_time(row["time_us"]),
        "target": row["target"],
        "url": row["url"],
        "durationMs": round(row["duration_us"] / 1000, 3),
    }
    if row["status"] is not None:
        body["status"] = row["status"]
    if row["error"] is not None:
        body["error"] = row["error"]
    return body


def _payload(text: str) -> dict[str, Any] | None:
    """The stored payload; None for a row that cannot be read (a parked poison row)."""
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def event_json(row: Row, attempts: list[Row], carrier: str | None = None) -> dict[str, Any]:
    payload = _payload(row["payload"])
    body: dict[str, Any] = {
        "id": row["id"],
        "sequence": row["sequence"],
        "eventType": payload.get("eventType", "unknown") if payload is not None else "unknown",
        "state": row["state"],
        "createdTime": format_time(row["created_us"]),
        "callbackHttpMethod": row["method"],
        "attempts": [attempt_json(a) for a in attempts],
        "payload": payload,
    }
    if carrier is not None and payload is not None and payload.get("state") == MessageState.SENT:
        body["carrier"] = carrier
    if row["url"]:
        body["url"] = redact(row["url"])
    if row["fallback_url"]:
        body["fallbackUrl"] = redact(row["fallback_url"])
    if row["due_us"] is not None:
        body["nextAttemptTime"] = format_time(row["due_us"])
    if row["finished_us"] is not None:
        body["finishedTime"] = format_time(row["finished_us"])
    if row.get("failure_code"):
        body["errorCode"] = row["failure_code"]
    if row.get("failure"):
        body["error"] = row["failure"]
    return body


async def list_events(ctx: Ctx) -> Response:
    message_id = ctx.request.path_params["message_id"]
    message = await ctx.store.messages.get(ctx.user.id, message_id)
    if message is None:
        raise errors.not_found("message", message_id)
    events, attempts = await ctx.store.messages.events(message_id)
    by_event: dict[str, list[Row]] = {}
    for attempt in attempts:
        by_event.setdefault(attempt["event_id"], []).append(attempt)
    carrier = message.carrier
    return json_response([event_json(e, by_event.get(e["id"], []), carrier) for e in events])


routes = [user_route("/messages/{message_id}/events", list_events, ["GET"])]

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/users/{userId}/messages/{messageId}/events": {
        "parameters": [
            {"name": "userId", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "messageId", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        "get": {
            "summary": "The message's callback events, each with its delivery attempts",
            "responses": {
                "200": {"description": "Events in sequence order"},
                "404": {"description": "No such message for this user"},
            },
        },
    }
}
