"""Reading request bodies with a size limit, and decoding JSON into typed structs.

Type errors from msgspec are translated into the spec's ``validation-error`` body with
the offending property named, so a client learns exactly what to fix.
"""

from __future__ import annotations

import re
from typing import TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request

from trebuchet.server.api.scope import header
from trebuchet.server.domain import errors

T = TypeVar("T")

BACKSLASH = ord("\\")
_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "bool": "a boolean",
    "array": "an array",
    "object": "an object",
    "float": "a number",
}
_EXPECTED = re.compile(r"Expected `(?P<expected>[^`]*)`, got `(?P<got>[^`]*)`")
_PATH = re.compile(r" - at `\$(?:\[\d+\])?\.(?P<prop>[A-Za-z_]+)")


async def read_body(request: Request, limit: int) -> bytes:
    declared = header(request.scope, b"content-length")
    if (
        declared is not None
        and declared.isascii()
        and declared.isdigit()
        and (len(declared) > 18 or int(declared) > limit)
    ):
        raise errors.body_too_large(limit)
    # Straight from ASGI ``receive``: cheaper than ``request.stream()`` on the hot path,
    # and most bodies arrive in one message.
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise errors.body_too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _describe(expected: str) -> str:
    words = [_TYPE_WORDS.get(part.strip(), part.strip()) for part in expected.split("|")]
    words = [word for word in words if word != "null"]
    return " or ".join(words)


def translate(exc: msgspec.ValidationError, resource: str) -> errors.ApiError:
    text = str(exc)
    path = _PATH.search(text)
    expected = _EXPECTED.search(text)
    if path is None:
        if expected is not None:
            return errors.invalid_body(
                f"The {resource} must be {_describe(expected['expected'])}, not {expected['got']}"
            )
        return errors.invalid_body(f"The request body is invalid: {text}")
    prop = path["prop"]
    if expected is not None:
        why = f"must be {_describe(expected['expected'])}, not {expected['got']}"
        return errors.invalid_property(resource, prop, why)
    return errors.invalid_property(resource, prop, f"is invalid: {text.split(' - at ')[0]}")


def has_nul_escape(raw: bytes) -> bool:
    """Whether a JSON text spells a NUL character (``\\u0000`` not itself escaped)."""
    start = raw.find(b"\\u0000")
    while start != -1:
        first = start
        while first > 0 and raw[first - 1] == BACKSLASH:
            first -= 1
        if (start - first) % 2 == 0:  # an even run before it: this backslash escapes "u"
            return True
        start = raw.find(b"\\u0000", start + 1)
    return False


def decode_json(raw: bytes | msgspec.Raw, kind: type[T], resource: str) -> T:
    # NUL is meaningless in every property, and PostgreSQL text cannot hold it.
    if isinstance(raw, bytes) and has_nul_escape(raw):
        raise errors.invalid_body("The request body must not contain NUL (\\u0000) characters")
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise translate(exc, resource) from None
    except msgspec.DecodeError as exc:
        raise errors.ApiError(
            "bad-request", "invalid-json", f"The request body is not valid JSON: {exc}"
        ) from None
    except RecursionError:
        raise errors.ApiError(
            "bad-request", "invalid-json", "The request body is nested too deeply"
        ) from None
