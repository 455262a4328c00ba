"""Reading a request's raw ASGI scope on hot paths, without building ``Headers``."""

from __future__ import annotations

from starlette.types import Scope


def header(scope: Scope, name: bytes) -> str | None:
    """The first ``name`` header (lowercase) of the request, as Starlette would decode it."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
