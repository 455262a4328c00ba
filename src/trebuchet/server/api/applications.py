"""``/applications`` (spec §6.2): where a number's inbound messages are delivered."""

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
from trebuchet.server.domain.urls import masked
from trebuchet.server.net.guard import AddressPolicy

RESOURCE = "application"
PROPERTIES = {
    "id": "id",
    "name": "name",
    "incomingCallUrl": "incoming_call_url",
    "incomingCallUrlCallbackTimeout": "incoming_call_url_callback_timeout",
    "incomingCallFallbackUrl": "incoming_call_fallback_url",
    "incomingMessageUrl": "incoming_message_url",
    "incomingMessageUrlCallbackTimeout": "incoming_message_url_callback_timeout",
    "incomingMessageFallbackUrl": "incoming_message_fallback_url",
    "callbackHttpMethod": "callback_http_method",
    "autoAnswer": "auto_answer",
}
_WRITABLE = {prop: column for prop, column in PROPERTIES.items() if prop != "id"}
_URLS = (
    "incomingCallUrl",
    "incomingCallFallbackUrl",
    "incomingMessageUrl",
    "incomingMessageFallbackUrl",
)
_TIMEOUTS = ("incomingCallUrlCallbackTimeout", "incomingMessageUrlCallbackTimeout")


class ApplicationIn(msgspec.Struct):
    name: str | None = None
    incomingCallUrl: str | None = None
    incomingCallUrlCallbackTimeout: int | str | None = None
    incomingCallFallbackUrl: str | None = None
    incomingMessageUrl: str | None = None
    incomingMessageUrlCallbackTimeout: int | str | None = None
    incomingMessageFallbackUrl: str | None = None
    callbackHttpMethod: str | None = None
    autoAnswer: bool | None = None


def application_json(row: Mapping[Any, Any]) -> dict[str, Any]:
    body = camel_row(row, PROPERTIES)
    for prop in _URLS:
        if body.get(prop):
            body[prop] = masked(body[prop])
    if "incomingMessageUrl" in body:
        body["incomingSmsUrl"] = body["incomingMessageUrl"]  # read-only mirror (open point 28)
    return body


def _changes(body: ApplicationIn, policy: AddressPolicy) -> dict[str, Any]:
    """Validate what was sent; ``null`` and absent both mean "leave unchanged"."""
    for prop in _URLS:
        v.callback_url(prop, getattr(body, prop), policy)
    for prop in _TIMEOUTS:
        setattr(body, prop, v.timeout_ms(RESOURCE, prop, getattr(body, prop)))
    v.callback_method(RESOURCE, body.callbackHttpMethod)
    if body.name is not None:
        v.required_text(RESOURCE, "name", body.name)
    return present(body, {prop: column for prop, column in _WRITABLE.items()})


def _check_callbacks(merged: Mapping[Any, Any]) -> None:
    if not merged.get("incoming_message_url") and not merged.get("incoming_call_url"):
        raise errors.ApiError(
            "bad-request",
            "validation-error",
            "Your application must have a least one callback URL.",
        )
    if merged.get("incoming_message_fallback_url") and not merged.get("incoming_message_url"):
        raise errors.ApiError(
            "bad-request",
            "validation-error",
            "Your application must have a sms callback URL in order to have a fallback URL.",
        )


async def _body(ctx: Ctx) -> ApplicationIn:
    raw = await read_body(ctx.request, ctx.settings.max_body_bytes)
    return decode_json(raw, ApplicationIn, RESOURCE)


async def create_application(ctx: Ctx) -> Response:
    body = await _body(ctx)
    v.required_text(RESOURCE, "name", body.name)
    values = _changes(body, ctx.services.outbound)
    _check_callbacks(values)
    row = await ctx.store.applications.add(
        ctx.user.id, {column: values.get(column) for column in _WRITABLE.values()}
    )
    return empty_response(201, {"Location": ctx.user_url(f"/applications/{row['id']}")})


async def list_applications(ctx: Ctx) -> Response:
    size = page_size(ctx)
    after = ctx.request.query_params.get("sortKeyGT")
    rows = await ctx.store.applications.list(ctx.user.id, after, size + 1)
    headers = id_page_link(ctx, "/applications", rows, size, ())
    return json_response([application_json(row) for row in rows[:size]], headers=headers)


async def _lookup(ctx: Ctx) -> Mapping[Any, Any]:
    app_id = ctx.request.path_params["application_id"]
    row = await ctx.store.applications.get(ctx.user.id, app_id)
    if row is None:
        raise errors.not_found("application", app_id)
    return row


async def get_application(ctx: Ctx) -> Response:
    return json_response(application_json(await _lookup(ctx)))


async def update_application(ctx: Ctx) -> Response:
    row = await _lookup(ctx)
    changes = _changes(await _body(ctx), ctx.services.outbound)
    _check_callbacks({**row, **changes})
    await ctx.store.applications.update(ctx.user.id, row["id"], changes)
    return empty_response(200)


async def delete_application(ctx: Ctx) -> Response:
    row = await _lookup(ctx)
    await ctx.store.applications.delete(ctx.user.id, row["id"])
    return empty_response(200)


routes = [
    user_route("/applications", create_application, ["POST"]),
    user_route("/applications", list_applications, ["GET"]),
    user_route("/applications/{application_id}", get_application, ["GET"]),
    user_route("/applications/{application_id}", update_application, ["POST"]),
    user_route("/applications/{application_id}", delete_application, ["DELETE"]),
]

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/users/{userId}/applications": {
        "parameters": [o.USER],
        "get": o.listing("List applications", "Application", [o.SIZE, o.query("sortKeyGT", o.STR)]),
        "post": o.writing("Create an application", o.ref("ApplicationIn"), o.CREATED),
    },
    "/v1/users/{userId}/applications/{applicationId}": {
        "parameters": [o.USER, o.path("applicationId")],
        "get": o.reading("Get an application", "The application", "Application"),
        "post": o.writing(
            "Update (null or absent = unchanged)", o.ref("ApplicationIn"), o.OK_EMPTY
        ),
        "delete": o.deleting("Delete; its numbers are unlinked"),
    },
}
