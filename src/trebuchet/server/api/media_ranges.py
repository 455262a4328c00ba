"""Downloads of a user's media: the single byte range asked for, and the response that
streams it from the open file."""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from trebuchet.server.api.context import Ctx
from trebuchet.server.domain import errors
from trebuchet.server.media import storage as st

_RANGE = re.compile(r"^bytes=(?P<start>\d*)-(?P<end>\d*)$")


class MediaResponse(Response):
    """Streams ``[start, stop)`` of an open media file, then closes it."""

    def __init__(
        self,
        media: st.OpenMedia,
        start: int,
        stop: int,
        status: int,
        headers: Mapping[str, str],
    ):
        self.media = media
        self.start = start
        self.stop = stop
        self.status_code = status
        self.background = None
        self.raw_headers = [
            (key.lower().encode("latin-1"), value.encode("latin-1"))
            for key, value in headers.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            start = {"status": self.status_code, "headers": self.raw_headers}
            await send({"type": "http.response.start", **start})
            if scope["method"] == "HEAD":
                await send({"type": "http.response.body", "body": b""})
                return
            async for chunk in self.media.chunks(self.start, self.stop):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await self.media.aclose()


# Positions longer than this are past the end of any file (and int() refuses >4300 digits).
_MAX_POSITION_DIGITS = 18
_BEYOND_ANY_FILE = 10**_MAX_POSITION_DIGITS


def _position(digits: str) -> int:
    significant = digits.lstrip("0") or "0"
    return _BEYOND_ANY_FILE if len(significant) > _MAX_POSITION_DIGITS else int(significant)


def requested_range(ctx: Ctx, info: st.MediaInfo) -> tuple[int, int] | None:
    """The single byte range asked for, clamped; None for the whole file.

    Malformed, multi-range or stale (``If-Range`` no longer matching) requests get the
    whole file, as HTTP allows; a range that starts past the end is 416, however many
    digits its start has.
    """
    header = ctx.request.headers.get("range")
    if header is None:
        return None
    if_range = ctx.request.headers.get("if-range")
    if if_range is not None and if_range.strip() != info.etag:
        return None
    found = _RANGE.match(header.strip().replace(" ", ""))
    if found is None:
        return None
    first, last = found["start"], found["end"]
    if not first and not last:
        return None
    if not first:
        suffix = _position(last)
        if suffix == 0:
            raise errors.media_range_not_satisfiable(info.size)
        return max(info.size - suffix, 0), info.size
    start = _position(first)
    if last and _position(last) < start:
        return None
    if start >= info.size:
        raise errors.media_range_not_satisfiable(info.size)
    stop = info.size if not last else _position(last) + 1
    return start, min(stop, info.size)
