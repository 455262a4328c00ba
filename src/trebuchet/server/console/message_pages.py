"""The messages list (every API filter, text search over recent messages, keyset pages)
and one message's page (every field, its timeline, callback attempts, redaction).

The list reads its page through the API's own ``message_page`` (``api/messages.py``):
the same filter checks, the same signed cursors, the same store query.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from trebuchet.server.api.context import Ctx
from trebuchet.server.api.message_events import event_json
from trebuchet.server.api.message_filters import (
    DELIVERY_STATES,
    DIRECTIONS,
    FILTER_PARAMS,
    STATES,
)
from trebuchet.server.api.message_output import message_out, page_key
from trebuchet.server.api.messages import message_page
from trebuchet.server.console.session import PREFIX, Page, console_route
from trebuchet.server.domain import errors
from trebuchet.server.domain.segments import gsm7_septets
from trebuchet.server.domain.times import US, now_us
from trebuchet.server.store.event_actions import EventFilter

PAGE_SIZE = 50
# Text search looks at this many days of messages (an index range, never the whole table).
SEARCH_DAYS = 7
SEARCH_CURSOR = "before"


def with_query(ctx: Ctx, pairs: Sequence[tuple[str, str]]) -> Ctx:
    """``ctx`` whose request carries ``pairs`` as its query string."""
    scope = {**ctx.request.scope, "query_string": urlencode(pairs).encode()}
    return Ctx(Request(scope, ctx.request.receive), ctx.services, ctx.user, ctx.base_url)


def _filters(request: Request) -> dict[str, str]:
    return {name: request.query_params.get(name, "") for name in (*FILTER_PARAMS, "q")}


async def _listed(p: Page, filters: dict[str, str]) -> tuple[list[Any], str | None]:
    """The rows to show and the next page's console URL (None on the last page)."""
    query = p.request.query_params
    if filters["q"]:
        return await _searched(p, filters["q"])
    pairs = [(k, v) for k, v in filters.items() if v and k != "q"]
    pairs += [("sortOrder", "desc"), ("size", str(PAGE_SIZE))]
    if query.get("sortKeyLT"):
        pairs.append(("sortKeyLT", query["sortKeyLT"]))
    result = await message_page(with_query(p.ctx, pairs))
    rows = [message_out(row) for row in result.rows]
    if result.next_params is None:
        return rows, None
    keep = [(k, v) for k, v in result.next_params if k not in ("sortOrder", "size")]
    return rows, f"{PREFIX}/messages?{urlencode(keep)}"


async def _searched(p: Page, text: str) -> tuple[list[Any], str | None]:
    cursors, scope = p.ctx.services.cursors, f"{p.user_id}:search"
    cursor = p.request.query_params.get(SEARCH_CURSOR)
    before = cursors.decode(scope, cursor, SEARCH_CURSOR) if cursor else None
    since = now_us() - SEARCH_DAYS * 86_400_000_000
    rows = await p.ctx.store.console.search(p.user_id, text, since, before, PAGE_SIZE + 1)
    if len(rows) <= PAGE_SIZE:
        return [message_out(row) for row in rows], None
    rows = rows[:PAGE_SIZE]
    after = cursors.encode(scope, *page_key(rows[-1]))
    return [message_out(row) for row in rows], (
        f"{PREFIX}/messages?{urlencode({'q': text, SEARCH_CURSOR: after})}"
    )


async def messages_list(p: Page) -> Response:
    filters = _filters(p.request)
    problem, status = None, 200
    try:
        rows, next_url = await _listed(p, filters)
    except errors.ApiError as exc:
        if exc.status != 400:
            raise
        rows, next_url, problem, status = [], None, exc.message, 400
    first_page = not (p.request.query_params.get("sortKeyLT") or p.request.query_params.get(
        SEARCH_CURSOR))  # fmt: skip
    template = "_message_rows.html" if p.request.headers.get("hx-request") else "messages.html"
    return p.render(
        template, status,
        nav="messages", rows=rows, next_url=next_url, filters=filters, problem=problem,
        directions=DIRECTIONS, states=STATES, delivery_states=DELIVERY_STATES,
        live=first_page, search_days=SEARCH_DAYS, query=urlencode(
            [(k, v) for k, v in filters.items() if v]),
    )  # fmt: skip


def _encoding(text: str, media: list[Any]) -> str:
    if media:
        return "MMS"
    return "GSM-7" if gsm7_septets(text) is not None else "UCS-2"


def _timeline(message: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What happened to the message, oldest first: intake, callback events and their
    attempts, and where its delivery stands."""
    inbound = message.direction == "in"
    steps: list[dict[str, Any]] = [{
        "time": message.time, "title": "Received" if inbound else "Accepted",
        "detail": f"{message.segmentCount} segment(s), {_encoding(message.text, [])}",
        "tone": "neutral",
    }]  # fmt: skip
    for event in events:
        payload = event["payload"]
        kind = payload["eventType"].upper()
        if payload.get("deliveryState"):
            title = f"Receipt: {payload['deliveryState']}"
            detail = f"code {payload.get('deliveryCode')}: {payload.get('deliveryDescription')}"
            bad = payload["deliveryState"] == "not-delivered"
        else:
            title, bad = f"{payload['state'].capitalize()}", payload["state"] == "error"
            detail = f"{kind} event for the {'application' if inbound else 'callback URL'}"
        steps.append({"time": event["createdTime"], "title": title, "detail": detail,
                      "tone": "bad" if bad else "good"})  # fmt: skip
        for attempt in event["attempts"]:
            status = attempt.get("status", attempt.get("error", "no answer"))
            steps.append({
                "time": attempt["time"], "title": f"Callback to {attempt['target']} URL",
                "detail": f"{event['callbackHttpMethod']} {attempt['url']} → {status} "
                          f"in {attempt['durationMs']} ms",
                "tone": "good" if isinstance(status, int) and status < 300 else "bad",
            })  # fmt: skip
    if message.deliveryState:
        code = message.deliveryCode
        steps.append({
            "time": "", "title": f"Delivery: {message.deliveryState}",
            "detail": f"code {code}: {message.deliveryDescription or ''}" if code else "",
            "tone": "good" if message.deliveryState == "delivered" else "neutral",
        })  # fmt: skip
    steps.append({"time": "", "title": f"State: {message.state}", "detail": "",
                  "tone": "bad" if message.state == "error" else "neutral"})  # fmt: skip
    return steps


async def _message(p: Page) -> tuple[Any, list[dict[str, Any]]]:
    message_id = p.request.path_params["message_id"]
    row = await p.ctx.store.messages.get(p.user_id, message_id)
    if row is None:
        raise errors.not_found("message", message_id)
    events, attempts = await p.ctx.store.messages.events(message_id)
    by_event: dict[str, list[Any]] = {}
    for attempt in attempts:
        by_event.setdefault(attempt["event_id"], []).append(attempt)
    shown = []
    for event in events:
        tries = by_event.get(event["id"], [])
        body = event_json(event, tries)
        for attempt, raw in zip(body["attempts"], tries, strict=True):
            headers = raw.get("request_headers")
            attempt["headers"] = json.loads(headers) if headers else {}
            attempt["answer"] = raw.get("answer")
        shown.append(body)
    return message_out(row), shown


async def message_detail(p: Page) -> Response:
    message, events = await _message(p)
    media = json.loads(bytes(message.media))
    template = "_message_body.html" if p.request.headers.get("hx-request") else "message.html"
    return p.render(
        template, nav="messages", message=message, media=media, events=events,
        timeline=_timeline(message, events), encoding=_encoding(message.text, media),
    )  # fmt: skip


async def redact(p: Page) -> Response:
    message_id = p.request.path_params["message_id"]
    if not await p.ctx.store.messages.redact(p.user_id, message_id):
        raise errors.not_found("message", message_id)
    return RedirectResponse(f"{PREFIX}/messages/{message_id}", 303)


async def redeliver(p: Page) -> Response:
    """Deliver the message's callbacks again, in their order: the store's one rule, as
    ``POST .../events/redeliver`` and ``trebuchet events redeliver`` apply it."""
    message_id = p.request.path_params["message_id"]
    if await p.ctx.store.messages.get(p.user_id, message_id) is None:
        raise errors.not_found("message", message_id)
    which = EventFilter(user_id=p.user_id, message_id=message_id)
    window = round(p.ctx.settings.callback_retry_window * US)
    await p.ctx.store.events.redeliver(which, now_us(), window)
    return RedirectResponse(f"{PREFIX}/messages/{message_id}", 303)


routes = [
    console_route(f"{PREFIX}/messages", messages_list),
    console_route(f"{PREFIX}/messages/{{message_id}}", message_detail),
    console_route(f"{PREFIX}/messages/{{message_id}}/redact", redact, ("POST",)),
    console_route(f"{PREFIX}/messages/{{message_id}}/redeliver", redeliver, ("POST",)),
]
