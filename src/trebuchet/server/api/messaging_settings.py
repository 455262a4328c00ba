"""``/messagingSettings``: a user's messaging settings (smart encoding by default, the
opt-out scope) and each of their numbers' opt-out settings.  Extensions to the Catapult
API (docs/messaging-controls.md); PATCH changes the properties given (null = unchanged)
and refuses unknown ones, like the spec's other PATCH."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import msgspec
from starlette.responses import Response

from trebuchet.server.api import openapi_parts as o
from trebuchet.server.api import validation as v
from trebuchet.server.api.body import decode_json, read_body
from trebuchet.server.api.context import Ctx, user_route
from trebuchet.server.api.responses import json_response
from trebuchet.server.domain import errors
from trebuchet.server.domain.keywords import OptOutHandling, OptOutScope
from trebuchet.server.store.messaging_settings import NumberSettings, UserSettings

RESOURCE = "messagingSettings"
SCOPES = tuple(OptOutScope)
HANDLINGS = tuple(OptOutHandling)


class UserSettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    smartEncoding: bool | None = None
    optOutScope: str | None = None


class NumberSettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    optOutHandling: str | None = None
    autoReplies: bool | None = None


def user_settings_json(settings: UserSettings) -> dict[str, Any]:
    return {"smartEncoding": settings.smart_encoding, "optOutScope": settings.opt_out_scope}


def number_settings_json(number: str, settings: NumberSettings) -> dict[str, Any]:
    return {
        "number": number,
        "optOutHandling": settings.opt_out_handling,
        "autoReplies": settings.auto_replies,
    }


async def get_settings(ctx: Ctx) -> Response:
    return json_response(user_settings_json(await ctx.store.messaging_settings.user(ctx.user.id)))


async def update_settings(ctx: Ctx) -> Response:
    raw = await read_body(ctx.request, ctx.settings.max_body_bytes)
    body = decode_json(raw, UserSettingsIn, RESOURCE)
    scope = v.one_of(RESOURCE, "optOutScope", body.optOutScope, SCOPES)
    settings = await ctx.store.messaging_settings.user(ctx.user.id)
    if body.smartEncoding is not None:
        settings = replace(settings, smart_encoding=body.smartEncoding)
    if scope is not None:
        settings = replace(settings, opt_out_scope=OptOutScope(scope))
    await ctx.store.messaging_settings.set_user(ctx.user.id, settings)
    ctx.services.messaging.discard(ctx.user.id)
    return json_response(user_settings_json(settings))


async def _own_number(ctx: Ctx) -> str:
    number = str(ctx.request.path_params["number"])
    if not await ctx.services.owns_number(ctx.user.id, number):
        raise errors.not_found("number", number)
    return number


async def get_number_settings(ctx: Ctx) -> Response:
    number = await _own_number(ctx)
    settings = await ctx.store.messaging_settings.number(ctx.user.id, number)
    return json_response(number_settings_json(number, settings))


async def update_number_settings(ctx: Ctx) -> Response:
    number = await _own_number(ctx)
    raw = await read_body(ctx.request, ctx.settings.max_body_bytes)
    body = decode_json(raw, NumberSettingsIn, RESOURCE)
    handling = v.one_of(RESOURCE, "optOutHandling", body.optOutHandling, HANDLINGS)
    settings = await ctx.store.messaging_settings.number(ctx.user.id, number)
    if handling is not None:
        settings = replace(settings, opt_out_handling=OptOutHandling(handling))
    if body.autoReplies is not None:
        settings = replace(settings, auto_replies=body.autoReplies)
    await ctx.store.messaging_settings.set_number(ctx.user.id, number, settings)
    return json_response(number_settings_json(number, settings))


routes = [
    user_route("/messagingSettings", get_settings, ["GET"]),
    user_route("/messagingSettings", update_settings, ["PATCH"]),
    user_route("/messagingSettings/numbers/{number}", get_number_settings, ["GET"]),
    user_route("/messagingSettings/numbers/{number}", update_number_settings, ["PATCH"]),
]

_SCOPE = {"enum": list(SCOPES)}
_HANDLING = {"enum": list(HANDLINGS)}
SCHEMAS: dict[str, Any] = {
    "MessagingSettings": {
        "type": "object",
        "properties": {"smartEncoding": o.BOOL, "optOutScope": _SCOPE},
        "required": ["smartEncoding", "optOutScope"],
    },
    "NumberMessagingSettings": {
        "type": "object",
        "properties": {"number": o.E164, "optOutHandling": _HANDLING, "autoReplies": o.BOOL},
        "required": ["number", "optOutHandling", "autoReplies"],
    },
}
_USER_BODY = {
    "type": "object",
    "properties": {
        "smartEncoding": {"type": ["boolean", "null"]},
        "optOutScope": {"enum": [*SCOPES, None]},
    },
    "additionalProperties": False,
}
_NUMBER_BODY = {
    "type": "object",
    "properties": {
        "optOutHandling": {"enum": [*HANDLINGS, None]},
        "autoReplies": {"type": ["boolean", "null"]},
    },
    "additionalProperties": False,
}
OPENAPI_PATHS: dict[str, Any] = {
    "/v1/users/{userId}/messagingSettings": {
        "parameters": [o.USER],
        "get": o.reading("The user's messaging settings", "The settings", "MessagingSettings"),
        "patch": o.writing(
            "Change the user's messaging settings",
            _USER_BODY,
            {"200": o.one("The settings now", "MessagingSettings")},
        ),
    },
    "/v1/users/{userId}/messagingSettings/numbers/{number}": {
        "parameters": [o.USER, o.path("number")],
        "get": o.reading(
            "One number's opt-out settings", "The settings", "NumberMessagingSettings"
        ),
        "patch": o.writing(
            "Change one number's opt-out settings",
            _NUMBER_BODY,
            {"200": o.one("The settings now", "NumberMessagingSettings")},
        ),
    },
}
