"""The reference for the single-send ratio: a bare Starlette app answering 201.

It reads the body and answers like Trebuchet does (201, ``Location``, empty body), with
nothing else: no auth, no validation, no storage.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def created(request: Request) -> Response:
    await request.body()
    user = request.path_params["user_id"]
    return Response(
        status_code=201,
        headers={
            "Location": f"http://127.0.0.1/v1/users/{user}/messages/m-aaaaaaaaaaaaaaaaaaaaaaa"
        },
    )


app = Starlette(routes=[Route("/v1/users/{user_id}/messages", created, methods=["POST"])])
