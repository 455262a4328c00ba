"""Listing: server time of a 1000-message page, first page against one a million deep.

The app runs in process and is called directly as ASGI, so the figure is server time
(routing, auth, query, JSON) without a network or a client in it.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

from benchmarks.common import Row, median
from benchmarks.seed import BASE_US, STEP_US, seed_messages
from trebuchet.server.api.app import create_app
from trebuchet.server.config import Settings
from trebuchet.server.store import Store

PAGE_TARGET_MS = 5.0
DEPTH_TARGET = 1.2


async def _get(app: Any, path: str, query: str, auth: str) -> tuple[int, float]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
        "headers": [(b"host", b"127.0.0.1:8080"), (b"authorization", auth.encode())],
    }
    status = 0
    size = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, size
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            size += len(message.get("body", b""))

    started = time.perf_counter()
    await app(scope, receive, send)
    return status, (time.perf_counter() - started) * 1000


async def _measure(db: str, count: int, repeats: int) -> tuple[float, float]:
    store = Store(db)
    await store.open()
    settings = Settings(db=db, demo_user=False, engine=False)
    app = create_app(settings, store)
    try:
        created = await store.users.create(["+15550100001"])
        await seed_messages(store, created.user.id, count)
        token = base64.b64encode(f"{created.user.api_token}:{created.api_secret}".encode())
        auth = f"Basic {token.decode()}"
        path = f"/v1/users/{created.user.id}/messages"
        async with app.router.lifespan_context(app):
            services = app.state.services
            deep_index = count - 1001  # the last full page: about `count` rows deep
            from trebuchet.server.domain.ids import new_message_id  # noqa: F401 - warm import

            # Cursor of the row just before the deep page (same shape the server issues).
            async with store.read() as conn:
                from sqlalchemy import select

                from trebuchet.server.store import tables

                row = (
                    await conn.execute(
                        select(tables.messages.c.time_us, tables.messages.c.id).where(
                            tables.messages.c.user_id == created.user.id,
                            tables.messages.c.time_us == BASE_US + deep_index * STEP_US,
                        )
                    )
                ).one()
            cursor = services.cursors.encode(f"{created.user.id}:asc", row.time_us, row.id)
            first_q, deep_q = "size=1000", f"size=1000&sortKeyGT={cursor}"
            for query in (first_q, deep_q):  # warm up
                status, _ = await _get(app, path, query, auth)
                if status != 200:
                    raise RuntimeError(f"list answered {status}")
            first, deep = [], []
            for _ in range(repeats):  # alternate to share the machine's drift
                first.append((await _get(app, path, first_q, auth))[1])
                deep.append((await _get(app, path, deep_q, auth))[1])
    finally:
        await store.close()
    return median(first), median(deep)


def list_pages(db: str, label: str, *, count: int, repeats: int) -> list[Row]:
    first_ms, deep_ms = asyncio.run(_measure(db, count, repeats))
    ratio = deep_ms / first_ms
    return [
        Row(
            f"list 1000-message page, {label}",
            f"{first_ms:.2f} ms server time",
            f"< {PAGE_TARGET_MS:g} ms",
            first_ms < PAGE_TARGET_MS,
            f"median of {repeats}",
            "in process (ASGI)",
        ),
        Row(
            f"list page {count:,} rows deep, {label}",
            f"{ratio:.2f}x the first page",
            f"<= {DEPTH_TARGET}x",
            ratio <= DEPTH_TARGET,
            f"{deep_ms:.2f} ms vs {first_ms:.2f} ms (keyset)",
            "in process (ASGI)",
        ),
    ]
