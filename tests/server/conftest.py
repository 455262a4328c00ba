"""Fixtures for the server tests: a Redis server for the shared limiters, and the app
built with settings overrides."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import Harness, make_settings
from trebuchet.server.api.app import create_app
from trebuchet.server.store import Store

REDIS_URL = os.environ.get("TREBUCHET_TEST_REDIS", "redis://127.0.0.1:6379/15")


def _ping(url: str) -> None:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port or 6379), timeout=1) as conn:
        conn.sendall(b"PING\r\n")
        reply = conn.recv(64)
    if not reply.startswith((b"+PONG", b"-NOAUTH")):
        raise OSError(f"unexpected reply {reply!r}")


@pytest.fixture(scope="session")
def redis_server() -> str:
    """``TREBUCHET_TEST_REDIS`` (default a local Redis, db 15), or a skip with the reason."""
    try:
        _ping(REDIS_URL)
    except OSError as exc:
        pytest.skip(f"no Redis server answers at {REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of its own for each test, so runs never share counters."""
    return f"trebuchet-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def tuned_app(sqlite_url: str) -> AsyncIterator[Callable[..., Awaitable[Harness]]]:
    """Build the app (SQLite store) with settings overrides: ``await tuned_app(x=1)``."""
    async with AsyncExitStack() as stack:

        async def build(**overrides: Any) -> Harness:
            settings = make_settings(sqlite_url, **overrides)
            store = Store(settings.db)
            await store.open()
            stack.push_async_callback(store.close)
            app = create_app(settings, store)
            harness = Harness(app=app, store=store, settings=settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            stack.push_async_callback(_close_clients, harness)
            return harness

        yield build


async def _close_clients(harness: Harness) -> None:
    for client in harness._clients:
        await client.aclose()
