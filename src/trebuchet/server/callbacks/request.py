"""Turning an event into the exact HTTP request a receiver gets (spec §4.4); no I/O.

POST sends the event as JSON (``application/json; charset=utf-8``).  GET puts each
property in the query string, appended with ``&`` when the URL already has a query;
``media`` becomes ``[url1, url2]`` (open point 20).  Credentials in the URL
(``user:pass@``) become a Basic ``Authorization`` header and leave the URL.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from trebuchet._signature import (
    EVENT_ATTEMPT_HEADER,
    EVENT_ID_HEADER,
    EVENT_SEQUENCE_HEADER,
    SIGNATURE_HEADER,
    signature_header,
)
from trebuchet._version import __version__

USER_AGENT = f"BandwidthAPI/v1 (trebuchet {__version__})"
JSON_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True)
class CallbackRequest:
    method: str
    url: str  # already percent-encoded, without credentials; sent as is
    headers: dict[str, str]
    body: bytes | None


def split_credentials(url: str) -> tuple[str, str | None]:
    """The URL without ``user:pass@``, and the Basic auth header value it carried."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    user = unquote(parts.username)
    password = unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return bare, f"Basic {token}"


def redact(url: str) -> str:
    """A URL fit to show: credentials removed."""
    return split_credentials(url)[0]


def _query_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def encode_query(payload: Mapping[str, Any]) -> str:
    return "&".join(
        f"{quote(name, safe='')}={quote(_query_value(value), safe='')}"
        for name, value in payload.items()
    )


def build_request(
    url: str,
    method: str,
    payload: str,
    *,
    event_id: str,
    sequence: int,
    attempt: int,
    secret: str | None,
    timestamp: int,
) -> CallbackRequest:
    """The request for one try of the event whose stored JSON is ``payload``.

    A POST sends the stored JSON as it is (no decoding and encoding again per try); a GET
    spells it as query parameters.  ``secret`` None means unsigned.
    """
    bare, authorization = split_credentials(url)
    headers = {
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: event_id,
        EVENT_SEQUENCE_HEADER: str(sequence),
        EVENT_ATTEMPT_HEADER: str(attempt),
    }
    if authorization is not None:
        headers["Authorization"] = authorization
    body: bytes | None
    if method.upper() == "GET":
        base, _, fragment = bare.partition("#")
        base_query = urlsplit(base).query
        query = encode_query(json.loads(payload))
        full_query = f"{base_query}&{query}" if base_query else query
        target = (f"{base}&{query}" if base_query else f"{base}?{query}").removesuffix("?")
        bare = f"{target}#{fragment}" if fragment else target
        body, signed = None, full_query.encode()
    else:
        body = payload.encode()
        headers["Content-Type"] = JSON_TYPE
        signed = body
    if secret is not None:
        headers[SIGNATURE_HEADER] = signature_header(secret, timestamp, event_id, sequence, signed)
    return CallbackRequest("GET" if body is None else "POST", bare, headers, body)
