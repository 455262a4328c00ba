"""Keyset pagination: signed cursors and the ``Link: <url>; rel="next"`` header.

The cursor names the last row of the page (its time and id) and is signed with a
secret shared by every server process, so a forged or tampered cursor is rejected
rather than trusted.  Clients only ever copy it from the ``Link`` header.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlencode

from trebuchet.server.domain import errors
from trebuchet.server.domain.tokens import token_matches

_MAC_CHARS = 16


class CursorCodec:
    def __init__(self, secret: str):
        self._secret = secret.encode()

    def _mac(self, scope: str, payload: str) -> str:
        digest = hmac.new(self._secret, f"{scope}|{payload}".encode(), hashlib.sha256)
        return digest.hexdigest()[:_MAC_CHARS]

    def encode(self, scope: str, time_us: int, ident: str) -> str:
        payload = f"{time_us}.{ident}"
        return f"{payload}.{self._mac(scope, payload)}"

    def decode(self, scope: str, cursor: str, param: str) -> tuple[int, str]:
        payload, _, mac = cursor.rpartition(".")
        time_text, _, ident = payload.partition(".")
        if (
            not payload
            or not (time_text.isascii() and time_text.isdigit())
            or not ident
            or not token_matches(mac, self._mac(scope, payload))
        ):
            raise errors.invalid_parameter(param, "is not a cursor issued by this server")
        return int(time_text), ident


def link_next(base_url: str, params: Iterable[tuple[str, str]]) -> str:
    """``<url>; rel="next"`` with every parameter percent-encoded (no ``,`` ``;`` ``+``)."""
    query = urlencode(list(params), quote_via=quote, safe="")
    return f'<{base_url}?{query}>; rel="next"'


# ``page`` values that mean the first page (the spec's documented default is 0).
_FIRST_PAGE = ("", "0")


def refuse_page_numbers(query: Mapping[str, str], cursor: str) -> None:
    """400 for a ``page`` other than the first: lists page by keyset only.

    Ignoring it would answer the first page again and again, and a client paging "until
    an empty page" would never stop.
    """
    value = query.get("page")
    if value is None or value.strip() in _FIRST_PAGE:
        return
    raise errors.invalid_parameter(
        "page",
        "is not supported (only page=0, the first page): follow the URL of the Link "
        f'header\'s rel="next", which carries the {cursor} cursor',
    )
