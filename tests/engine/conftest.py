"""Engine fixtures: a hand-moved clock, real HTTP receivers on loopback, and a stepped
engine over the in-process app (the harness), for each store backend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.conftest import Credentials, Harness, serve_http
from trebuchet.server.carriers.base import Carrier
from trebuchet.server.domain.times import US
from trebuchet.server.engine import Engine
from trebuchet.server.store.delivery import DeliveryStore


class ManualClock:
    """Starts at the real time (rows written by the API use it too) and moves by hand."""

    def __init__(self) -> None:
        self._now = time.time_ns() // 1000

    def now_us(self) -> int:
        return max(self._now, time.time_ns() // 1000)

    def advance(self, seconds: float) -> None:
        self._now = self.now_us() + round(seconds * US)


@dataclass
class Hit:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        import json

        return json.loads(self.body)

    @property
    def event(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.query, keep_blank_values=True))


Behaviour = Callable[[web.Request, int], Awaitable[web.StreamResponse]]


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 recording every request, per-path behaviour."""

    base_url: str = ""
    hits: list[Hit] = field(default_factory=list)
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def on(self, path: str, behaviour: Behaviour) -> str:
        self.behaviours[path] = behaviour
        return self.url(path)

    def at(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        count = len(self.at(request.path))
        self.hits.append(
            Hit(request.method, request.path, request.raw_path.partition("?")[2],
                dict(request.headers), body, time.monotonic())
        )  # fmt: skip
        self.arrived.set()
        behaviour = self.behaviours.get(request.path)
        if behaviour is None:
            return web.Response(status=200)
        return await behaviour(request, count)


def status(code: int) -> Behaviour:
    async def answer(request: web.Request, count: int) -> web.StreamResponse:
        return web.Response(status=code)

    return answer


def failing_first(times: int, code: int = 500) -> Behaviour:
    async def answer(request: web.Request, count: int) -> web.StreamResponse:
        return web.Response(status=code if count < times else 200)

    return answer


def slow(seconds: float) -> Behaviour:
    async def answer(request: web.Request, count: int) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.Response(status=200)

    return answer


def redirect_to_self() -> Behaviour:
    async def answer(request: web.Request, count: int) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": str(request.url)})

    return answer


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    async with serve_http(rec.handle) as base_url:
        rec.base_url = base_url
        yield rec


@dataclass
class Bench:
    """The in-process app plus an engine stepped by hand."""

    harness: Harness
    engine: Engine
    clock: ManualClock

    @property
    def store(self) -> Any:
        return self.harness.store

    @property
    def delivery(self) -> DeliveryStore:
        return self.engine.delivery.store

    async def user(self, numbers: list[str]) -> Credentials:
        return await self.harness.create_user(numbers)

    async def send(self, creds: Credentials, **message: Any) -> str:
        http = self.harness.http(creds)
        response = await http.post(self.harness.messages_path(creds), json=message)
        assert response.status_code == 201, response.text
        return str(response.headers["location"].rsplit("/", 1)[1])

    async def message(self, creds: Credentials, message_id: str) -> dict[str, Any]:
        response = await self.harness.http(creds).get(
            f"{self.harness.messages_path(creds)}/{message_id}"
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def events(self, creds: Credentials, message_id: str) -> list[dict[str, Any]]:
        response = await self.harness.http(creds).get(
            f"{self.harness.messages_path(creds)}/{message_id}/events"
        )
        assert response.status_code == 200, response.text
        return list(response.json())

    async def errors(self, creds: Credentials) -> list[dict[str, Any]]:
        response = await self.harness.http(creds).get(f"/v1/users/{creds.user_id}/errors")
        return list(response.json())

    async def application(self, creds: Credentials, numbers: list[str], **props: Any) -> str:
        http = self.harness.http(creds)
        response = await http.post(
            f"/v1/users/{creds.user_id}/applications", json={"name": "app", **props}
        )
        assert response.status_code == 201, response.text
        app_id = response.headers["location"].rsplit("/", 1)[1]
        for number in numbers:
            linked = await http.post(
                f"/v1/users/{creds.user_id}/phoneNumbers/{number}",
                json={"applicationId": app_id},
            )
            assert linked.status_code == 200, linked.text
        return str(app_id)

    async def run(self) -> int:
        return await self.engine.run_until_idle()

    async def run_for(self, seconds: float, step: float = 1.0) -> None:
        """Step the clock ``seconds`` forward, running the engine at every step."""
        elapsed = 0.0
        while elapsed < seconds:
            self.clock.advance(step)
            elapsed += step
            await self.run()


BenchFactory = Callable[..., Awaitable[Bench]]


@pytest.fixture
async def make_bench(harness: Harness) -> AsyncIterator[BenchFactory]:
    engines: list[Engine] = []

    async def make(carrier: Carrier | None = None, **settings: Any) -> Bench:
        clock = ManualClock()
        engine_settings = replace(harness.settings, **settings)
        engine = Engine(harness.store, engine_settings, carrier=carrier, clock=clock,
                        draw=lambda: 0.0)  # fmt: skip
        engines.append(engine)
        return Bench(harness, engine, clock)

    yield make
    for engine in engines:
        await engine.close()


@pytest.fixture
async def bench(make_bench: BenchFactory) -> Bench:
    return await make_bench()


def http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=10)
