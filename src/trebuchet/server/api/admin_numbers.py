"""``/v1/admin/phoneNumbers``: the operator's number inventory over HTTP.

Authenticated like every admin endpoint (``Authorization: Bearer <admin_token>``; 404
while the setting is unset).  The same operations as ``trebuchet numbers``:

* ``POST /v1/admin/phoneNumbers`` ``{"number": "+1...", "userId": "u-..."?}``: add a
  number the inventory never held (assigned at once when ``userId`` is given); 201;
* ``GET /v1/admin/phoneNumbers?numberState=&userId=&after=&size=``: list, number order;
* ``GET /v1/admin/phoneNumbers/{number}``: one;
* ``POST /v1/admin/phoneNumbers/{number}/assign`` ``{"userId": "u-..."}`` and
  ``POST .../unassign``: give an available number to a user, take it back;
* ``DELETE /v1/admin/phoneNumbers/{number}``: release it for good.

Each answers the number's record ``{"id", "number", "userId", "numberState",
"createdTime", "releasedTime"}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trebuchet.server.api import validation as v
from trebuchet.server.api.admin_auth import admin_services
from trebuchet.server.api.body import decode_json, read_body
from trebuchet.server.api.responses import json_response
from trebuchet.server.domain import errors
from trebuchet.server.domain.times import format_time
from trebuchet.server.store import Conflict
from trebuchet.server.store.inventory import (
    STATES,
    Inventory,
    NumberReleased,
    UnknownNumber,
    UnknownUser,
)

RESOURCE = "phoneNumber"
PATH = "/v1/admin/phoneNumbers"
DEFAULT_SIZE = 100
MAX_SIZE = 1000
Row = Mapping[Any, Any]


class AddIn(msgspec.Struct):
    number: str | None = None
    userId: str | None = None


class AssignIn(msgspec.Struct):
    userId: str | None = None


def record(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "number": row["number"],
        "userId": row["user_id"],
        "numberState": row["number_state"],
        "createdTime": format_time(row["created_us"]),
        "releasedTime": format_time(row["released_us"]) if row["released_us"] else None,
    }


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:]


async def _acting(
    request: Request, action: Callable[[Inventory], Awaitable[Row]], status: int = 200
) -> Response:
    """Run ``action`` on the inventory; answer the number's record, or the error."""
    services = request.app.state.services
    number = request.path_params.get("number", "")
    try:
        row = await action(services.store.inventory)
    except UnknownNumber:
        raise errors.not_found("number", number) from None
    except UnknownUser as exc:
        raise errors.not_found("user", str(exc).rsplit(" ", 1)[-1]) from None
    except NumberReleased as exc:
        raise errors.ApiError("forbidden", "number-released", _sentence(exc)) from None
    except Conflict as exc:
        raise errors.conflict("number-already-allocated", _sentence(exc)) from None
    # This process forgets the number's ownership at once; others within cache_seconds.
    if row["user_id"]:
        services.ownership.discard((row["user_id"], row["number"]))
    headers = {"Location": f"{PATH}/{row['number']}"} if status == 201 else None
    return json_response(record(row), status, headers=headers)


def _number(request: Request) -> str:
    return v.phone_number(RESOURCE, "number", request.path_params["number"])


async def add_number(request: Request) -> Response:
    services = await admin_services(request)
    body = decode_json(await read_body(request, services.settings.max_body_bytes), AddIn, RESOURCE)
    number = v.phone_number(RESOURCE, "number", body.number)

    async def add(inventory: Inventory) -> Row:
        [row] = await inventory.add([number], body.userId or None)
        return row

    return await _acting(request, add, 201)


async def list_numbers(request: Request) -> Response:
    services = await admin_services(request)
    query = request.query_params
    state = query.get("numberState")
    if state is not None and state not in STATES:
        raise errors.invalid_parameter(
            "numberState", f"must be one of the following values: {', '.join(STATES)}"
        )
    size_text = query.get("size", str(DEFAULT_SIZE))
    if not size_text.isascii() or not size_text.isdigit() or not 1 <= int(size_text) <= MAX_SIZE:
        raise errors.invalid_parameter("size", f"must be an integer from 1 to {MAX_SIZE}")
    rows = await services.store.inventory.list(
        state=state,
        user_id=query.get("userId") or None,
        after=query.get("after") or None,
        limit=int(size_text),
    )
    return json_response([record(row) for row in rows])


async def get_number(request: Request) -> Response:
    services = await admin_services(request)
    number = _number(request)
    row = await services.store.inventory.get(number)
    if row is None:
        raise errors.not_found("number", number)
    return json_response(record(row))


async def assign_number(request: Request) -> Response:
    services = await admin_services(request)
    number = _number(request)
    body = decode_json(
        await read_body(request, services.settings.max_body_bytes), AssignIn, RESOURCE
    )
    user_id = v.required_text(RESOURCE, "userId", body.userId)
    return await _acting(request, lambda inventory: inventory.assign(number, user_id))


async def unassign_number(request: Request) -> Response:
    await admin_services(request)
    number = _number(request)
    holder = await request.app.state.services.store.inventory.get(number)

    async def unassign(inventory: Inventory) -> Row:
        row = await inventory.unassign(number)
        if holder is not None and holder["user_id"]:
            request.app.state.services.ownership.discard((holder["user_id"], number))
        return row

    return await _acting(request, unassign)


async def release_number(request: Request) -> Response:
    await admin_services(request)
    number = _number(request)
    return await _acting(request, lambda inventory: inventory.release(number))


routes = [
    Route(PATH, add_number, methods=["POST"]),
    Route(PATH, list_numbers, methods=["GET"]),
    Route(f"{PATH}/{{number}}", get_number, methods=["GET"]),
    Route(f"{PATH}/{{number}}", release_number, methods=["DELETE"]),
    Route(f"{PATH}/{{number}}/assign", assign_number, methods=["POST"]),
    Route(f"{PATH}/{{number}}/unassign", unassign_number, methods=["POST"]),
]


def _operation(summary: str, ok: str, *codes: str) -> dict[str, Any]:
    described = {
        "401": "Wrong admin token",
        "404": "Admin endpoints are off, or no such number (or user)",
        "400": "Not an E.164 number, or a malformed body",
        "403": "The number was released and cannot be added again",
        "409": "The number is already in the inventory or assigned to another user",
    }
    responses = {ok: {"description": "The number's inventory record"}}
    responses.update({code: {"description": described[code]} for code in ("401", *codes)})
    return {"summary": summary, "security": [{"adminToken": []}], "responses": responses}


_NUMBER = {"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}
OPENAPI_PATHS: dict[str, Any] = {
    PATH: {
        "post": _operation("Add a number to the inventory", "201", "400", "403", "404", "409"),
        "get": _operation("List the inventory", "200", "400", "404"),
    },
    f"{PATH}/{{number}}": {
        "parameters": [_NUMBER],
        "get": _operation("One inventory number", "200", "400", "404"),
        "delete": _operation("Release a number for good", "200", "400", "404"),
    },
    f"{PATH}/{{number}}/assign": {
        "parameters": [_NUMBER],
        "post": _operation(
            "Assign an available number to a user", "200", "400", "403", "404", "409"
        ),
    },
    f"{PATH}/{{number}}/unassign": {
        "parameters": [_NUMBER],
        "post": _operation("Take a number back into the inventory", "200", "400", "403", "404"),
    },
}
