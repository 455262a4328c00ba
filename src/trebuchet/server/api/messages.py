"""``/messages``: send one or many, list with filters and keyset paging, get, redact."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.responses import Response

from trebuchet.server import metrics
from trebuchet.server.api import openapi_parts as o
from trebuchet.server.api.body import decode_json, read_body
from trebuchet.server.api.context import Ctx, user_route
from trebuchet.server.api.idempotency import idempotency_key, key_reused, replay, request_hash
from trebuchet.server.api.media import check_message_media
from trebuchet.server.api.message_filters import (
    FILTER_PARAMS,
    enum_filter,
    message_filter,
    query_value,
)
from trebuchet.server.api.message_input import MessageIn, new_message
from trebuchet.server.api.message_output import message_out, page_key
from trebuchet.server.api.pagination import link_next, refuse_page_numbers
from trebuchet.server.api.responses import (
    Created,
    empty_response,
    json_response,
    raw_json_response,
)
from trebuchet.server.domain import errors
from trebuchet.server.domain.message import Message
from trebuchet.server.domain.times import now_us
from trebuchet.server.store import InsertJob, StoredResponse
from trebuchet.server.store.message_rows import message_to_row

# Method and route of sends, hashed with the body under an idempotency key.
SEND_ROUTE = "POST /messages"
SORT_ORDERS = ("asc", "desc")
# ASCII digits only (str.isdigit() accepts "²", which int() refuses).
INTEGER = re.compile(r"-?[0-9]+")
MAX_INTEGER_DIGITS = 12


async def _check_sender(ctx: Ctx, number: str) -> None:
    if await ctx.services.owns_number(ctx.user.id, number):
        return
    if not await ctx.store.numbers.has_any(ctx.user.id):
        raise errors.no_allocated_number(ctx.user.id)
    raise errors.number_access_denied(ctx.user.id, number)


async def _accept(ctx: Ctx, raw: bytes | msgspec.Raw, now: int) -> Message:
    msg = decode_json(raw, MessageIn, "message")
    smart = msg.smartEncoding
    if smart is None:
        smart = (await ctx.services.user_settings(ctx.user.id)).smart_encoding
    message = new_message(msg, ctx.user.id, now, policy=ctx.services.outbound, smart_encoding=smart)
    await _check_sender(ctx, message.from_number)
    if message.media:
        await check_message_media(ctx, message.from_number, message.media)
    return message


async def send(ctx: Ctx) -> Response:
    raw = await read_body(ctx.request, ctx.settings.max_body_bytes)
    first = raw.lstrip()[:1]
    if first == b"[":
        return await _send_many(ctx, raw)
    if first != b"{":
        decode_json(raw, dict[str, Any], "message")  # names the JSON error precisely
        raise errors.invalid_body("The request body must be a JSON object or an array of them")
    return await _send_one(ctx, raw, idempotency_key(ctx.request.scope))


async def send_one(ctx: Ctx, raw: bytes) -> str:
    """Accept one message (a JSON object, as ``POST /messages`` takes it) exactly as the
    API does, without an idempotency key; its id.  The console sends through here."""
    message = await _accept(ctx, raw, now_us())
    await ctx.store.messages.insert(InsertJob([message_to_row(message)]))
    metrics.messages_accepted()
    return message.id


async def _send_one(ctx: Ctx, raw: bytes, key: str | None) -> Response:
    message = await _accept(ctx, raw, now_us())
    row = message_to_row(message)
    location = ctx.user_url(f"/messages/{message.id}")
    job = InsertJob([row])
    if key is not None:
        response = StoredResponse(201, location, None)
        job = InsertJob([row], key, ctx.user.id, response, request_hash(SEND_ROUTE, raw))
    await ctx.store.messages.insert(job)
    if job.conflict:
        raise key_reused(key or "")
    if job.replayed is not None:
        return replay(job.replayed)
    metrics.messages_accepted()
    return Created(location)


async def _send_many(ctx: Ctx, raw: bytes) -> Response:
    items = decode_json(raw, list[msgspec.Raw], "message")
    limit = ctx.settings.bulk_limit
    if not items:
        raise errors.invalid_body("The array of messages must contain at least one message")
    if len(items) > limit:
        raise errors.multi_message_limit(len(items), limit)
    now = now_us()
    rows: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for item in items:
        try:
            message = await _accept(ctx, item, now)
        except errors.ApiError as exc:
            results.append({"result": "error", "error": exc.body()})
        else:
            rows.append(message_to_row(message))
            location = ctx.user_url(f"/messages/{message.id}")
            results.append({"result": "accepted", "location": location})
    body = msgspec.json.encode(results)
    key = idempotency_key(ctx.request.scope)
    job = InsertJob(rows)
    if key is not None:
        response = StoredResponse(202, None, body.decode())
        job = InsertJob(rows, key, ctx.user.id, response, request_hash(SEND_ROUTE, raw))
    if rows or key is not None:
        await ctx.store.messages.insert(job)
    if job.conflict:
        raise key_reused(key or "")
    if job.replayed is not None:
        return replay(job.replayed)
    if rows:
        metrics.messages_accepted(len(rows))
    return raw_json_response(body, 202)


def _query_value(ctx: Ctx, name: str) -> str | None:
    return query_value(ctx.request.query_params, name)


def _enum_filter(ctx: Ctx, name: str, allowed: tuple[str, ...]) -> str | None:
    return enum_filter(ctx.request.query_params, name, allowed)


def page_size(ctx: Ctx, cursor: str = "sortKeyGT") -> int:
    """The ``size`` of a list page; also refuses ``page`` numbers, naming ``cursor``."""
    refuse_page_numbers(ctx.request.query_params, cursor)
    value = _query_value(ctx, "size")
    if value is None:
        return ctx.settings.default_page_size
    if not INTEGER.fullmatch(value):
        raise errors.invalid_parameter("size", f"must be an integer, not '{value}'")
    if len(value) > MAX_INTEGER_DIGITS:  # far outside the range either way
        size = -1 if value.startswith("-") else ctx.settings.max_page_size + 1
    else:
        size = int(value)
    if size < 1:
        raise errors.invalid_parameter("size", "must be greater than 0")
    if size > ctx.settings.max_page_size:
        raise errors.invalid_parameter("size", f"exceeds the limit of {ctx.settings.max_page_size}")
    return size


@dataclass(frozen=True)
class MessagePage:
    """One page of a user's messages as the query asks, and the next page's parameters
    (None on the last page)."""

    rows: Sequence[Sequence[Any]]
    next_params: list[tuple[str, str]] | None


async def message_page(ctx: Ctx) -> MessagePage:
    """The page ``GET /messages`` answers: its filters, order, size and cursor read and
    checked from the request's query (the console reads its pages here too)."""
    where = message_filter(ctx.request.query_params)
    order = _enum_filter(ctx, "sortOrder", SORT_ORDERS) or "asc"
    descending = order == "desc"
    cursor_param, wrong_param = (
        ("sortKeyLT", "sortKeyGT") if descending else ("sortKeyGT", "sortKeyLT")
    )
    size = page_size(ctx, cursor_param)
    if _query_value(ctx, wrong_param) is not None:
        raise errors.invalid_parameter(wrong_param, f"cannot be used with sortOrder={order}")
    scope = f"{ctx.user.id}:{order}"
    cursor = _query_value(ctx, cursor_param)
    after = None if cursor is None else ctx.services.cursors.decode(scope, cursor, cursor_param)
    rows = await ctx.store.messages.list(
        ctx.user.id, where, descending=descending, after=after, limit=size + 1
    )
    if len(rows) <= size:
        return MessagePage(rows, None)
    rows = rows[:size]
    params = [(name, value) for name in FILTER_PARAMS if (value := _query_value(ctx, name))]
    params += [
        ("sortOrder", order),
        ("size", str(size)),
        (cursor_param, ctx.services.cursors.encode(scope, *page_key(rows[-1]))),
    ]
    return MessagePage(rows, params)


async def list_messages(ctx: Ctx) -> Response:
    page = await message_page(ctx)
    headers = {}
    if page.next_params is not None:
        headers["Link"] = link_next(ctx.user_url("/messages"), page.next_params)
    return json_response([message_out(row) for row in page.rows], headers=headers)


async def get_message(ctx: Ctx) -> Response:
    message_id = ctx.request.path_params["message_id"]
    row = await ctx.store.messages.get(ctx.user.id, message_id)
    if row is None:
        raise errors.not_found("message", message_id)
    return json_response(message_out(row))


class RedactIn(msgspec.Struct, forbid_unknown_fields=True):
    text: str | None = None


async def redact_message(ctx: Ctx) -> Response:
    message_id = ctx.request.path_params["message_id"]
    raw = await read_body(ctx.request, ctx.settings.max_body_bytes)
    body = decode_json(raw, RedactIn, "message")
    if body.text != "":
        raise errors.invalid_property(
            "message", "text", "must be the empty string: only redaction is supported"
        )
    if not await ctx.store.messages.redact(ctx.user.id, message_id):
        raise errors.not_found("message", message_id)
    return empty_response(200)


send_route = user_route("/messages", send, ["POST"])

routes = [
    send_route,
    user_route("/messages", list_messages, ["GET"]),
    user_route("/messages/{message_id}", get_message, ["GET"]),
    user_route("/messages/{message_id}", redact_message, ["PATCH"]),
]

_SEND_BODY = {
    "oneOf": [
        o.ref("MessageIn"),
        {"type": "array", "items": o.ref("MessageIn"), "minItems": 1, "maxItems": 50},
    ]
}
_REDACT_BODY = {
    "type": "object",
    "properties": {"text": {"const": ""}},
    "required": ["text"],
    "additionalProperties": False,
}
_FILTERS = [
    o.query("from", o.STR, "Sender, E.164"),
    o.query("to", o.STR, "Recipient, E.164"),
    o.query("fromDateTime", o.STR, "Lower bound, `yyyy-MM-dd[ HH[:mm[:ss[.SSS]]]]` or ISO 8601"),
    o.query("toDateTime", o.STR, "Upper bound (inclusive, ms precision)"),
    o.query("direction", o.DIRECTIONS),
    o.query("state", o.STATES),
    o.query("deliveryState", o.DELIVERY_STATES),
    o.query("sortOrder", {"enum": ["asc", "desc"], "default": "asc"}),
    o.SIZE,
    o.query("sortKeyGT", o.STR, "Cursor copied from a Link header (ascending)"),
    o.query("sortKeyLT", o.STR, "Cursor copied from a Link header (descending)"),
]
OPENAPI_PATHS: dict[str, Any] = {
    "/v1/users/{userId}/messages": {
        "parameters": [o.USER],
        "post": {
            "summary": "Send one message (object) or up to 50 (array)",
            "parameters": [
                {"name": "Idempotency-Key", "in": "header", "required": False, "schema": o.STR}
            ],
            "requestBody": {"required": True, **o.json_content(_SEND_BODY)},
            "responses": {
                **o.CREATED,
                "202": {
                    "description": "Bulk results, one per message, in order",
                    **o.json_content({"type": "array", "items": o.ref("BulkResult")}),
                },
                **o.ERRORS,
                "403": o.error("Sender not owned, bulk limit, bad media URL"),
                "422": o.error("Idempotency-Key already used for a different request"),
            },
        },
        "get": o.listing("List messages", "Message", _FILTERS),
    },
    "/v1/users/{userId}/messages/{messageId}": {
        "parameters": [o.USER, o.path("messageId")],
        "get": o.reading("Get one message", "The message", "Message"),
        "patch": o.writing('Redact the text (body exactly {"text": ""})', _REDACT_BODY, o.OK_EMPTY),
    },
}
