"""The API app with the console's routes added: pages under ``/console``, its static
files (CSS, the console's script and the vendored htmx) and ``/`` redirecting there.
``trebuchet serve`` builds its app here; with ``console_enabled`` off it is the API's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from trebuchet.server.api.app import create_app as create_api_app
from trebuchet.server.config import Settings
from trebuchet.server.console import (
    auth,
    controls,
    conversations,
    live,
    message_pages,
    overview,
    pages,
    resources,
    sandbox_phone,
)
from trebuchet.server.console.session import PREFIX
from trebuchet.server.engine import Engine
from trebuchet.server.store import Store

STATIC = Path(__file__).parent / "static"


async def _to_console(request: Request) -> Response:
    return RedirectResponse(f"{PREFIX}/", 303)


def console_routes() -> list[BaseRoute]:
    return [
        Route("/", _to_console, methods=["GET"]),
        Mount(f"{PREFIX}/static", app=StaticFiles(directory=STATIC), name="console-static"),
        *auth.routes,
        *live.routes,
        *message_pages.routes,
        *conversations.routes,
        *sandbox_phone.routes,
        *resources.routes,
        *controls.routes,
        *overview.routes,
        *pages.routes,
    ]


def create_app(
    settings: Settings,
    store: Store | None = None,
    engine: Engine | None = None,
    *,
    migrate: bool = True,
    wake: Callable[[], None] | None = None,
) -> Starlette:
    """The API app (``api/app.py`` ``create_app``), with the console when it is enabled."""
    app = create_api_app(settings, store, engine, migrate=migrate, wake=wake)
    if settings.console_enabled:
        app.router.routes.extend(console_routes())
    return app
