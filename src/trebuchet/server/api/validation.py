"""Checks shared by every resource: URLs, enums, timeouts, phone numbers."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from trebuchet.server.domain import errors
from trebuchet.server.domain.phone import is_e164, is_short_code
from trebuchet.server.domain.urls import masked
from trebuchet.server.net.guard import AddressPolicy, AddressRefused

MAX_URL_LENGTH = 2048
MAX_CALLBACK_TIMEOUT_MS = 10_000
HTTP_METHODS = ("GET", "POST")
_INTEGER = re.compile(r"-?[0-9]+")  # ASCII digits: str.isdigit() accepts "²"
# Exactly the characters str.isspace() accepts, found without a Python loop.
_SPACE = re.compile(r"\s")


def is_http_url(value: str) -> bool:
    if len(value) > MAX_URL_LENGTH or _SPACE.search(value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def required_text(resource: str, prop: str, value: str | None) -> str:
    if value is None:
        raise errors.missing_property(resource, prop)
    if not value.strip():
        raise errors.blank_property(resource, prop)
    return value


def phone_number(resource: str, prop: str, value: str | None, *, short_code: bool = False) -> str:
    value = required_text(resource, prop, value)
    if is_e164(value) or (short_code and is_short_code(value)):
        return value
    shape = "an E.164 number such as +15550001111"
    if short_code:
        shape += " or a 5-6 digit short code"
    raise errors.invalid_property(resource, prop, f"must be {shape}, not '{value}'")


def optional_number(resource: str, prop: str, value: str | None) -> str | None:
    return None if value is None else phone_number(resource, prop, value)


def callback_url(prop: str, value: str | None, policy: AddressPolicy) -> str | None:
    """An http(s) URL whose host, as written, the deployment may contact (names are
    checked again on what they resolve to when the callback is made)."""
    if value is None:
        return None
    if not is_http_url(value):
        raise errors.invalid_callback_url(prop, masked(value), _why_not_http(value))
    try:
        policy.check_host(urlsplit(value).hostname or "")
    except AddressRefused as exc:
        raise errors.invalid_callback_url(prop, masked(value), str(exc), exc.setting) from None
    return value


def _why_not_http(value: str) -> str:
    if len(value) > MAX_URL_LENGTH:
        return f"it is longer than {MAX_URL_LENGTH} characters"
    scheme, sep, _ = value.partition(":")
    if sep and scheme.lower() not in ("http", "https"):
        return "only http and https URLs can receive callbacks"
    return "it is not a well-formed http or https URL with a host"


def callback_method(resource: str, value: str | None) -> str | None:
    """``GET``/``POST`` in any case; kept in the caller's casing (spec open point 11)."""
    if value is None:
        return None
    if value.upper() not in HTTP_METHODS:
        raise errors.invalid_property(
            resource, "callbackHttpMethod", "must be one of the following values: GET, POST"
        )
    return value


def timeout_ms(resource: str, prop: str, value: int | str | None) -> int | None:
    """Milliseconds, as a JSON number or a numeric string, in 1..10000."""
    if value is None:
        return None
    if isinstance(value, str):
        stripped = value.strip()
        if not _INTEGER.fullmatch(stripped):
            raise errors.invalid_property(resource, prop, "must be an integer number of ms")
        if len(stripped) > 12:  # out of range either way; int() refuses 4300+ digits
            value = -1 if stripped.startswith("-") else MAX_CALLBACK_TIMEOUT_MS + 1
        else:
            value = int(stripped)
    if value <= 0:
        raise errors.invalid_property(resource, prop, "must be greater than 0")
    if value > MAX_CALLBACK_TIMEOUT_MS:
        raise errors.invalid_property(
            resource, prop, f"exceeds the limit of {MAX_CALLBACK_TIMEOUT_MS}"
        )
    return value


def one_of(resource: str, prop: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    lowered = value.lower()
    if lowered not in allowed:
        raise errors.invalid_property(
            resource, prop, f"must be one of the following values: {', '.join(allowed)}"
        )
    return lowered
