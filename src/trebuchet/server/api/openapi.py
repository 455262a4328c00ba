"""The OpenAPI 3.1 description served at ``/openapi.json``.

Written by hand next to the routes it describes: each route module brings its paths
(``OPENAPI_PATHS``, built from ``openapi_parts``), and this module assembles them with
the schemas they share.  A test checks that every route of the app appears here with
the same methods, and that the examples validate.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trebuchet._message_fields import MESSAGE_PROPERTIES
from trebuchet.server.api import (
    admin_inbound,
    admin_numbers,
    applications,
    carrier_events,
    event_actions,
    export,
    media,
    media_links,
    message_cancel,
    message_events,
    messages,
    messaging_settings,
    opt_outs,
    phone_numbers,
    probes,
    user_errors,
)
from trebuchet.server.api import openapi_parts as o
from trebuchet.server.api.responses import json_response
from trebuchet.server.domain.controls import MAX_VALIDITY_SECONDS
from trebuchet.server.domain.keywords import Keyword

# The message resource's properties that are not plain strings.
_MESSAGE_TYPES: dict[str, Any] = {
    "direction": o.DIRECTIONS,
    "media": {"type": "array", "items": o.STR},
    "state": o.STATES,
    "time": o.DATE_TIME,
    "segmentCount": o.INT,
    "skipMMSCarrierValidation": o.BOOL,
    "callbackTimeout": o.INT,
    "receiptRequested": {"enum": o.RECEIPTS},
    "deliveryState": o.DELIVERY_STATES,
    "deliveryCode": o.INT,
    "keyword": {"enum": [keyword.value for keyword in Keyword]},
    "sendAt": o.DATE_TIME,
    "expiration": o.DATE_TIME,
}

# The properties every message resource has.
_ALWAYS_PRESENT = ["id", "messageId", "from", "to", "direction", "text", "media", "state", "time"]


def _nullable_time(description: str) -> dict[str, Any]:
    return {"type": ["string", "null"], "format": "date-time", "description": description}


def _message_schemas() -> dict[str, Any]:
    message_in = {
        "type": "object",
        "properties": {
            "from": o.E164,
            "to": {"type": "string", "pattern": r"^(\+[1-9][0-9]{1,14}|[0-9]{5,6})$"},
            "text": {"type": ["string", "null"], "maxLength": 2048},
            "media": {"oneOf": [o.STR, {"type": "array", "items": o.URL}, {"type": "null"}]},
            "receiptRequested": {"enum": [*o.RECEIPTS, None]},
            "callbackUrl": {"type": ["string", "null"]},
            "callbackHttpMethod": {"type": ["string", "null"]},
            "callbackTimeout": {"oneOf": [{"type": "integer"}, o.STR, {"type": "null"}]},
            "fallbackUrl": {"type": ["string", "null"]},
            "tag": {"type": ["string", "null"], "maxLength": 1024},
            "skipMMSCarrierValidation": {"type": ["boolean", "null"]},
            "smartEncoding": {"type": ["boolean", "null"]},
            # Extensions: scheduling and expiry (docs/messaging-controls.md).
            "sendAt": _nullable_time("Send then (up to 35 days ahead); `scheduled` until then"),
            "expiration": _nullable_time("Not sent after this: `error`, `message-expired`"),
            "validityPeriod": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": MAX_VALIDITY_SECONDS,
                "description": "Seconds from `sendAt` (or now) it may wait; not with `expiration`",
            },
        },
        "required": ["from", "to"],
    }
    message = {
        "type": "object",
        "properties": {name: _MESSAGE_TYPES.get(name, o.STR) for name in MESSAGE_PROPERTIES},
        "required": _ALWAYS_PRESENT,
    }
    return {"MessageIn": message_in, "Message": message}


def _error_schemas() -> dict[str, Any]:
    error = {
        "type": "object",
        "properties": {
            "category": o.STR,
            "code": o.STR,
            "message": o.STR,
            "details": {
                "type": "array",
                "items": {"type": "object", "properties": {"name": o.STR, "value": o.STR}},
            },
        },
        "required": ["category", "code", "message", "details"],
    }
    bulk_result = {
        "type": "object",
        "properties": {
            "result": {"enum": ["accepted", "error"]},
            "location": o.URL,
            "error": o.ref("Error"),
        },
        "required": ["result"],
    }
    return {"Error": error, "BulkResult": bulk_result}


def _phone_number_schemas() -> dict[str, Any]:
    number = {
        "type": "object",
        "properties": {
            "id": o.STR,
            "number": o.STR,
            "nationalNumber": o.STR,
            "name": o.STR,
            "applicationId": o.STR,
            "application": o.URL,
            "fallbackNumber": o.STR,
            "city": o.STR,
            "state": o.STR,
            "price": o.STR,
            "createdTime": o.DATE_TIME,
            "numberState": o.NUMBER_STATES,
        },
    }
    number_in = {
        "type": "object",
        "properties": {
            key: {"type": ["string", "null"]}
            for key in ("number", "name", "applicationId", "fallbackNumber", "city", "state")
        },
    }
    return {"PhoneNumber": number, "PhoneNumberIn": number_in}


def _application_schemas() -> dict[str, Any]:
    nullable_string = {"type": ["string", "null"]}
    timeout = {"type": ["integer", "string", "null"]}
    properties = {
        "name": nullable_string,
        "incomingCallUrl": nullable_string,
        "incomingCallUrlCallbackTimeout": timeout,
        "incomingCallFallbackUrl": nullable_string,
        "incomingMessageUrl": nullable_string,
        "incomingMessageUrlCallbackTimeout": timeout,
        "incomingMessageFallbackUrl": nullable_string,
        "callbackHttpMethod": nullable_string,
        "autoAnswer": {"type": ["boolean", "null"]},
    }
    application = {
        "type": "object",
        "properties": {"id": o.STR, "incomingSmsUrl": o.STR, **properties},
    }
    return {
        "Application": application,
        "ApplicationIn": {"type": "object", "properties": properties},
    }


def _user_error_schemas() -> dict[str, Any]:
    user_error = {
        "type": "object",
        "properties": {
            "id": o.STR,
            "time": o.DATE_TIME,
            "category": o.STR,
            "code": o.STR,
            "message": o.STR,
            "details": {"type": "array", "items": {"type": "object"}},
        },
    }
    return {"UserError": user_error}


def _schemas() -> dict[str, Any]:
    return {
        **_message_schemas(),
        **_error_schemas(),
        **_phone_number_schemas(),
        **_application_schemas(),
        **_user_error_schemas(),
        **opt_outs.SCHEMAS,
        **messaging_settings.SCHEMAS,
        **event_actions.OPENAPI_SCHEMAS,
    }


OPENAPI_PATHS: dict[str, Any] = {
    "/openapi.json": {"get": o.public("This document", {"200": {"description": "OpenAPI"}})}
}


@cache
def openapi_document() -> dict[str, Any]:
    paths = {
        **messages.OPENAPI_PATHS,
        **phone_numbers.OPENAPI_PATHS,
        **applications.OPENAPI_PATHS,
        **user_errors.OPENAPI_PATHS,
        **OPENAPI_PATHS,
        **probes.OPENAPI_PATHS,
        **message_events.OPENAPI_PATHS,
        **message_cancel.OPENAPI_PATHS,
        **event_actions.OPENAPI_PATHS,
        **admin_inbound.OPENAPI_PATHS,
        **admin_numbers.OPENAPI_PATHS,
        **media.OPENAPI_PATHS,
        **carrier_events.OPENAPI_PATHS,
        **opt_outs.OPENAPI_PATHS,
        **messaging_settings.OPENAPI_PATHS,
        **media_links.OPENAPI_PATHS,
        **export.OPENAPI_PATHS,
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Trebuchet messaging API",
            "version": "1",
            "description": "Catapult v1 compatible Messages API, self-hosted.",
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        },
        "security": [{"basic": []}],
    }


async def openapi(request: Request) -> Response:
    return json_response(openapi_document())


routes = [Route("/openapi.json", openapi, methods=["GET"])]
