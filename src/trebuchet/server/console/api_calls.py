"""Calling the API's own endpoint functions from a console form.

A console form becomes the JSON body the API takes, handed to the API's endpoint in a
request of its own (same user, same services): the validation, the rules and the error
messages are the API's, never a copy.  An endpoint's refusal arrives as its
:class:`~trebuchet.server.domain.errors.ApiError`, which the page shows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from trebuchet.server.api.context import Ctx


def calling(ctx: Ctx, body: Mapping[str, Any], path_params: Mapping[str, str]) -> Ctx:
    """``ctx`` for a POST of ``body`` as JSON, with ``path_params``."""
    raw = msgspec.json.encode(body)
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    scope = {
        **ctx.request.scope,
        "method": "POST",
        "query_string": b"",
        "path_params": dict(path_params),
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(raw)).encode()),
        ],
    }
    return Ctx(Request(scope, receive), ctx.services, ctx.user, ctx.base_url)


async def call(
    endpoint: Callable[[Ctx], Awaitable[Response]],
    ctx: Ctx,
    body: Mapping[str, Any],
    **path_params: str,
) -> Response:
    return await endpoint(calling(ctx, body, path_params))
