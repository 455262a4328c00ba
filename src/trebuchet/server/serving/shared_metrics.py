"""One metrics view over ``serve``'s processes (prometheus_client's multiprocess mode).

The supervisor makes a private folder for the run and names it in
``PROMETHEUS_MULTIPROC_DIR`` before any child starts: children are spawned (a fresh
interpreter that inherits the environment), so prometheus_client reads it on import and
keeps each process's values in files there; any API process then answers ``/metrics``
with the sum of them all (``metrics.py``).  The folder goes when ``serve`` stops.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from trebuchet.server import metrics
from trebuchet.server.config import Settings


@contextmanager
def shared_metrics(settings: Settings) -> Iterator[str | None]:
    """The folder children share their metrics through (None: metrics are off)."""
    if not settings.metrics_enabled:
        yield None
        return
    folder = tempfile.mkdtemp(prefix="trebuchet-metrics-")  # readable by its owner only
    previous = os.environ.get(metrics.MULTIPROCESS_ENV)
    os.environ[metrics.MULTIPROCESS_ENV] = folder
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop(metrics.MULTIPROCESS_ENV, None)
        else:
            os.environ[metrics.MULTIPROCESS_ENV] = previous
        shutil.rmtree(folder, ignore_errors=True)
