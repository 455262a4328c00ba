"""``GET /v1/users/{userId}/export/messages``: all of a user's messages (optionally with
their callback events) as one streamed download, JSON Lines or CSV.

The filters are the message list's (``message_filters.py``), checked before the first
byte is sent, so a bad one answers the spec's error body.  The body is written a page
at a time as the client reads it (``store/export.py``): memory stays one page whatever
the size.  Each JSON line is the message exactly as ``GET /messages`` shows it, plus
``events`` (as ``GET .../events`` shows them) when asked for.  CSV has a header row with
the message's properties in the API's order; media URLs are separated by spaces, absent
values are empty, ``events`` holds the events' JSON.  :func:`export_chunks` is shared
with ``trebuchet export``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Mapping
from typing import Any

import msgspec
from starlette.responses import Response, StreamingResponse

from trebuchet.server.api import messages
from trebuchet.server.api import openapi_parts as o
from trebuchet.server.api.context import Ctx, user_route
from trebuchet.server.api.message_events import event_json
from trebuchet.server.api.message_filters import FILTER_PARAMS, enum_filter, message_filter
from trebuchet.server.api.message_output import MessageOut, message_out
from trebuchet.server.store import MessageFilter, Store
from trebuchet.server.store.export import events_of, message_pages

FORMATS = ("jsonl", "csv")
BOOLEANS = ("true", "false")
EXPORT_PAGE = 500
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
# The CSV columns: the message's properties in the API's order, then its events.
CSV_COLUMNS = [field.encode_name for field in msgspec.structs.fields(MessageOut)]
_encoder = msgspec.json.Encoder()
Row = Mapping[str, Any]


def _events_by_message(events: list[Row], attempts: list[Row]) -> dict[str, list[Any]]:
    by_event: dict[str, list[Row]] = {}
    for attempt in attempts:
        by_event.setdefault(attempt["event_id"], []).append(attempt)
    grouped: dict[str, list[Any]] = {}
    for event in events:
        grouped.setdefault(event["message_id"], []).append(
            event_json(event, by_event.get(event["id"], []))
        )
    return grouped


def _json_lines(messages: list[MessageOut], events: dict[str, list[Any]] | None) -> bytes:
    lines = []
    for message in messages:
        line = _encoder.encode(message)
        if events is not None:  # the object's closing brace gives way to one more property
            line = line[:-1] + b',"events":' + _encoder.encode(events.get(message.id, [])) + b"}"
        lines.append(line)
    return b"\n".join(lines) + b"\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return str(value)


def csv_header(with_events: bool) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(CSV_COLUMNS + (["events"] if with_events else []))
    return out.getvalue().encode()


def _csv_rows(messages: list[MessageOut], events: dict[str, list[Any]] | None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    for message in messages:
        values = msgspec.json.decode(_encoder.encode(message))
        row = [_cell(values.get(column)) for column in CSV_COLUMNS]
        if events is not None:
            row.append(_encoder.encode(events.get(message.id, [])).decode())
        writer.writerow(row)
    return out.getvalue().encode()


async def export_pages(
    store: Store,
    user_id: str,
    where: MessageFilter,
    *,
    fmt: str,
    with_events: bool,
    page_size: int = EXPORT_PAGE,
) -> AsyncIterator[tuple[int, bytes]]:
    """The export's bytes, one chunk per page of messages with how many it holds (CSV:
    the header first, holding none)."""
    if fmt == "csv":
        yield 0, csv_header(with_events)
    async for page in message_pages(store, user_id, where, page_size=page_size):
        messages = [message_out(row) for row in page]
        events = None
        if with_events:
            events = _events_by_message(*await events_of(store, [m.id for m in messages]))
        body = _json_lines(messages, events) if fmt == "jsonl" else _csv_rows(messages, events)
        yield len(messages), body


async def export_chunks(
    store: Store, user_id: str, where: MessageFilter, *, fmt: str, with_events: bool
) -> AsyncIterator[bytes]:
    """:func:`export_pages` without the counts: the download's body."""
    async for _, chunk in export_pages(store, user_id, where, fmt=fmt, with_events=with_events):
        yield chunk


def export_options(query: Mapping[str, str]) -> tuple[MessageFilter, str, bool]:
    """Filters, format and whether events are wanted, from query parameters (raises the
    spec's ``invalid-parameter`` error)."""
    where = message_filter(query)
    fmt = enum_filter(query, "format", FORMATS) or "jsonl"
    with_events = (enum_filter(query, "events", BOOLEANS) or "false") == "true"
    return where, fmt, with_events


async def export_messages(ctx: Ctx) -> Response:
    where, fmt, with_events = export_options(ctx.request.query_params)
    chunks = export_chunks(ctx.store, ctx.user.id, where, fmt=fmt, with_events=with_events)
    name = f"messages-{ctx.user.id}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(chunks, media_type=MEDIA_TYPES[fmt], headers=headers)


routes = [user_route("/export/messages", export_messages, ["GET"])]


def _list_filters() -> list[dict[str, Any]]:
    """The list's own descriptions of its filters (``messages.py``)."""
    listing = messages.OPENAPI_PATHS["/v1/users/{userId}/messages"]["get"]["parameters"]
    return [parameter for parameter in listing if parameter["name"] in FILTER_PARAMS]


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/users/{userId}/export/messages": {
        "parameters": [o.USER],
        "get": {
            "summary": "Download every message (and optionally its events), oldest first",
            "parameters": [
                o.query("format", {"enum": list(FORMATS), "default": "jsonl"}, "JSON Lines or CSV"),
                o.query(
                    "events",
                    {"enum": list(BOOLEANS), "default": "false"},
                    "Add each message's callback events",
                ),
                *_list_filters(),
            ],
            "responses": {
                "200": {
                    "description": "The messages, streamed: one JSON object per line, or CSV "
                    "with a header row",
                    "content": {
                        MEDIA_TYPES["jsonl"]: {"schema": o.STR},
                        MEDIA_TYPES["csv"]: {"schema": o.STR},
                    },
                },
                **o.ERRORS,
            },
        },
    },
}
