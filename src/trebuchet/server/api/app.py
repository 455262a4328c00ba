"""The ASGI application, assembled from explicit lists of routes and handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trebuchet.server.api import (
    admin_numbers,
    applications,
    messages,
    phone_numbers,
    probes,
    user_errors,
)
from trebuchet.server.api import media as media_routes
from trebuchet.server.api.context import Services
from trebuchet.server.api.handlers import exception_handlers
from trebuchet.server.api.observe import ObserveMiddleware
from trebuchet.server.api.openapi import openapi_document
from trebuchet.server.api.responses import json_response
from trebuchet.server.api.send_route import SendRoute
from trebuchet.server.api.throttle import Guard
from trebuchet.server.carriers import http_upstream_events as carrier_events
from trebuchet.server.config import Settings
from trebuchet.server.domain.ids import new_secret
from trebuchet.server.engine import Engine, admin
from trebuchet.server.limits import build_limits
from trebuchet.server.media.storage import media_storage
from trebuchet.server.store import Store
from trebuchet.server.webhooks import routes as event_routes

CURSOR_SECRET_KEY = "cursor_secret"


async def openapi(request: Request) -> Response:
    document = openapi_document()
    paths = {**document["paths"], **event_routes.OPENAPI_PATHS, **admin.OPENAPI_PATHS}
    paths.update(media_routes.OPENAPI_PATHS)
    paths.update(carrier_events.OPENAPI_PATHS)
    paths.update(admin_numbers.OPENAPI_PATHS)
    return json_response({**document, "paths": paths})


async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


ROUTES = [
    *messages.routes,
    *phone_numbers.routes,
    *applications.routes,
    *user_errors.routes,
    *media_routes.routes,
    *event_routes.routes,
    *admin.routes,
    *admin_numbers.routes,
    *carrier_events.routes,
    Route("/openapi.json", openapi, methods=["GET"]),
    Route("/health", health, methods=["GET"]),
    *probes.routes,
]


def create_app(
    settings: Settings, store: Store | None = None, engine: Engine | None = None
) -> Starlette:
    """Build the app; it opens (and migrates) its own store unless one is handed in.

    The delivery engine runs with the app when one is handed in, or when the app owns its
    store and ``settings.engine`` is on; with a store handed in and no engine, whoever
    owns the store runs (or steps) the engine.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.media = media_storage(settings.media_dir)
        owned = store is None
        active = store or Store.from_settings(settings)
        if owned:
            await active.open()
        limits = build_limits(settings)
        try:
            secret = await active.setting(CURSOR_SECRET_KEY, new_secret)
            guard = Guard.create(limits, settings)
            app.state.services = Services.create(settings, active, secret, guard)
            runner = engine or (Engine(active, settings) if owned and settings.engine else None)
            app.state.engine = runner
            if runner is not None:
                await runner.start()
            try:
                yield
            finally:
                if runner is not None:
                    await runner.stop()
        finally:
            await limits.aclose()
            if owned:
                await active.close()

    observe = Middleware(
        ObserveMiddleware,
        metrics_enabled=settings.metrics_enabled,
        log_access=settings.access_log,
    )
    sends = Middleware(SendRoute, route=messages.send_route, handlers=exception_handlers)
    return Starlette(
        routes=ROUTES,
        middleware=[observe, sends],
        exception_handlers=exception_handlers,
        lifespan=lifespan,
    )
