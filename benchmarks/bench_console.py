"""The console's pages against the API's list of the same page, with many messages stored.

Usage: ``python -m benchmarks.bench_console [--count 1000000] [--repeats 30] [--postgres]``

The app (console included) runs in process and is called directly as ASGI, so each
figure is server time: routing, the session (console) or Basic authentication (API), the
store's queries and the rendering (Jinja2 for the console, JSON for the API).  Measured in
one run, alternating the three requests so they share the machine's drift:

* the console's messages page (newest 50, ``/console/messages``);
* one message's page (``/console/messages/{id}``, the newest message);
* the API's list of the same 50 messages (``sortOrder=desc&size=50``).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Row, basic_auth, median, postgres_database, sqlite_database
from benchmarks.seed import BASE_US, STEP_US, seed_messages
from trebuchet.server.config import Settings
from trebuchet.server.console.app import create_app
from trebuchet.server.console.session import COOKIE
from trebuchet.server.store import Store

TARGET_MS = 50.0


async def _get(app: Any, path: str, query: str, headers: list[tuple[bytes, bytes]]) -> float:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(),
        "query_string": query.encode(), "root_path": "", "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000), "headers": [(b"host", b"127.0.0.1:8080"), *headers],
    }  # fmt: skip
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    started = time.perf_counter()
    await app(scope, receive, send)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200:
        raise RuntimeError(f"{path} answered {status}")
    return elapsed


async def _measure(db: str, count: int, repeats: int) -> tuple[dict[str, float], float]:
    store = Store(db)
    await store.open()
    app = create_app(Settings(db=db, demo_user=False, engine=False), store)
    try:
        created = await store.users.create(["+15550100001"])
        started = time.perf_counter()
        await seed_messages(store, created.user.id, count)
        seeded_s = time.perf_counter() - started
        user = created.user.id
        key, _ = await store.console_sessions.start(user, operator=False)
        cookie = [(b"cookie", f"{COOKIE}={key}".encode())]
        auth = [(b"authorization", basic_auth(created.user.api_token, created.api_secret).encode())]
        middle = BASE_US + (count // 2) * STEP_US
        rows = await store.console.search(user, "History", middle, None, 1)
        message_id = rows[-1][0] if rows else ""
        requests = {
            "console messages page (newest 50)": ("/console/messages", "", cookie),
            "console message page": (f"/console/messages/{message_id}", "", cookie),
            "API list, same 50 messages": (
                f"/v1/users/{user}/messages", "sortOrder=desc&size=50", auth),
        }  # fmt: skip
        async with app.router.lifespan_context(app):
            for path, query, headers in requests.values():  # warm up
                await _get(app, path, query, headers)
            times: dict[str, list[float]] = {name: [] for name in requests}
            for _ in range(repeats):
                for name, (path, query, headers) in requests.items():
                    times[name].append(await _get(app, path, query, headers))
    finally:
        await store.close()
    return {name: median(values) for name, values in times.items()}, seeded_s


def console_pages(db: str, label: str, *, count: int, repeats: int) -> list[Row]:
    measured, seeded_s = asyncio.run(_measure(db, count, repeats))
    api_ms = measured["API list, same 50 messages"]
    rows = []
    for name, ms in measured.items():
        is_api = name.startswith("API")
        rows.append(Row(
            f"{name}, {count:,} messages, {label}", f"{ms:.2f} ms server time",
            "report" if is_api else f"< {TARGET_MS:g} ms", None if is_api else ms < TARGET_MS,
            f"median of {repeats}; {ms / api_ms:.2f}x the API list; seeded in {seeded_s:.0f} s",
            "in process (ASGI)",
        ))  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        if args.postgres:
            with postgres_database() as db:
                rows = console_pages(db, "PostgreSQL", count=args.count, repeats=args.repeats)
        else:
            db = sqlite_database(Path(work), "console.db")
            rows = console_pages(db, "SQLite", count=args.count, repeats=args.repeats)
    print("| benchmark | measured | target | met | detail |")
    print("|---|---|---|---|---|")
    for row in rows:
        met = "" if row.met is None else ("yes" if row.met else "no")
        print(f"| {row.benchmark} | {row.measured} | {row.target} | {met} | {row.detail} |")


if __name__ == "__main__":
    main()
