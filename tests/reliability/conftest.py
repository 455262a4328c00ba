"""Fixtures for the reliability tests: a restartable PostgreSQL and a Redis, or a skip."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_ADMIN_URL
from tests.reliability.cluster import (
    RestartUnavailable,
    ensure_postgres_running,
    local_postgres_cluster,
    restart_postgres,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def restart_pg(postgres_url: str) -> Iterator[Callable[[], None]]:
    """Restarts the local PostgreSQL cluster; it is running again after the test whatever
    happened.  Skips when ``pg_ctlcluster`` cannot manage it."""
    try:
        cluster = local_postgres_cluster()
    except RestartUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield lambda: restart_postgres(POSTGRES_ADMIN_URL, cluster)
    finally:
        ensure_postgres_running(POSTGRES_ADMIN_URL, cluster)


@pytest.fixture
def redis_url() -> str:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            pass
    except OSError as exc:
        pytest.skip(f"no Redis answers at {REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    return tmp_path
