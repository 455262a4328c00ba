"""Shared fixtures: real stores (SQLite file, PostgreSQL database), the real app in
process, and the real server on a loopback socket.

PostgreSQL cases use ``TREBUCHET_TEST_POSTGRES`` (default
``postgresql://postgres@127.0.0.1:5432/test``) as an admin connection: each test gets a
fresh database cloned from a migrated template, dropped afterwards.  When no server
answers they are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiohttp import web
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import make_url

from trebuchet.server.api.app import create_app
from trebuchet.server.config import Settings
from trebuchet.server.serving import uvicorn_config
from trebuchet.server.store import Store
from trebuchet.server.store.database import migrate

# Property tests check results, never time: hypothesis's per-example deadline would fail
# them on a loaded machine.
hypothesis_settings.register_profile("trebuchet", deadline=None)
hypothesis_settings.load_profile("trebuchet")

POSTGRES_ADMIN_URL = os.environ.get(
    "TREBUCHET_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


@dataclass(frozen=True)
class Credentials:
    user_id: str
    api_token: str
    api_secret: str
    numbers: list[str]

    @property
    def auth(self) -> tuple[str, str]:
        return (self.api_token, self.api_secret)


def credentials(created: Any) -> Credentials:
    return Credentials(
        user_id=created.user.id,
        api_token=created.user.api_token,
        api_secret=created.api_secret,
        numbers=list(created.numbers),
    )


# -- PostgreSQL databases --------------------------------------------------------------


async def _pg_admin(sql: str) -> None:
    import asyncpg

    url = make_url(POSTGRES_ADMIN_URL)
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        database=url.database,
        password=url.password,
        timeout=3,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _pg_url(database: str) -> str:
    return make_url(POSTGRES_ADMIN_URL).set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated template database, or a skip when no PostgreSQL answers."""
    name = f"tb_template_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError) as exc:
        pytest.skip(f"no PostgreSQL server answers at {POSTGRES_ADMIN_URL}: {exc}")
    try:
        asyncio.run(migrate(_pg_url(name)))
        yield name
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test."""
    name = f"tb_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    try:
        yield _pg_url(name)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'trebuchet.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once per backend."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


# -- the app in process ----------------------------------------------------------------


def make_settings(db: str, **overrides: Any) -> Settings:
    """Settings for a test server.  Housekeeping is off: the fixed corpora are dated years
    back, so a round at start-up would purge them while a test reads them.  The retention
    tests turn it on."""
    base = Settings(db=db, demo_user=False, outbound_allow_loopback=True, housekeeping_interval=0)
    return replace(base, **overrides)


@dataclass
class Harness:
    app: Any
    store: Store
    settings: Settings
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    async def create_user(self, numbers: list[str] | tuple[str, ...] = ()) -> Credentials:
        return credentials(await self.store.users.create(list(numbers)))

    def http(self, creds: Credentials | None = None, **kwargs: Any) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://testserver",
            auth=creds.auth if creds else None,
            **kwargs,
        )
        self._clients.append(client)
        return client

    @staticmethod
    def messages_path(creds: Credentials) -> str:
        return f"/v1/users/{creds.user_id}/messages"


@pytest.fixture
async def harness(store_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """The real app with its lifespan running, over a fresh store of each backend."""
    async with harnessed(make_settings(store_url, media_dir=str(tmp_path / "media"))) as h:
        yield h


@asynccontextmanager
async def harnessed(settings: Settings, engine: Any = None) -> AsyncIterator[Harness]:
    """The real app over its own store, lifespan running, for the length of a block;
    ``engine`` builds a delivery engine over the store to run in the app (None: none)."""
    store = Store(settings.db)
    await store.open()
    app = create_app(settings, store, engine(store, settings) if engine else None)
    h = Harness(app=app, store=store, settings=settings)
    try:
        async with app.router.lifespan_context(app):
            yield h
            for client in h._clients:
                await client.aclose()
    finally:
        await store.close()


# -- the real server on a loopback socket ----------------------------------------------


@dataclass
class LiveServer:
    base_url: str
    app: Any
    loop: asyncio.AbstractEventLoop

    def run(self, coro: Any) -> Any:
        """Run a coroutine on the server's event loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    @property
    def store(self) -> Store:
        return self.app.state.services.store  # type: ignore[no-any-return]

    def create_user(self, numbers: list[str] | tuple[str, ...] = ()) -> Credentials:
        return credentials(self.run(self.store.users.create(list(numbers))))


def start_live_server(
    settings: Settings, port: int = 0, app_factory: Callable[[Settings], Any] = create_app
) -> tuple[LiveServer, uvicorn.Server, threading.Thread]:
    """The real server in a background thread, on ``port`` (0: any free port), running
    the app ``app_factory`` builds (the API's unless told)."""
    app = app_factory(settings)
    config = uvicorn_config(
        app, settings, host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    loops: list[asyncio.AbstractEventLoop] = []

    def serve() -> None:
        loop = asyncio.new_event_loop()
        loops.append(loop)
        loop.run_until_complete(server.serve())
        loop.close()

    thread = threading.Thread(target=serve, name="live-server", daemon=True)
    thread.start()
    for _ in range(500):
        if server.started or not thread.is_alive():
            break
        threading.Event().wait(0.02)
    if not server.started:
        raise RuntimeError("the live server did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    return LiveServer(f"http://127.0.0.1:{port}", app, loops[0]), server, thread


@pytest.fixture
def live_server(sqlite_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """The real server (SQLite store) listening on 127.0.0.1 in a background thread."""
    with running_server(make_settings(sqlite_url, media_dir=str(tmp_path / "media"))) as live:
        yield live


@contextmanager
def running_server(
    settings: Settings, port: int = 0, app_factory: Callable[[Settings], Any] = create_app
) -> Iterator[LiveServer]:
    """:func:`start_live_server` for the length of a block, stopped and joined after it."""
    live, server, thread = start_live_server(settings, port, app_factory)
    try:
        yield live
    finally:
        server.should_exit = True
        thread.join(timeout=15)


# -- real HTTP receivers on loopback -----------------------------------------------------


@asynccontextmanager
async def serve_http(
    handle: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """Serve every path and method with ``handle`` on 127.0.0.1; yields the base URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
