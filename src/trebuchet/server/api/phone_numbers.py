"""``/phoneNumbers`` (spec §6.1): the numbers a user may send from and receive on.

Numbers come from the operator's inventory (``store/inventory.py``): "ordering" a number
succeeds for one the operator has assigned to the user, and sets its properties.  With
``numbers_self_service`` on, a user may also claim any number nobody holds.  ``DELETE``
releases the number: it can never be added again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from starlette.responses import Response

from trebuchet.server.api import openapi_parts as o
from trebuchet.server.api import validation as v
from trebuchet.server.api.body import decode_json, read_body
from trebuchet.server.api.context import Ctx, user_route
from trebuchet.server.api.resources import camel_row, id_page_link, page_size, present
from trebuchet.server.api.responses import empty_response, json_response
from trebuchet.server.domain import errors
from trebuchet.server.domain.phone import national_format
from trebuchet.server.domain.times import format_time
from trebuchet.server.store import Conflict
from trebuchet.server.store.inventory import NumberReleased, NumberUnavailable

RESOURCE = "phoneNumber"
LIST_FILTERS = {
    "applicationId": "application_id",
    "state": "state",
    "name": "name",
    "city": "city",
    "numberState": "number_state",
}
PROPERTIES = {
    "id": "id",
    "number": "number",
    "name": "name",
    "applicationId": "application_id",
    "fallbackNumber": "fallback_number",
    "city": "city",
    "state": "state",
    "price": "price",
    "numberState": "number_state",
}


class NumberIn(msgspec.Struct):
    number: str | None = None
    name: str | None = None
    applicationId: str | None = None
    fallbackNumber: str | None = None
    city: str | None = None
    state: str | None = None


_COLUMNS = {
    "name": "name",
    "applicationId": "application_id",
    "fallbackNumber": "fallback_number",
    "city": "city",
    "state": "state",
}


def number_json(ctx: Ctx, row: Mapping[Any, Any]) -> dict[str, Any]:
    body = camel_row(row, PROPERTIES)
    body["nationalNumber"] = national_format(row["number"])
    body["createdTime"] = format_time(row["created_us"])
    if "applicationId" in body:
        body["application"] = ctx.user_url(f"/applications/{body['applicationId']}")
    return body


async def _check_application(ctx: Ctx, app_id: str | None) -> None:
    if app_id and await ctx.store.applications.get(ctx.user.id, app_id) is None:
        raise errors.ApiError(
            "forbidden",
            "application-access-denied",
            f"User '{ctx.user.id}' does not have permission to use application '{app_id}'",
            (errors.Detail("applicationId", app_id),),
        )


async def _body(ctx: Ctx) -> NumberIn:
    raw = await read_body(ctx.request, ctx.settings.max_body_bytes)
    body = decode_json(raw, NumberIn, RESOURCE)
    v.optional_number(RESOURCE, "fallbackNumber", body.fallbackNumber)
    await _check_application(ctx, body.applicationId)
    return body


def _not_available(ctx: Ctx, number: str) -> errors.ApiError:
    return errors.ApiError(
        "forbidden",
        "number-not-available",
        f"The number '{number}' is not assigned to user '{ctx.user.id}'; "
        "numbers are assigned by the operator",
        (errors.Detail("number", number),),
    )


async def create_number(ctx: Ctx) -> Response:
    body = await _body(ctx)
    number = v.phone_number(RESOURCE, "number", body.number)
    values = present(body, _COLUMNS)
    if body.applicationId is not None:
        values["application_id"] = body.applicationId or None
    inventory = ctx.store.inventory
    self_service = ctx.settings.numbers_self_service
    try:
        row = await inventory.claim(
            ctx.user.id, {"number": number, **values}, self_service=self_service
        )
    except NumberUnavailable:
        raise _not_available(ctx, number) from None
    except NumberReleased:
        raise errors.ApiError(
            "forbidden",
            "number-released",
            f"The number '{number}' was released and cannot be added again",
            (errors.Detail("number", number),),
        ) from None
    except Conflict:
        raise errors.conflict(
            "number-already-allocated", f"The number '{number}' is already allocated"
        ) from None
    return empty_response(201, {"Location": ctx.user_url(f"/phoneNumbers/{row['id']}")})


async def list_numbers(ctx: Ctx) -> Response:
    size = page_size(ctx)
    filters = {
        column: value
        for prop, column in LIST_FILTERS.items()
        if (value := ctx.request.query_params.get(prop))
    }
    after = ctx.request.query_params.get("sortKeyGT")
    rows = await ctx.store.numbers.list(ctx.user.id, filters, after, size + 1)
    headers = id_page_link(ctx, "/phoneNumbers", rows, size, tuple(LIST_FILTERS))
    return json_response([number_json(ctx, r) for r in rows[:size]], headers=headers)


async def _lookup(ctx: Ctx) -> Mapping[Any, Any]:
    ident = ctx.request.path_params["number_id"]
    row = await ctx.store.numbers.get(ctx.user.id, ident)
    if row is None:
        raise errors.not_found("number", ident)
    return row


async def get_number(ctx: Ctx) -> Response:
    return json_response(number_json(ctx, await _lookup(ctx)))


async def update_number(ctx: Ctx) -> Response:
    row = await _lookup(ctx)
    body = await _body(ctx)
    changes = present(body, _COLUMNS)
    if body.applicationId == "":
        changes["application_id"] = None  # "" unlinks; null leaves it unchanged
    await ctx.store.numbers.update(ctx.user.id, str(row["id"]), changes)
    return empty_response(200)


async def delete_number(ctx: Ctx) -> Response:
    row = await _lookup(ctx)
    await ctx.store.numbers.release(ctx.user.id, str(row["id"]))
    ctx.services.ownership.discard((ctx.user.id, row["number"]))
    return empty_response(200)


routes = [
    user_route("/phoneNumbers", create_number, ["POST"]),
    user_route("/phoneNumbers", list_numbers, ["GET"]),
    user_route("/phoneNumbers/{number_id}", get_number, ["GET"]),
    user_route("/phoneNumbers/{number_id}", update_number, ["POST"]),
    user_route("/phoneNumbers/{number_id}", delete_number, ["DELETE"]),
]

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/users/{userId}/phoneNumbers": {
        "parameters": [o.USER],
        "get": {
            "summary": "List phone numbers",
            "parameters": [
                o.query("applicationId", o.STR),
                o.query("state", o.STR),
                o.query("name", o.STR),
                o.query("city", o.STR),
                o.query("numberState", o.NUMBER_STATES),
                o.SIZE,
                o.query("sortKeyGT", o.STR),
            ],
            "responses": {"200": o.page_of("PhoneNumber"), **o.ERRORS},
        },
        "post": o.writing(
            "Order a number: one the operator assigned to the user (any free one only with"
            " numbers_self_service on)",
            o.ref("PhoneNumberIn"),
            o.CREATED,
            {
                "403": o.error(
                    "Foreign application; number not available to the user, or released"
                ),
                "409": o.error("Number taken (self-service)"),
            },
        ),
    },
    "/v1/users/{userId}/phoneNumbers/{numberId}": {
        "parameters": [o.USER, o.path("numberId")],
        "get": o.reading("Get a number by id or E.164", "The number", "PhoneNumber"),
        "post": o.writing(
            'Update (null or absent = unchanged; applicationId "" unlinks)',
            o.ref("PhoneNumberIn"),
            o.OK_EMPTY,
            {"403": o.error("Foreign application")},
        ),
        "delete": o.deleting("Release the number"),
    },
}
