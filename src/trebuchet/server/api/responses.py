"""Responses exactly as strict old clients need them.

JSON bodies carry ``Content-Type: application/json`` with no parameters; empty bodies
carry no content type at all (a JSON type with an empty body breaks the Python client).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from starlette.responses import Response

JSON_TYPE = "application/json"
_encoder = msgspec.json.Encoder()


class JsonResponse(Response):
    media_type = JSON_TYPE

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)


def json_response(
    content: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return JsonResponse(content, status_code=status, headers=headers)


def raw_json_response(
    body: bytes, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(body, status_code=status, headers=headers, media_type=JSON_TYPE)


def empty_response(status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status_code=status, headers=headers)


class Created(Response):
    """``201`` with a ``Location`` and an empty body, headers built directly (hot path)."""

    def __init__(self, location: str):
        self.status_code = 201
        self.background = None
        self.body = b""
        self.raw_headers = [(b"location", location.encode()), (b"content-length", b"0")]
