"""``/media``: upload (streamed), list, download (with ranges) and delete a user's files,
and the request-time checks of the ``media`` of a message (spec §5, open points 24-27).

Names may span several path segments (``{media_name:media}``); see
:mod:`trebuchet.server.media.names` for what is refused.  Downloads carry the stored
content type exactly and are never content-encoded (old clients read the raw stream).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from email.utils import formatdate
from typing import Any

from starlette.convertors import PathConvertor, register_url_convertor
from starlette.responses import Response

from trebuchet.server.api import openapi_parts as o
from trebuchet.server.api.context import Ctx, user_route
from trebuchet.server.api.media_ranges import MediaResponse, requested_range
from trebuchet.server.api.pagination import link_next
from trebuchet.server.api.responses import empty_response, json_response
from trebuchet.server.domain import errors
from trebuchet.server.media import storage as st
from trebuchet.server.media.names import (
    InvalidName,
    check_name,
    decode_name,
    media_url,
    parse_media_url,
    same_origin,
)
from trebuchet.server.media.types import OCTET_STREAM, mms_type, parse_content_type

CURSOR_PARAM = "sortKeyGT"
MAX_CACHE_CONTROL = 255
# +1 8XX toll-free area codes.
_TOLL_FREE = re.compile(r"^\+18(00|33|44|55|66|77|88)\d{7}$")


class MediaNameConvertor(PathConvertor):
    """Like ``path`` (several segments), but also across line breaks, so that a name
    with control characters reaches the endpoint and gets a clear 400, not a 404."""

    regex = r"[\s\S]*"


register_url_convertor("media", MediaNameConvertor())


def storage(ctx: Ctx) -> st.MediaStorage:
    found: st.MediaStorage = ctx.request.app.state.media
    return found


def _name(ctx: Ctx) -> str:
    name: str = ctx.request.path_params["media_name"]
    try:
        _check_escapes(ctx)
        return check_name(name)
    except InvalidName as exc:
        raise errors.media_invalid_name(str(exc), name) from None


def _check_escapes(ctx: Ctx) -> None:
    """Refuse a name whose escapes are not UTF-8: the server decoded the path lossily
    (``%ff`` became U+FFFD), so only the raw path tells such names apart."""
    raw: bytes | None = ctx.request.scope.get("raw_path")
    if raw is None:
        return
    _, marker, tail = raw.partition(b"?")[0].partition(b"/media/")
    if marker:
        decode_name(tail)


# -- upload ----------------------------------------------------------------------------


def _declared_length(ctx: Ctx) -> int | None:
    """The ``Content-Length``, None for a chunked upload; 400 when there is neither."""
    headers = ctx.request.headers
    declared = headers.get("content-length")
    if declared is None:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return None
        raise errors.media_length_required()
    declared = declared.strip()
    # ASCII digits only (isdigit() alone accepts "²"), and short enough to be a size.
    if not (declared.isascii() and declared.isdigit() and len(declared) <= 18):
        raise errors.media_invalid_content_length()
    return int(declared)


def _content_type(ctx: Ctx) -> str:
    value = ctx.request.headers.get("content-type")
    if value is None or not value.strip():
        return OCTET_STREAM
    parsed = parse_content_type(value)
    if parsed is None:
        raise errors.ApiError(
            "bad-request",
            "validation-error",
            f"The Content-Type header '{value}' is not a media type such as image/png",
            (errors.Detail("header", "Content-Type"),),
        )
    return parsed


def _cache_control(ctx: Ctx) -> str | None:
    value = ctx.request.headers.get("cache-control")
    if value is None or not value.strip():
        return None
    if len(value) > MAX_CACHE_CONTROL or not value.isprintable():
        raise errors.ApiError(
            "bad-request",
            "validation-error",
            f"The Cache-Control header must be {MAX_CACHE_CONTROL} printable characters or less",
            (errors.Detail("header", "Cache-Control"),),
        )
    return value.strip()


def _empty() -> errors.ApiError:
    return errors.ApiError(
        "bad-request",
        "validation-error",
        "The media file is empty: upload at least one byte",
        (errors.Detail("header", "Content-Length"),),
    )


async def _body(ctx: Ctx, declared: int | None) -> AsyncIterator[bytes]:
    """The request body, checked against its ``Content-Length`` before storage commits."""
    received = 0
    async for chunk in ctx.request.stream():
        received += len(chunk)
        if declared is not None and received > declared:
            break
        if chunk:
            yield chunk
    if declared is not None and received != declared:
        raise errors.ApiError(
            "bad-request",
            "validation-error",
            f"The body has {received} bytes but Content-Length says {declared}",
            (errors.Detail("header", "Content-Length"),),
        )


async def upload(ctx: Ctx) -> Response:
    name = _name(ctx)
    limit = ctx.settings.media_max_upload_bytes
    declared = _declared_length(ctx)
    if declared is not None and declared > limit:
        raise errors.media_size_overflow(declared, limit)
    if declared == 0:
        raise _empty()
    content_type = _content_type(ctx)
    cache_control = _cache_control(ctx)
    try:
        await storage(ctx).put(
            ctx.user.id,
            name,
            _body(ctx, declared),
            content_type=content_type,
            limit=limit,
            cache_control=cache_control,
        )
    except st.MediaTooLarge as exc:
        raise errors.media_size_overflow(exc.size, exc.limit) from None
    except st.EmptyMedia:
        raise _empty() from None
    return empty_response(200)


# -- list ------------------------------------------------------------------------------


def _page_size(value: str | None, limit: int) -> int:
    """``size``, by default the largest page: Node's client never follows ``Link`` here."""
    if not value:
        return limit
    digits = value.removeprefix("-")
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 18):
        raise errors.invalid_parameter("size", f"must be an integer, not '{value}'")
    size = int(value)
    if size < 1:
        raise errors.invalid_parameter("size", "must be greater than 0")
    if size > limit:
        raise errors.invalid_parameter("size", f"exceeds the limit of {limit}")
    return size


async def list_media(ctx: Ctx) -> Response:
    params = ctx.request.query_params
    size = _page_size(params.get("size"), ctx.settings.max_page_size)
    after = params.get(CURSOR_PARAM) or None
    entries = await storage(ctx).list(ctx.user.id, after=after, limit=size + 1)
    headers = {}
    if len(entries) > size:
        entries = entries[:size]
        query = [("size", str(size)), (CURSOR_PARAM, entries[-1].name)]
        headers["Link"] = link_next(ctx.user_url("/media"), query)
    body = [
        {
            "mediaName": entry.name,
            "contentLength": entry.size,
            "content": media_url(ctx.base_url, ctx.user.id, entry.name),
        }
        for entry in entries
    ]
    return json_response(body, headers=headers)


# -- download --------------------------------------------------------------------------


async def download(ctx: Ctx) -> Response:
    name = _name(ctx)
    try:
        media = await storage(ctx).open(ctx.user.id, name)
    except st.MediaNotFound:
        raise errors.media_not_found(name) from None
    try:
        info = media.info
        headers = {
            "Content-Type": info.content_type,
            "Accept-Ranges": "bytes",
            "ETag": info.etag,
            "Last-Modified": formatdate(info.created_us / 1_000_000, usegmt=True),
            # Stored types are the uploader's word: never let a browser run them as a page.
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        }
        if info.cache_control:
            headers["Cache-Control"] = info.cache_control
        wanted = requested_range(ctx, info)
    except BaseException:
        await media.aclose()
        raise
    if wanted is None:
        headers["Content-Length"] = str(info.size)
        return MediaResponse(media, 0, info.size, 200, headers)
    start, stop = wanted
    headers["Content-Length"] = str(stop - start)
    headers["Content-Range"] = f"bytes {start}-{stop - 1}/{info.size}"
    return MediaResponse(media, start, stop, 206, headers)


# -- delete ----------------------------------------------------------------------------


async def delete(ctx: Ctx) -> Response:
    name = _name(ctx)
    if not await storage(ctx).delete(ctx.user.id, name):
        raise errors.media_not_found(name)
    return empty_response(200)


# -- media of a message, at request time (open point 25) -------------------------------


def is_toll_free(number: str) -> bool:
    return bool(_TOLL_FREE.match(number))


async def check_message_media(ctx: Ctx, from_number: str, urls: Sequence[str]) -> None:
    """What can be known without fetching anything: the sender may send MMS, and every
    URL into our media names an existing file of the sender's, small enough, of an MMS
    type.  External URLs are fetched (and may still fail) when the message is sent."""
    if not urls:
        return
    toll_free_code = ctx.settings.toll_free_mms_error
    if toll_free_code and is_toll_free(from_number):
        raise errors.ApiError(
            "forbidden",
            toll_free_code,
            f"MMS cannot be sent from the toll-free number {from_number}",
            (errors.Detail("number", from_number),),
        )
    own_limit = ctx.settings.mms_max_own_bytes
    total = 0
    for url in urls:
        ref = parse_media_url(url)
        if ref is None:
            continue
        if ref.user_id != ctx.user.id:
            if same_origin(url, ctx.base_url):
                raise errors.media_not_found(ref.name)  # another user's: never visible
            continue
        try:
            info = await storage(ctx).stat(ctx.user.id, check_name(ref.name))
        except InvalidName:
            info = None
        if info is None:
            raise errors.media_not_found(ref.name)
        if info.size > own_limit:
            raise errors.media_size_overflow(info.size, own_limit)
        if mms_type(info.content_type, ref.name) is None:
            raise errors.media_not_supported(info.content_type)
        total += info.size
    if total > ctx.settings.mms_max_total_bytes:
        raise errors.media_size_overflow(total, ctx.settings.mms_max_total_bytes)


routes = [
    user_route("/media", list_media, ["GET"]),
    user_route("/media/{media_name:media}", upload, ["PUT"]),
    user_route("/media/{media_name:media}", download, ["GET"]),
    user_route("/media/{media_name:media}", delete, ["DELETE"]),
]


_NAME = {
    **o.path("mediaName"),
    "description": "May contain '/'; no '.'/'..' segments, backslashes or control characters",
}
_FAILURES = {
    "400": o.error("Invalid name, missing length, empty body"),
    "401": o.error("Bad credentials, or another user's id"),
    "404": o.error("No such media for this user"),
}
_ITEM = {
    "type": "object",
    "properties": {"mediaName": o.STR, "contentLength": o.INT, "content": o.URL},
}
OPENAPI_PATHS: dict[str, Any] = {
    "/v1/users/{userId}/media": {
        "parameters": [o.USER],
        "get": {
            "summary": "List media files (in name order)",
            "parameters": [
                {"name": "size", "in": "query", "schema": o.INT},
                {"name": CURSOR_PARAM, "in": "query", "schema": o.STR},
            ],
            "responses": {
                "200": {
                    "description": "One page; Link rel=next when there is more",
                    **o.json_content({"type": "array", "items": _ITEM}),
                },
                **_FAILURES,
            },
        },
    },
    "/v1/users/{userId}/media/{mediaName}": {
        "parameters": [o.USER, _NAME],
        "put": {
            "summary": "Upload or replace a file (raw bytes, up to 65 MB)",
            "requestBody": {"content": {"*/*": {"schema": o.STR}}},
            "responses": {
                "200": {"description": "Stored (empty body)"},
                **_FAILURES,
                "403": o.error("Too large (media-size-overflow)"),
            },
        },
        "get": {
            "summary": "Download (Range supported)",
            "responses": {
                "200": {"description": "The bytes, with the stored Content-Type"},
                "206": {"description": "The requested range"},
                "416": o.error("Range not satisfiable"),
                **_FAILURES,
            },
        },
        "delete": {
            "summary": "Delete the file",
            "responses": {"200": {"description": "Deleted (empty body)"}, **_FAILURES},
        },
    },
}
