"""The pieces OpenAPI fragments are built from: types, references, parameters and the
answers every user route shares.  Each route module builds its own ``OPENAPI_PATHS``
from these; ``openapi.py`` assembles the document."""

from __future__ import annotations

from typing import Any

from trebuchet.server.domain.states import (
    DeliveryState,
    Direction,
    MessageState,
    NumberState,
    ReceiptRequest,
)

STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
URL = {"type": "string", "format": "uri"}
E164 = {"type": "string", "pattern": r"^\+[1-9][0-9]{1,14}$"}
DATE_TIME = {"type": "string", "format": "date-time"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def error(description: str) -> dict[str, Any]:
    return {"description": description, **json_content(ref("Error"))}


ERRORS = {
    "400": error("Invalid request (spec error body)"),
    "401": error("Bad credentials, or another user's id"),
    "404": error("No such resource for this user"),
    "413": error("Request body too large"),
    "429": {
        "description": "Over the request rate, or too many failed authentications",
        "headers": {
            "Retry-After": {"schema": INT, "description": "Seconds to wait"},
            "X-RateLimit-Reset": {"schema": INT, "description": "Epoch ms when allowed again"},
        },
        **json_content(ref("Error")),
    },
}
LOCATION = {"Location": {"schema": URL, "description": "Absolute URL of the new resource"}}
LINK = {"Link": {"schema": STR, "description": 'Next page: `<absolute URL>; rel="next"`'}}
OK_EMPTY = {"200": {"description": "Done (empty body)"}}
CREATED = {"201": {"description": "Created (empty body)", "headers": LOCATION}}


def query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": STR}


def page_of(schema_name: str) -> dict[str, Any]:
    """The 200 answer of a listing: one page of ``schema_name``, the next in ``Link``."""
    return {
        "description": "One page",
        "headers": LINK,
        **json_content({"type": "array", "items": ref(schema_name)}),
    }


def one(description: str, schema_name: str) -> dict[str, Any]:
    """The 200 answer that is one ``schema_name``."""
    return {"description": description, **json_content(ref(schema_name))}


def listing(summary: str, schema_name: str, parameters: list[Any]) -> dict[str, Any]:
    """A GET of one page of ``schema_name``."""
    return {
        "summary": summary,
        "parameters": parameters,
        "responses": {"200": page_of(schema_name), **ERRORS},
    }


def reading(summary: str, description: str, schema_name: str) -> dict[str, Any]:
    """A GET of one ``schema_name``."""
    return {"summary": summary, "responses": {"200": one(description, schema_name), **ERRORS}}


def writing(
    summary: str, body: dict[str, Any], done: dict[str, Any], more: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A POST (or PATCH) of a JSON ``body``: ``done`` when it succeeds, the shared
    errors, then ``more`` answers by status."""
    return {
        "summary": summary,
        "requestBody": {"required": True, **json_content(body)},
        "responses": {**done, **ERRORS, **(more or {})},
    }


def deleting(summary: str) -> dict[str, Any]:
    return {"summary": summary, "responses": {**OK_EMPTY, **ERRORS}}


def public(summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    """A GET outside ``/v1`` that needs no credentials."""
    return {"summary": summary, "security": [], "responses": responses}


# Enums of the schema, from the states themselves (plain strings, in their order).
RECEIPTS: list[str | None] = [receipt.value for receipt in ReceiptRequest]
DIRECTIONS = {"enum": [direction.value for direction in Direction]}
STATES = {"enum": [state.value for state in MessageState]}
DELIVERY_STATES = {"enum": [state.value for state in DeliveryState]}
NUMBER_STATES = {"enum": [state.value for state in NumberState]}

SIZE = query("size", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 25}, "Page size")
USER = path("userId")
