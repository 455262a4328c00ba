"""The OpenAPI 3.1 description served at ``/openapi.json``.

Written by hand next to the routes it describes; a test checks that every route of the
app appears here with the same methods, and that the examples validate.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from trebuchet.server.domain.states import (
    DeliveryState,
    Direction,
    MessageState,
    NumberState,
    ReceiptRequest,
)

_STR = {"type": "string"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_URL = {"type": "string", "format": "uri"}
_E164 = {"type": "string", "pattern": r"^\+[1-9][0-9]{1,14}$"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, **_json(_ref("Error"))}


_ERRORS = {
    "400": _error("Invalid request (spec error body)"),
    "401": _error("Bad credentials, or another user's id"),
    "404": _error("No such resource for this user"),
    "413": _error("Request body too large"),
    "429": {
        "description": "Over the request rate, or too many failed authentications",
        "headers": {
            "Retry-After": {"schema": _INT, "description": "Seconds to wait"},
            "X-RateLimit-Reset": {"schema": _INT, "description": "Epoch ms when allowed again"},
        },
        **_json(_ref("Error")),
    },
}
_LOCATION = {"Location": {"schema": _URL, "description": "Absolute URL of the new resource"}}
_LINK = {"Link": {"schema": _STR, "description": 'Next page: `<absolute URL>; rel="next"`'}}


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _STR}


# Enums of the schema, from the states themselves (plain strings, in their order).
_RECEIPTS: list[str | None] = [receipt.value for receipt in ReceiptRequest]
_DIRECTIONS = {"enum": [direction.value for direction in Direction]}
_STATES = {"enum": [state.value for state in MessageState]}
_DELIVERY_STATES = {"enum": [state.value for state in DeliveryState]}
_NUMBER_STATES = {"enum": [state.value for state in NumberState]}

_SIZE = _query(
    "size", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 25}, "Page size"
)
_USER = _path("userId")


def _schemas() -> dict[str, Any]:
    message_in = {
        "type": "object",
        "properties": {
            "from": _E164,
            "to": {"type": "string", "pattern": r"^(\+[1-9][0-9]{1,14}|[0-9]{5,6})$"},
            "text": {"type": ["string", "null"], "maxLength": 2048},
            "media": {"oneOf": [_STR, {"type": "array", "items": _URL}, {"type": "null"}]},
            "receiptRequested": {"enum": [*_RECEIPTS, None]},
            "callbackUrl": {"type": ["string", "null"]},
            "callbackHttpMethod": {"type": ["string", "null"]},
            "callbackTimeout": {"oneOf": [{"type": "integer"}, _STR, {"type": "null"}]},
            "fallbackUrl": {"type": ["string", "null"]},
            "tag": {"type": ["string", "null"], "maxLength": 1024},
            "skipMMSCarrierValidation": {"type": ["boolean", "null"]},
        },
        "required": ["from", "to"],
    }
    message = {
        "type": "object",
        "properties": {
            "id": _STR,
            "messageId": _STR,
            "from": _STR,
            "to": _STR,
            "direction": _DIRECTIONS,
            "text": _STR,
            "media": {"type": "array", "items": _STR},
            "state": _STATES,
            "time": {"type": "string", "format": "date-time"},
            "segmentCount": _INT,
            "skipMMSCarrierValidation": _BOOL,
            "callbackUrl": _STR,
            "callbackHttpMethod": _STR,
            "callbackTimeout": _INT,
            "fallbackUrl": _STR,
            "tag": _STR,
            "receiptRequested": {"enum": _RECEIPTS},
            "deliveryState": _DELIVERY_STATES,
            "deliveryCode": _INT,
            "deliveryDescription": _STR,
        },
        "required": [
            "id",
            "messageId",
            "from",
            "to",
            "direction",
            "text",
            "media",
            "state",
            "time",
        ],
    }
    error = {
        "type": "object",
        "properties": {
            "category": _STR,
            "code": _STR,
            "message": _STR,
            "details": {
                "type": "array",
                "items": {"type": "object", "properties": {"name": _STR, "value": _STR}},
            },
        },
        "required": ["category", "code", "message", "details"],
    }
    bulk_result = {
        "type": "object",
        "properties": {
            "result": {"enum": ["accepted", "error"]},
            "location": _URL,
            "error": _ref("Error"),
        },
        "required": ["result"],
    }
    number = {
        "type": "object",
        "properties": {
            "id": _STR,
            "number": _STR,
            "nationalNumber": _STR,
            "name": _STR,
            "applicationId": _STR,
            "application": _URL,
            "fallbackNumber": _STR,
            "city": _STR,
            "state": _STR,
            "price": _STR,
            "createdTime": {"type": "string", "format": "date-time"},
            "numberState": _NUMBER_STATES,
        },
    }
    number_in = {
        "type": "object",
        "properties": {
            key: {"type": ["string", "null"]}
            for key in ("number", "name", "applicationId", "fallbackNumber", "city", "state")
        },
    }
    application_props = {
        "name": {"type": ["string", "null"]},
        "incomingCallUrl": {"type": ["string", "null"]},
        "incomingCallUrlCallbackTimeout": {"type": ["integer", "string", "null"]},
        "incomingCallFallbackUrl": {"type": ["string", "null"]},
        "incomingMessageUrl": {"type": ["string", "null"]},
        "incomingMessageUrlCallbackTimeout": {"type": ["integer", "string", "null"]},
        "incomingMessageFallbackUrl": {"type": ["string", "null"]},
        "callbackHttpMethod": {"type": ["string", "null"]},
        "autoAnswer": {"type": ["boolean", "null"]},
    }
    application = {
        "type": "object",
        "properties": {"id": _STR, "incomingSmsUrl": _STR, **application_props},
    }
    user_error = {
        "type": "object",
        "properties": {
            "id": _STR,
            "time": {"type": "string", "format": "date-time"},
            "category": _STR,
            "code": _STR,
            "message": _STR,
            "details": {"type": "array", "items": {"type": "object"}},
        },
    }
    return {
        "MessageIn": message_in,
        "Message": message,
        "Error": error,
        "BulkResult": bulk_result,
        "PhoneNumber": number,
        "PhoneNumberIn": number_in,
        "Application": application,
        "ApplicationIn": {"type": "object", "properties": application_props},
        "UserError": user_error,
    }


def _paths() -> dict[str, Any]:
    ok_empty = {"200": {"description": "Done (empty body)"}}
    created = {"201": {"description": "Created (empty body)", "headers": _LOCATION}}
    message_filters = [
        _query("from", _STR, "Sender, E.164"),
        _query("to", _STR, "Recipient, E.164"),
        _query("fromDateTime", _STR, "Lower bound, `yyyy-MM-dd[ HH[:mm[:ss[.SSS]]]]` or ISO 8601"),
        _query("toDateTime", _STR, "Upper bound (inclusive, ms precision)"),
        _query("direction", _DIRECTIONS),
        _query("state", _STATES),
        _query("deliveryState", _DELIVERY_STATES),
        _query("sortOrder", {"enum": ["asc", "desc"], "default": "asc"}),
        _SIZE,
        _query("sortKeyGT", _STR, "Cursor copied from a Link header (ascending)"),
        _query("sortKeyLT", _STR, "Cursor copied from a Link header (descending)"),
    ]
    users = "/v1/users/{userId}"
    return {
        f"{users}/messages": {
            "parameters": [_USER],
            "post": {
                "summary": "Send one message (object) or up to 50 (array)",
                "parameters": [
                    {"name": "Idempotency-Key", "in": "header", "required": False, "schema": _STR}
                ],
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "oneOf": [
                                _ref("MessageIn"),
                                {
                                    "type": "array",
                                    "items": _ref("MessageIn"),
                                    "minItems": 1,
                                    "maxItems": 50,
                                },
                            ]
                        }
                    ),
                },
                "responses": {
                    **created,
                    "202": {
                        "description": "Bulk results, one per message, in order",
                        **_json({"type": "array", "items": _ref("BulkResult")}),
                    },
                    **_ERRORS,
                    "403": _error("Sender not owned, bulk limit, bad media URL"),
                    "422": _error("Idempotency-Key already used for a different request"),
                },
            },
            "get": {
                "summary": "List messages",
                "parameters": message_filters,
                "responses": {
                    "200": {
                        "description": "One page",
                        "headers": _LINK,
                        **_json({"type": "array", "items": _ref("Message")}),
                    },
                    **_ERRORS,
                },
            },
        },
        f"{users}/messages/{{messageId}}": {
            "parameters": [_USER, _path("messageId")],
            "get": {
                "summary": "Get one message",
                "responses": {
                    "200": {"description": "The message", **_json(_ref("Message"))},
                    **_ERRORS,
                },
            },
            "patch": {
                "summary": 'Redact the text (body exactly {"text": ""})',
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "properties": {"text": {"const": ""}},
                            "required": ["text"],
                            "additionalProperties": False,
                        }
                    ),
                },
                "responses": {**ok_empty, **_ERRORS},
            },
        },
        f"{users}/phoneNumbers": {
            "parameters": [_USER],
            "get": {
                "summary": "List phone numbers",
                "parameters": [
                    _query("applicationId", _STR),
                    _query("state", _STR),
                    _query("name", _STR),
                    _query("city", _STR),
                    _query("numberState", _NUMBER_STATES),
                    _SIZE,
                    _query("sortKeyGT", _STR),
                ],
                "responses": {
                    "200": {
                        "description": "One page",
                        "headers": _LINK,
                        **_json({"type": "array", "items": _ref("PhoneNumber")}),
                    },
                    **_ERRORS,
                },
            },
            "post": {
                "summary": "Register a phone number",
                "requestBody": {"required": True, **_json(_ref("PhoneNumberIn"))},
                "responses": {
                    **created,
                    **_ERRORS,
                    "403": _error("Foreign application"),
                    "409": _error("Number taken"),
                },
            },
        },
        f"{users}/phoneNumbers/{{numberId}}": {
            "parameters": [_USER, _path("numberId")],
            "get": {
                "summary": "Get a number by id or E.164",
                "responses": {
                    "200": {"description": "The number", **_json(_ref("PhoneNumber"))},
                    **_ERRORS,
                },
            },
            "post": {
                "summary": 'Update (null or absent = unchanged; applicationId "" unlinks)',
                "requestBody": {"required": True, **_json(_ref("PhoneNumberIn"))},
                "responses": {**ok_empty, **_ERRORS, "403": _error("Foreign application")},
            },
            "delete": {"summary": "Release the number", "responses": {**ok_empty, **_ERRORS}},
        },
        f"{users}/applications": {
            "parameters": [_USER],
            "get": {
                "summary": "List applications",
                "parameters": [_SIZE, _query("sortKeyGT", _STR)],
                "responses": {
                    "200": {
                        "description": "One page",
                        "headers": _LINK,
                        **_json({"type": "array", "items": _ref("Application")}),
                    },
                    **_ERRORS,
                },
            },
            "post": {
                "summary": "Create an application",
                "requestBody": {"required": True, **_json(_ref("ApplicationIn"))},
                "responses": {**created, **_ERRORS},
            },
        },
        f"{users}/applications/{{applicationId}}": {
            "parameters": [_USER, _path("applicationId")],
            "get": {
                "summary": "Get an application",
                "responses": {
                    "200": {"description": "The application", **_json(_ref("Application"))},
                    **_ERRORS,
                },
            },
            "post": {
                "summary": "Update (null or absent = unchanged)",
                "requestBody": {"required": True, **_json(_ref("ApplicationIn"))},
                "responses": {**ok_empty, **_ERRORS},
            },
            "delete": {
                "summary": "Delete; its numbers are unlinked",
                "responses": {**ok_empty, **_ERRORS},
            },
        },
        f"{users}/errors": {
            "parameters": [_USER],
            "get": {
                "summary": "The user error log, newest first",
                "parameters": [_SIZE, _query("sortKeyLT", _STR)],
                "responses": {
                    "200": {
                        "description": "One page",
                        "headers": _LINK,
                        **_json({"type": "array", "items": _ref("UserError")}),
                    },
                    **_ERRORS,
                },
            },
        },
        f"{users}/errors/{{errorId}}": {
            "parameters": [_USER, _path("errorId")],
            "get": {
                "summary": "One user error",
                "responses": {
                    "200": {"description": "The error", **_json(_ref("UserError"))},
                    **_ERRORS,
                },
            },
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI"}},
            }
        },
        "/health": {
            "get": {
                "summary": "Liveness",
                "security": [],
                "responses": {"200": {"description": "OK"}},
            }
        },
        "/ready": {
            "get": {
                "summary": "Readiness: the store answers",
                "security": [],
                "responses": {
                    "200": {"description": "Ready", **_json({"type": "object"})},
                    "503": _error("The store does not answer"),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text exposition format)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Metrics",
                        "content": {"text/plain": {"schema": _STR}},
                    },
                    "404": _error("Metrics are switched off"),
                },
            }
        },
    }


@cache
def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Trebuchet messaging API",
            "version": "1",
            "description": "Catapult v1 compatible Messages API, self-hosted.",
        },
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        },
        "security": [{"basic": []}],
    }
