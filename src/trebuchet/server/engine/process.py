"""``trebuchet worker``: the engine alone in a process, until SIGTERM or SIGINT.

On a signal it stops claiming, lets what is in flight finish (``drain_seconds``) and
exits; whatever is still unfinished is taken over by another worker once its lease ends.
With ``worker_metrics_port`` set it serves its metrics at ``/metrics`` on that port.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from trebuchet.server import metrics
from trebuchet.server.config import Settings
from trebuchet.server.engine.engine import Engine
from trebuchet.server.engine.wakeup import WakeListener
from trebuchet.server.store import Store

log = logging.getLogger("trebuchet.engine")


class MetricsPortUnavailable(Exception):
    """The worker's metrics port cannot be listened on (in use, not allowed)."""


def _metrics_server(settings: Settings) -> metrics.MetricsServer | None:
    if not settings.metrics_enabled or settings.worker_metrics_port == 0:
        return None
    host, port = settings.worker_metrics_host, settings.worker_metrics_port
    try:
        server = metrics.serve_http(host, port)
    except OSError as exc:
        raise MetricsPortUnavailable(
            f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}"
        ) from exc
    log.info("metrics at http://%s:%d/metrics", host, server.port)
    return server


def _ensure_logging() -> None:
    """Log to stderr unless the process has configured logging itself."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )


async def run_worker(
    settings: Settings,
    *,
    ready: asyncio.Event | None = None,
    migrate: bool = True,
    wake_address: str | None = None,
) -> None:
    """Deliver until SIGTERM or SIGINT; ``migrate=False`` when a supervisor migrated.

    With ``wake_address`` the engine also wakes whenever an API process says it has
    committed new work (``engine/wakeup.py``), rather than at its next poll.
    """
    _ensure_logging()
    exporter = _metrics_server(settings)
    try:
        await _deliver(settings, ready, migrate, wake_address)
    finally:
        if exporter is not None:
            exporter.close()


async def _deliver(
    settings: Settings, ready: asyncio.Event | None, migrate: bool, wake_address: str | None
) -> None:
    store = Store.from_settings(settings)
    await store.open(run_migrations=migrate)
    engine = Engine(store, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    listener: WakeListener | None = None
    try:
        await engine.start()
        if wake_address is not None:
            listener = WakeListener(wake_address, engine.wake)
        log.info("delivery worker %s started", engine.send_worker.owner)
        if ready is not None:
            ready.set()
        await stop.wait()
        log.info("draining")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if listener is not None:
            listener.close()
        await engine.stop()
        await store.close()
