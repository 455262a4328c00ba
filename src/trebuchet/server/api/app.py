"""The ASGI application, assembled from explicit lists of routes and handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware

from trebuchet.server.api import (
    admin_inbound,
    admin_numbers,
    applications,
    carrier_events,
    event_actions,
    media_links,
    message_cancel,
    messages,
    messaging_settings,
    openapi,
    opt_outs,
    phone_numbers,
    probes,
    user_errors,
)
from trebuchet.server.api import export as export_routes
from trebuchet.server.api import media as media_routes
from trebuchet.server.api import message_events as event_routes
from trebuchet.server.api.context import Services
from trebuchet.server.api.handlers import exception_handlers
from trebuchet.server.api.observe import ObserveMiddleware
from trebuchet.server.api.send_route import SendRoute
from trebuchet.server.api.throttle import Guard
from trebuchet.server.config import Settings
from trebuchet.server.domain.ids import new_secret
from trebuchet.server.engine import Engine
from trebuchet.server.engine.delivery import Delivery
from trebuchet.server.limits import build_limits, check_backend
from trebuchet.server.media.storage import media_storage
from trebuchet.server.store import Store
from trebuchet.server.store.notifications import EVENTS, MESSAGES

CURSOR_SECRET_KEY = "cursor_secret"

ROUTES = [
    *messages.routes,
    *phone_numbers.routes,
    *applications.routes,
    *user_errors.routes,
    *media_routes.routes,
    *media_links.routes,
    *event_routes.routes,
    *message_cancel.routes,
    *event_actions.routes,
    *export_routes.routes,
    *admin_inbound.routes,
    *admin_numbers.routes,
    *carrier_events.routes,
    *opt_outs.routes,
    *messaging_settings.routes,
    *openapi.routes,
    *probes.routes,
]


@asynccontextmanager
async def _delivering(
    app: Starlette,
    store: Store,
    settings: Settings,
    engine: Engine | None,
    wake: Callable[[], None] | None = None,
) -> AsyncIterator[None]:
    """Run ``engine``, if any, and publish the delivery assembly the routes hand arrivals
    and receipts to: the engine's (its workers wake at once), else one of the app's own,
    whose new events call ``wake`` (engines in other processes hear of them at once)."""
    app.state.engine = engine
    if engine is None:
        app.state.delivery = delivery = Delivery.from_settings(store, settings)
        if wake is not None:
            delivery.on_events(wake)
        try:
            yield
        finally:
            await delivery.close()
        return
    app.state.delivery = engine.delivery
    await engine.start()
    try:
        yield
    finally:
        await engine.stop()


def create_app(
    settings: Settings,
    store: Store | None = None,
    engine: Engine | None = None,
    *,
    migrate: bool = True,
    wake: Callable[[], None] | None = None,
) -> Starlette:
    """Build the app; it opens (and, with ``migrate``, migrates) its own store unless one
    is handed in (``serve``'s API processes leave migrating to their supervisor).

    ``wake`` is called after each commit of new messages and each new callback event:
    ``serve``'s API processes tell the delivery processes there is work this way.

    The delivery engine runs with the app when one is handed in, or when the app owns its
    store and ``settings.engine`` is on; with a store handed in and no engine, whoever
    owns the store runs (or steps) the engine.  Either way ``app.state.delivery`` is the
    one delivery assembly (``engine/delivery.py``) the routes hand arrivals and receipts
    to: the engine's, or one the app builds from ``settings`` at startup.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.media = media_storage(settings)
        owned = store is None
        active = store or Store.from_settings(settings)
        if owned:
            await active.open(run_migrations=migrate)
        if wake is not None:
            for channel in (MESSAGES, EVENTS):
                active.subscribe_here(channel, wake)
        limits = build_limits(settings)
        try:
            await check_backend(settings)
            secret = await active.meta.setting(CURSOR_SECRET_KEY, new_secret)
            guard = Guard.create(limits, settings)
            app.state.services = Services.create(settings, active, secret, guard)
            runner = engine or (Engine(active, settings) if owned and settings.engine else None)
            async with _delivering(app, active, settings, runner, wake):
                yield
        finally:
            await limits.aclose()
            await app.state.media.aclose()
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
