"""Operational endpoints outside ``/v1``: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trebuchet.server import metrics
from trebuchet.server.api import openapi_parts as o
from trebuchet.server.api.context import Services
from trebuchet.server.api.responses import json_response
from trebuchet.server.carriers.routing import RoutingCarrier
from trebuchet.server.domain import errors

log = logging.getLogger("trebuchet.api")


async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


async def _store_answers(services: Services) -> bool:
    try:
        async with asyncio.timeout(services.settings.ready_timeout_seconds):
            await services.store.ping()
    except Exception as exc:  # any failure means "not ready", whatever the driver raised
        log.warning("readiness check failed: %s", type(exc).__name__)
        return False
    return True


async def _store_writes(services: Services) -> str | None:
    """None when writes work; else why not.  Only after a write failed because the store
    refused it (read-only, full) is a write tried here, until one succeeds again."""
    store = services.store
    if store.write_fault is None:
        return None
    try:
        async with asyncio.timeout(services.settings.ready_timeout_seconds):
            await store.probe_write()
    except Exception as exc:
        log.warning("readiness write failed: %s", type(exc).__name__)
        return store.write_fault or "The store does not take writes"
    return None


async def ready(request: Request) -> Response:
    """200 when the store answers within ``ready_timeout_seconds`` and takes writes,
    else 503.  With an engine and a router in the process, the answer shows each
    carrier's health (``carriers``); a carrier down does not make the API unready, since
    messages still queue (docs/carriers.md, Failover)."""
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None or not await _store_answers(services):
        raise errors.unavailable("The store does not answer")
    refused = await _store_writes(services)
    if refused is not None:
        raise errors.unavailable(refused)
    body: dict[str, Any] = {"status": "ready"}
    carriers = _carrier_health(request)
    if carriers:
        body["carriers"] = carriers
    return json_response(body)


def _carrier_health(request: Request) -> dict[str, Any]:
    """Each carrier's circuit as this process's engine sees it (empty: no router here)."""
    engine = getattr(request.app.state, "engine", None)
    carrier = getattr(engine, "carrier", None)
    return carrier.describe() if isinstance(carrier, RoutingCarrier) else {}


async def prometheus(request: Request) -> Response:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None or not services.settings.metrics_enabled:
        raise errors.resource_not_found()
    await _read_queue_depth(services)
    body, content_type = metrics.exposition()
    return Response(body, headers={"Content-Type": content_type})


async def _read_queue_depth(services: Services) -> None:
    """Set the queue depth gauge from the store, shared by every process, so any process
    reports it; when the store does not answer, the last value stays."""
    try:
        async with asyncio.timeout(services.settings.ready_timeout_seconds):
            depth = await services.store.messages.count_queued()
    except Exception as exc:  # the other metrics matter most when the store is down
        log.warning("queue depth not read: %s", type(exc).__name__)
        return
    metrics.set_queue_depth(depth)


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/ready", ready, methods=["GET"]),
    Route("/metrics", prometheus, methods=["GET"]),
]

OPENAPI_PATHS: dict[str, Any] = {
    "/health": {"get": o.public("Liveness", {"200": {"description": "OK"}})},
    "/ready": {
        "get": o.public(
            "Readiness: the store answers (and, with a router, each carrier's circuit)",
            {
                "200": {"description": "Ready", **o.json_content({"type": "object"})},
                "503": o.error("The store does not answer"),
            },
        )
    },
    "/metrics": {
        "get": o.public(
            "Prometheus metrics (text exposition format)",
            {
                "200": {"description": "Metrics", "content": {"text/plain": {"schema": o.STR}}},
                "404": o.error("Metrics are switched off"),
            },
        )
    },
}
