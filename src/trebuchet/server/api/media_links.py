"""``GET /v1/media-links/{userId}/{name}``: a user's file fetched through a signed link.

Hosted providers fetch an outbound MMS's media themselves, without credentials; the
carrier gives them a link signed with the server's secret (``media/links.py``).  A link
with a wrong or missing signature, or past its expiry, is 404, like a file that does
not exist: nothing tells a prober which part was wrong.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import trebuchet.server.api.media  # noqa: F401  (registers the media name convertor)
from trebuchet.server.api import openapi_parts as o
from trebuchet.server.api.media_ranges import MediaResponse
from trebuchet.server.domain import errors
from trebuchet.server.media import storage as st
from trebuchet.server.media.links import PATH, SECRET_KEY, link_valid


async def _secret(request: Request) -> str:
    """The signing secret (read once per app; empty while no link was ever made)."""
    known: str | None = getattr(request.app.state, "media_link_secret", None)
    if not known:
        known = await request.app.state.services.store.meta.setting(SECRET_KEY)
        request.app.state.media_link_secret = known
    return known


async def media_link(request: Request) -> Response:
    user_id: str = request.path_params["user_id"]
    name: str = request.path_params["media_name"]
    try:
        expires = int(request.query_params.get("expires", ""))
    except ValueError:
        raise errors.media_not_found(name) from None
    secret = await _secret(request)
    given = request.query_params.get("signature", "")
    if not secret or not link_valid(secret, user_id, name, expires, given, time.time()):
        raise errors.media_not_found(name)
    storage: st.MediaStorage = request.app.state.media
    try:
        media = await storage.open(user_id, name)
    except st.MediaNotFound:
        raise errors.media_not_found(name) from None
    info = media.info
    headers = {
        "Content-Type": info.content_type,
        "Content-Length": str(info.size),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    return MediaResponse(media, 0, info.size, 200, headers)


routes = [Route(PATH + "/{user_id}/{media_name:media}", media_link, methods=["GET"])]

OPENAPI_PATHS: dict[str, Any] = {
    PATH + "/{userId}/{mediaName}": {
        "get": {
            **o.public(
                "A user's media file through a signed link (for hosted providers)",
                {
                    "200": {"description": "The file's bytes"},
                    "404": o.error("No such file, or a wrong or expired link"),
                },
            ),
            "parameters": [
                o.path("userId"),
                o.path("mediaName"),
                {**o.query("expires", o.INT, "Unix seconds"), "required": True},
                {**o.query("signature", o.STR, "HMAC-SHA256, hex"), "required": True},
            ],
        }
    }
}
