"""``/optOuts``: the user's opt-out list, an extension to the Catapult API
(docs/messaging-controls.md).  An entry says ``recipient`` receives nothing from
``number``, or from any of the user's numbers when ``number`` is null.  Listed oldest
first, by keyset (``sortKeyGT`` from the ``Link`` header)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from starlette.responses import Response

from trebuchet.server.api import openapi_parts as o
from trebuchet.server.api import validation as v
from trebuchet.server.api.body import decode_json, read_body
from trebuchet.server.api.context import Ctx, user_route
from trebuchet.server.api.messages import page_size
from trebuchet.server.api.pagination import link_next
from trebuchet.server.api.responses import empty_response, json_response
from trebuchet.server.domain import errors
from trebuchet.server.domain.times import format_time, now_us
from trebuchet.server.store.opt_outs import ALL_NUMBERS, OptOutFilter

RESOURCE = "optOut"
_CURSOR = "sortKeyGT"


class OptOutIn(msgspec.Struct):
    recipient: str | None = None
    number: str | None = None


def opt_out_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "recipient": row["recipient"],
        "number": row["number"] or None,
        "source": row["source"],
        "created": format_time(row["created_us"]),
    }


def _query_number(ctx: Ctx, name: str) -> str | None:
    value = ctx.request.query_params.get(name)
    if not value:
        return None
    try:
        return v.phone_number(RESOURCE, name, value)
    except errors.ApiError:
        raise errors.invalid_parameter(name, f"must be an E.164 number, not '{value}'") from None


async def list_opt_outs(ctx: Ctx) -> Response:
    size = page_size(ctx, _CURSOR)
    where = OptOutFilter(_query_number(ctx, "number"), _query_number(ctx, "recipient"))
    scope = f"{ctx.user.id}:optOuts"
    cursor = ctx.request.query_params.get(_CURSOR)
    after = None if not cursor else ctx.services.cursors.decode(scope, cursor, _CURSOR)
    rows = await ctx.store.opt_outs.list(ctx.user.id, where, after=after, limit=size + 1)
    headers = {}
    if len(rows) > size:
        last = rows[size - 1]
        params = [(name, value) for name in ("number", "recipient")
                  if (value := ctx.request.query_params.get(name))]  # fmt: skip
        token = ctx.services.cursors.encode(scope, last["created_us"], last["id"])
        params += [("size", str(size)), (_CURSOR, token)]
        headers["Link"] = link_next(ctx.user_url("/optOuts"), params)
    return json_response([opt_out_json(row) for row in rows[:size]], headers=headers)


async def add_opt_out(ctx: Ctx) -> Response:
    raw = await read_body(ctx.request, ctx.settings.max_body_bytes)
    body = decode_json(raw, OptOutIn, RESOURCE)
    recipient = v.phone_number(RESOURCE, "recipient", body.recipient)
    number = ALL_NUMBERS
    if body.number is not None:
        number = v.phone_number(RESOURCE, "number", body.number)
        if not await ctx.services.owns_number(ctx.user.id, number):
            raise errors.number_access_denied(ctx.user.id, number)
    row, created = await ctx.store.opt_outs.add(ctx.user.id, recipient, number, now_us())
    location = ctx.user_url(f"/optOuts/{row['id']}")
    return json_response(opt_out_json(row), 201 if created else 200, {"Location": location})


async def get_opt_out(ctx: Ctx) -> Response:
    opt_out_id = ctx.request.path_params["opt_out_id"]
    row = await ctx.store.opt_outs.get(ctx.user.id, opt_out_id)
    if row is None:
        raise errors.not_found("optOut", opt_out_id)
    return json_response(opt_out_json(row))


async def remove_opt_out(ctx: Ctx) -> Response:
    opt_out_id = ctx.request.path_params["opt_out_id"]
    if not await ctx.store.opt_outs.remove(ctx.user.id, opt_out_id):
        raise errors.not_found("optOut", opt_out_id)
    return empty_response(200)


routes = [
    user_route("/optOuts", list_opt_outs, ["GET"]),
    user_route("/optOuts", add_opt_out, ["POST"]),
    user_route("/optOuts/{opt_out_id}", get_opt_out, ["GET"]),
    user_route("/optOuts/{opt_out_id}", remove_opt_out, ["DELETE"]),
]

SCHEMAS: dict[str, Any] = {
    "OptOut": {
        "type": "object",
        "properties": {
            "id": o.STR,
            "recipient": o.E164,
            "number": {"oneOf": [o.E164, {"type": "null"}]},
            "source": {"enum": ["api", "keyword"]},
            "created": o.DATE_TIME,
        },
        "required": ["id", "recipient", "number", "source", "created"],
    }
}
_ADD_BODY = {
    "type": "object",
    "properties": {"recipient": o.E164, "number": {"oneOf": [o.E164, {"type": "null"}]}},
    "required": ["recipient"],
}
_ADDED = {"description": "The entry", "headers": o.LOCATION, **o.json_content(o.ref("OptOut"))}
OPENAPI_PATHS: dict[str, Any] = {
    "/v1/users/{userId}/optOuts": {
        "parameters": [o.USER],
        "get": o.listing(
            "The opt-out list, oldest first",
            "OptOut",
            [
                o.query("number", o.E164, "Entries for this number only"),
                o.query("recipient", o.E164, "Entries of this recipient only"),
                o.SIZE,
                o.query("sortKeyGT", o.STR, "Cursor copied from a Link header"),
            ],
        ),
        "post": o.writing(
            "Add a recipient to the list (for one number, or all when number is null)",
            _ADD_BODY,
            {"201": _ADDED, "200": {**_ADDED, "description": "The entry existed already"}},
        ),
    },
    "/v1/users/{userId}/optOuts/{optOutId}": {
        "parameters": [o.USER, o.path("optOutId")],
        "get": o.reading("One entry of the opt-out list", "The entry", "OptOut"),
        "delete": o.deleting("Remove an entry: the recipient may receive messages again"),
    },
}
