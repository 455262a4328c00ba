"""Re-delivering and cancelling a message's callback events, by their own user.

* ``POST /v1/users/{userId}/messages/{messageId}/events/redeliver``: every event of the
  message is sent again (pending, due now, a fresh retry window);
* ``POST .../events/{eventId}/redeliver``: one event;
* ``POST .../events/cancel``: every pending event of the message stops
  (``failed``, ``errorCode`` ``callback-cancelled``);
* ``POST .../events/{eventId}/cancel``: one pending event; a finished one is a 409.

Each answers 200 with the events it changed, as ``GET .../events`` shows them.  Another
user's message or event, or an event of another message, is a 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from trebuchet.server.api import openapi_parts as o
from trebuchet.server.api.context import Ctx, user_route
from trebuchet.server.api.message_events import event_json
from trebuchet.server.api.responses import json_response
from trebuchet.server.domain import errors
from trebuchet.server.domain.dead_letters import FAILURE_CODES
from trebuchet.server.domain.states import EventState
from trebuchet.server.domain.times import US, now_us
from trebuchet.server.store.event_actions import EventFilter

Row = Mapping[str, Any]


async def _events(ctx: Ctx, changed: list[Row]) -> list[dict[str, Any]]:
    """The changed events as the change left them, with their attempts, in sequence
    order."""
    _, attempts = await ctx.store.messages.events(ctx.request.path_params["message_id"])
    by_event: dict[str, list[Row]] = {}
    for attempt in attempts:
        by_event.setdefault(attempt["event_id"], []).append(attempt)
    ordered = sorted(changed, key=lambda row: row["sequence"])
    return [event_json(e, by_event.get(e["id"], [])) for e in ordered]


async def _target(ctx: Ctx, *, one: bool) -> tuple[EventFilter, Row | None]:
    """The user's message (404 when it is not theirs) and, with ``one``, its event."""
    params = ctx.request.path_params
    message_id = params["message_id"]
    if await ctx.store.messages.get(ctx.user.id, message_id) is None:
        raise errors.not_found("message", message_id)
    which = EventFilter(user_id=ctx.user.id, message_id=message_id)
    if not one:
        return which, None
    event_id = params["event_id"]
    which = EventFilter(user_id=ctx.user.id, message_id=message_id, event_id=event_id)
    found = await ctx.store.events.page(which, None, 1)
    if not found:
        raise errors.not_found("event", event_id)
    return which, found[0]


def _window_us(ctx: Ctx) -> int:
    return round(ctx.settings.callback_retry_window * US)


async def redeliver_all(ctx: Ctx) -> Response:
    which, _ = await _target(ctx, one=False)
    changed = await ctx.store.events.redeliver(which, now_us(), _window_us(ctx))
    return json_response(await _events(ctx, changed))


async def redeliver_one(ctx: Ctx) -> Response:
    which, _ = await _target(ctx, one=True)
    changed = await ctx.store.events.redeliver(which, now_us(), _window_us(ctx))
    [event] = await _events(ctx, changed)
    return json_response(event)


async def cancel_all(ctx: Ctx) -> Response:
    which, _ = await _target(ctx, one=False)
    changed = await ctx.store.events.cancel(which, now_us())
    return json_response(await _events(ctx, changed))


async def cancel_one(ctx: Ctx) -> Response:
    which, event = await _target(ctx, one=True)
    changed = await ctx.store.events.cancel(which, now_us())
    if not changed:
        assert event is not None
        raise errors.conflict(
            "event-not-pending",
            f"The event '{event['id']}' is {event['state']}: only a pending event can be cancelled",
        )
    [cancelled] = await _events(ctx, changed)
    return json_response(cancelled)


routes = [
    user_route("/messages/{message_id}/events/redeliver", redeliver_all, ["POST"]),
    user_route("/messages/{message_id}/events/cancel", cancel_all, ["POST"]),
    user_route("/messages/{message_id}/events/{event_id}/redeliver", redeliver_one, ["POST"]),
    user_route("/messages/{message_id}/events/{event_id}/cancel", cancel_one, ["POST"]),
]


def _action(summary: str, answer: str, *, many: bool, conflict: bool = False) -> dict[str, Any]:
    schema = {"type": "array", "items": o.ref("MessageEvent")} if many else o.ref("MessageEvent")
    responses: dict[str, Any] = {
        "200": {"description": answer, **o.json_content(schema)},
        **o.ERRORS,
    }
    if conflict:
        responses["409"] = o.error("The event is not pending (`event-not-pending`)")
    return {"summary": summary, "responses": responses}


_MESSAGE = [o.USER, o.path("messageId")]
_EVENT = [*_MESSAGE, o.path("eventId")]
OPENAPI_PATHS: dict[str, Any] = {
    "/v1/users/{userId}/messages/{messageId}/events/redeliver": {
        "parameters": _MESSAGE,
        "post": _action(
            "Send every event of the message again, with a fresh retry window",
            "The events, now pending", many=True,
        ),
    },
    "/v1/users/{userId}/messages/{messageId}/events/{eventId}/redeliver": {
        "parameters": _EVENT,
        "post": _action(
            "Send one event again, with a fresh retry window", "The event, now pending",
            many=False,
        ),
    },
    "/v1/users/{userId}/messages/{messageId}/events/cancel": {
        "parameters": _MESSAGE,
        "post": _action(
            "Stop every pending event of the message (failed, callback-cancelled)",
            "The events cancelled (none when nothing was pending)", many=True,
        ),
    },
    "/v1/users/{userId}/messages/{messageId}/events/{eventId}/cancel": {
        "parameters": _EVENT,
        "post": _action(
            "Stop one pending event (failed, callback-cancelled)", "The event, cancelled",
            many=False, conflict=True,
        ),
    },
}  # fmt: skip

_ATTEMPT = {
    "type": "object",
    "properties": {
        "time": o.DATE_TIME,
        "target": {"enum": ["primary", "fallback"]},
        "url": o.STR,
        "durationMs": {"type": "number"},
        "status": o.INT,
        "error": o.STR,
    },
}
OPENAPI_SCHEMAS: dict[str, Any] = {
    "MessageEvent": {
        "type": "object",
        "description": "A callback event of a message with every delivery attempt",
        "properties": {
            "id": o.STR,
            "sequence": o.INT,
            "eventType": o.STR,
            "state": {"enum": [state.value for state in EventState]},
            "createdTime": o.DATE_TIME,
            "callbackHttpMethod": o.STR,
            "url": o.STR,
            "fallbackUrl": o.STR,
            "nextAttemptTime": o.DATE_TIME,
            "finishedTime": o.DATE_TIME,
            "errorCode": {"enum": list(FAILURE_CODES)},
            "error": o.STR,
            "attempts": {"type": "array", "items": _ATTEMPT},
            "payload": {"type": "object"},
        },
    }
}
