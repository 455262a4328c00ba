"""Media names and media URLs.

A media name is what follows ``/media/`` in the URL, percent-decoded once.  It may hold
``/`` (clients send such names as several path segments), but it is never a path on
disk: storage encodes the whole name into one file name.  Names that look like path
tricks are refused anyway, so a client learns at once rather than through odd behaviour:
``.``/``..`` segments, empty segments (leading, trailing or doubled ``/``), backslashes,
NUL and other control characters, and percent-encoded dots, slashes, backslashes or NUL
that survived the one decoding (a second decoder further down the line would turn them
into the real thing).  Escapes must spell UTF-8: a lossy decoding would turn ``%ff%fe`` and
``%fe%ff`` into the same name, so two uploads would write one file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes, urlsplit

MAX_NAME_LENGTH = 200
# Percent-encoded, a name must still fit one file name (255 bytes on most filesystems).
MAX_ENCODED_LENGTH = 250
_ENCODED_TRICKS = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_OWN_PATH = re.compile(r"^/v1/users/(?P<user>[A-Za-z0-9_-]+)/media/(?P<name>.+)$")


class InvalidName(ValueError):
    """A media name that could not be stored safely; the message says why."""


def decode_name(raw: str | bytes) -> str:
    """The name a percent-encoded path tail spells, decoded strictly as UTF-8."""
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidName(
            "The media name must be UTF-8 once percent-decoded; "
            "its escapes spell bytes that are not UTF-8"
        ) from None


def check_name(name: str) -> str:
    """``name`` if it is an acceptable media name, else :class:`InvalidName`."""
    if not name:
        raise InvalidName("The media name must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(f"The media name must be {MAX_NAME_LENGTH} characters or less")
    if len(quote(name, safe="")) > MAX_ENCODED_LENGTH:
        raise InvalidName(
            f"The media name must be {MAX_ENCODED_LENGTH} bytes or less once percent-encoded"
        )
    if _CONTROL.search(name):
        raise InvalidName("The media name must not contain NUL or other control characters")
    if "\\" in name:
        raise InvalidName("The media name must not contain a backslash")
    if _ENCODED_TRICKS.search(name):
        raise InvalidName(
            "The media name must not contain percent-encoded dots, slashes, backslashes or NUL"
        )
    for segment in name.split("/"):
        if segment == "":
            raise InvalidName("The media name must not start or end with '/' or contain '//'")
        if segment in (".", ".."):
            raise InvalidName("The media name must not contain '.' or '..' path segments")
    return name


def name_path(name: str) -> str:
    """The name as it goes into a URL path (``/`` kept, everything else escaped)."""
    return quote(name, safe="/")


def media_url(root: str, user_id: str, name: str) -> str:
    """The absolute URL of one media file, ``{root}/v1/users/{userId}/media/{name}``."""
    return f"{root.rstrip('/')}/v1/users/{user_id}/media/{name_path(name)}"


@dataclass(frozen=True)
class MediaRef:
    """A URL that points into some user's media store (``/v1/users/{user}/media/{name}``)."""

    user_id: str
    name: str


def parse_media_url(url: str) -> MediaRef | None:
    """The user and name a media URL addresses, or None for any other URL.

    Only the path is looked at: whoever the host is, the path names a user's media.
    Callers decide what that means (own media is read from the store directly).
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or parts.query or parts.fragment:
        return None
    found = _OWN_PATH.match(parts.path)
    if found is None:
        return None
    try:
        return MediaRef(found["user"], decode_name(found["name"]))
    except InvalidName:
        return None  # no media can have that name


def same_origin(url: str, root: str) -> bool:
    """Does ``url`` have the scheme, host and port of ``root`` (``scheme://host[:port]``)?"""
    try:
        a, b = urlsplit(url), urlsplit(root)
        return (a.scheme, a.hostname, a.port or _default_port(a.scheme)) == (
            b.scheme,
            b.hostname,
            b.port or _default_port(b.scheme),
        )
    except ValueError:
        return False


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80
