"""How many processes of each kind ``serve`` runs (docs/scaling.md).

API processes answer HTTP on one shared listening socket; worker processes run the
delivery engine (sending, callbacks, housekeeping).  With no worker process the engine
runs inside each API process, and one API process with no worker is today's single
process: ``serve`` then runs in its own process with no supervisor.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from trebuchet.server.config import Settings

# Measured on a 2-core machine (BENCHMARKS.md, "process topology"): one API process per
# core and one delivery process.  More delivery processes only help when the carrier or
# the callback receivers, not this machine's CPU, are what a message waits on.
DEFAULT_WORKER_PROCESSES = 1


def default_api_processes(cores: int | None = None) -> int:
    """One API process per core (at least one)."""
    return max(1, cores if cores is not None else (os.cpu_count() or 1))


@dataclass(frozen=True)
class Topology:
    api: int
    workers: int

    @property
    def single(self) -> bool:
        """One process, API and engine together, no supervisor."""
        return self.api == 1 and self.workers == 0

    def describe(self) -> str:
        api = f"{self.api} API process{'es' if self.api != 1 else ''}"
        if self.workers == 0:
            return f"{api} (delivery inside)"
        return f"{api}, {self.workers} delivery process{'es' if self.workers != 1 else ''}"


def topology(settings: Settings, cores: int | None = None) -> Topology:
    """The processes ``settings`` ask for; unset counts come from the core count.

    ``api_processes`` 0 and 1 both mean one API process.  With the engine off
    (``engine = false``) there are no worker processes.
    """
    if settings.api_processes is not None:
        api = max(1, settings.api_processes)
    elif settings.workers > 1:  # the older setting
        api = settings.workers
    else:
        api = default_api_processes(cores)
    workers = settings.worker_processes
    if workers is None:
        workers = DEFAULT_WORKER_PROCESSES
    if not settings.engine:
        workers = 0
    return Topology(api, workers)


def worker_settings(settings: Settings) -> Settings:
    """A delivery process's settings: its metrics are served through the API processes,
    so it opens no metrics port of its own (several would want the same one)."""
    return replace(settings, worker_metrics_port=0)


def api_settings(settings: Settings, shape: Topology) -> Settings:
    """An API process's settings: the engine stays in the worker processes when any run."""
    if shape.workers > 0:
        return replace(settings, engine=False)
    return settings
