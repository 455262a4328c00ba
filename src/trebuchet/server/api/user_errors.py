"""``/errors`` (spec §2.4): what went wrong outside a request, newest first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from starlette.responses import Response

from trebuchet.server.api import openapi_parts as o
from trebuchet.server.api.context import Ctx, user_route
from trebuchet.server.api.messages import page_size
from trebuchet.server.api.pagination import link_next
from trebuchet.server.api.responses import json_response
from trebuchet.server.domain import errors
from trebuchet.server.domain.times import format_time

_CURSOR = "sortKeyLT"


def error_json(row: Mapping[Any, Any]) -> dict[str, Any]:
    details = msgspec.json.decode(row["details"])
    return {
        "id": row["id"],
        "time": format_time(row["time_us"]),
        "category": row["category"],
        "code": row["code"],
        "message": row["message"],
        "details": [
            {"id": f"{row['id']}-{index}", "name": name, "value": value}
            for index, (name, value) in enumerate(details.items())
        ],
    }


async def error_page(ctx: Ctx) -> tuple[list[Mapping[Any, Any]], str | None]:
    """The page of error rows the query asks for, and the next page's cursor (None on the
    last page); the console reads its pages here too."""
    size = page_size(ctx, _CURSOR)
    scope = f"{ctx.user.id}:errors"
    cursor = ctx.request.query_params.get(_CURSOR)
    after = None if not cursor else ctx.services.cursors.decode(scope, cursor, _CURSOR)
    rows = await ctx.store.user_errors.list(ctx.user.id, after, size + 1)
    if len(rows) <= size:
        return rows, None
    last = rows[size - 1]
    return rows[:size], ctx.services.cursors.encode(scope, last["time_us"], last["id"])


async def list_errors(ctx: Ctx) -> Response:
    rows, token = await error_page(ctx)
    headers = {}
    if token is not None:
        size = str(len(rows))
        headers["Link"] = link_next(ctx.user_url("/errors"), [("size", size), (_CURSOR, token)])
    return json_response([error_json(row) for row in rows], headers=headers)


async def get_error(ctx: Ctx) -> Response:
    error_id = ctx.request.path_params["error_id"]
    row = await ctx.store.user_errors.get(ctx.user.id, error_id)
    if row is None:
        raise errors.not_found("error", error_id)
    return json_response(error_json(row))


routes = [
    user_route("/errors", list_errors, ["GET"]),
    user_route("/errors/{error_id}", get_error, ["GET"]),
]

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/users/{userId}/errors": {
        "parameters": [o.USER],
        "get": o.listing(
            "The user error log, newest first",
            "UserError",
            [o.SIZE, o.query("sortKeyLT", o.STR)],
        ),
    },
    "/v1/users/{userId}/errors/{errorId}": {
        "parameters": [o.USER, o.path("errorId")],
        "get": o.reading("One user error", "The error", "UserError"),
    },
}
