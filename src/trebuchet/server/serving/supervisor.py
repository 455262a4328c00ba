"""``serve``'s supervisor: API and delivery processes, started, watched and stopped.

The parent binds the listening socket once and hands it to each API process (they accept
on the same socket; the kernel spreads connections), starts the delivery processes, and
then only watches:

* a child that exits while the server is running is started again after a backoff
  (``RESTART_BACKOFF`` doubling to ``RESTART_BACKOFF_MAX``), and the exit is logged;
* a child that dies within ``START_GRACE`` seconds of starting, ``CRASH_LIMIT`` times in
  a row, means the server cannot start: everything is stopped and the parent exits 1;
* SIGTERM or SIGINT is passed on to every child as SIGTERM: API processes finish their
  requests, delivery processes drain (``drain_seconds``); a child still running
  ``drain_seconds`` + ``STOP_MARGIN`` later is killed.  The parent then exits 0.

Children are started with ``spawn`` (a fresh interpreter, nothing inherited from the
parent's event loop or database connections) and get the settings as JSON.  The store was
migrated by the parent before any child starts, so children open it without migrating.
Each child stops itself if its parent disappears (``_watch_parent``).  API processes
wake the delivery processes after each commit (``engine/wakeup.py``).  Children share
their metrics through a folder made for the run (``shared_metrics.py``); when one exits,
its live gauges are dropped there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

from trebuchet.server import metrics
from trebuchet.server.config import Settings, dump_settings, restore_settings
from trebuchet.server.engine.wakeup import SUPPORTED, WakeSender, wake_address
from trebuchet.server.serving.shared_metrics import shared_metrics
from trebuchet.server.serving.topology import Topology, api_settings, worker_settings

log = logging.getLogger("trebuchet.serve")

START_GRACE = 10.0  # seconds a child must live for its start to count as good
CRASH_LIMIT = 5  # failed starts in a row of one child before the server gives up
RESTART_BACKOFF = 0.5
RESTART_BACKOFF_MAX = 30.0
STOP_MARGIN = 5.0
PARENT_CHECK_SECONDS = 1.0


@dataclass
class Child:
    """One slot of the topology and the process that fills it now."""

    kind: str  # "api" or "worker"
    index: int
    process: BaseProcess | None = None
    started: float = 0.0
    failed_starts: int = 0
    restart_at: float = 0.0
    exits: list[int | None] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.index}"


def _watch_parent(parent: int) -> None:
    """Stop this child (as SIGTERM would) once the process that started it is gone."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _child_settings(payload: str, parent: int) -> Settings:
    from trebuchet.server.logs import configure_logging

    settings = restore_settings(payload)
    configure_logging(settings.log_format, settings.log_level)
    _watch_parent(parent)
    return settings


def api_main(payload: str, listener: socket.socket, parent: int, wakes: list[str]) -> None:
    """An API process: the app on the socket the parent bound, without the engine when
    delivery processes run it (``api_settings``), waking them after each commit."""
    from trebuchet.server.console.app import create_app
    from trebuchet.server.serving import serve_until_stopped, uvicorn_config

    settings = _child_settings(payload, parent)
    wake = WakeSender(wakes) if wakes else None
    app = create_app(settings, migrate=False, wake=wake)
    serve_until_stopped(uvicorn.Server(uvicorn_config(app, settings)), [listener])


def worker_main(payload: str, parent: int, wake: str | None) -> None:
    """A delivery process: ``trebuchet worker`` on the store the parent migrated."""
    from trebuchet.server.engine.process import run_worker

    settings = _child_settings(payload, parent)
    asyncio.run(run_worker(settings, migrate=False, wake_address=wake))


def bind(settings: Settings) -> socket.socket:
    """The listening socket every API process accepts on."""
    from trebuchet.server.serving import uvicorn_config

    return uvicorn_config(None, settings).bind_socket()


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        shape: Topology,
        listener: socket.socket,
        metrics_dir: str | None = None,
    ):
        self.settings = settings
        self.shape = shape
        self.listener = listener
        self.metrics_dir = metrics_dir
        self.children = [Child("api", i) for i in range(shape.api)]
        self.children += [Child("worker", i) for i in range(shape.workers)]
        self._context = multiprocessing.get_context("spawn")
        self._api_payload = dump_settings(api_settings(settings, shape))
        self._worker_payload = dump_settings(worker_settings(settings))
        token = secrets.token_hex(8)
        self._wakes = [wake_address(token, i) for i in range(shape.workers)] if SUPPORTED else []
        self._stopping = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _start(self, child: Child) -> None:
        parent = os.getpid()
        target: Callable[..., None]
        if child.kind == "api":
            args: tuple[object, ...] = (self._api_payload, self.listener, parent, self._wakes)
            target = api_main
        else:
            wake = self._wakes[child.index] if self._wakes else None
            args, target = (self._worker_payload, parent, wake), worker_main
        process = self._context.Process(
            target=target, args=args, name=f"trebuchet-{child.name}", daemon=False
        )
        process.start()
        child.process, child.started = process, time.monotonic()
        log.info("started %s process %s (pid %s)", child.kind, child.name, process.pid)

    def _reap(self, child: Child, now: float) -> bool:
        """Note a child that exited; False when it keeps failing to start."""
        assert child.process is not None
        code = child.process.exitcode
        self._gone(child.process)
        child.process.close()
        child.process = None
        child.exits.append(code)
        if now - child.started < START_GRACE:
            child.failed_starts += 1
        else:
            child.failed_starts = 0
        if child.failed_starts >= CRASH_LIMIT:
            log.error(
                "%s exited with %s %d times in a row within %.0f s of starting; stopping",
                child.name,
                _exit_text(code),
                child.failed_starts,
                START_GRACE,
            )
            return False
        delay = min(RESTART_BACKOFF_MAX, RESTART_BACKOFF * 2 ** max(0, child.failed_starts - 1))
        child.restart_at = now + delay
        log.warning(
            "%s exited with %s; starting it again in %.1f s", child.name, _exit_text(code), delay
        )
        return True

    def _gone(self, process: BaseProcess) -> None:
        if self.metrics_dir is not None and process.pid is not None:
            metrics.process_gone(process.pid, self.metrics_dir)

    def run(self) -> int:
        """Supervise until a signal (answers 0) or a child that keeps crashing (1)."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        healthy = True
        log.info("serving with %s", self.shape.describe())
        try:
            healthy = self._watch()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(self._wake_r)
            os.close(self._wake_w)
            self.listener.close()
        return 0 if healthy else 1

    def _watch(self) -> bool:
        while not self._stopping:
            now = time.monotonic()
            for child in self.children:
                if child.process is None and child.restart_at <= now:
                    self._start(child)
            running = [c.process.sentinel for c in self.children if c.process is not None]
            pending = [c.restart_at - now for c in self.children if c.process is None]
            timeout = max(0.05, min(pending)) if pending else None
            ready = wait([*running, self._wake_r], timeout)
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
            if self._stopping:
                break
            now = time.monotonic()
            for child in self.children:
                exited = child.process is not None and not child.process.is_alive()
                if exited and not self._reap(child, now):
                    return False
        return True

    def _stop_all(self) -> None:
        running = [c for c in self.children if c.process is not None]
        for child in running:
            assert child.process is not None
            if child.process.is_alive() and child.process.pid is not None:
                os.kill(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.drain_seconds + STOP_MARGIN
        for child in running:
            assert child.process is not None
            child.process.join(max(0.0, deadline - time.monotonic()))
            if child.process.is_alive():
                log.warning("%s did not stop in time; killing it", child.name)
                child.process.kill()
                child.process.join(5)
            self._gone(child.process)
            child.process = None
        log.info("all processes stopped")


def supervise(settings: Settings, shape: Topology) -> int:
    """Bind, start the children and watch them; answers the parent's exit code."""
    listener = bind(settings)
    with shared_metrics(settings) as folder:
        return Supervisor(settings, shape, listener, folder).run()
