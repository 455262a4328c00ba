"""A Redis limiter that does not answer: at start-up the server refuses to run; later,
``limiter_failure_mode`` decides between letting requests through and refusing them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import Harness, make_settings
from trebuchet.server.api.app import create_app
from trebuchet.server.limits import LimiterUnavailable, build_limits
from trebuchet.server.limits.redis_backend import RedisFailureCounter, RedisRateLimiter, connect

Build = Callable[..., Awaitable[Harness]]

UNREACHABLE = "redis://127.0.0.1:1/0"
ADMIN = "admin-token-0123"


def test_serve_refuses_to_start_without_its_redis(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TREBUCHET_DB": f"sqlite:///{tmp_path / 'serve.db'}",
        "TREBUCHET_PORT": "0",
        "TREBUCHET_LIMITER_BACKEND": "redis",
        "TREBUCHET_REDIS_URL": UNREACHABLE,
    }
    done = subprocess.run(
        [sys.executable, "-m", "trebuchet.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Redis at 127.0.0.1:1/0 does not answer" in lines[0]
    assert "Traceback" not in done.stdout + done.stderr


async def test_the_app_does_not_start_without_its_redis(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, limiter_backend="redis", redis_url=UNREACHABLE)
    app = create_app(settings)
    with pytest.raises(LimiterUnavailable, match="does not answer"):
        async with app.router.lifespan_context(app):
            pass


def test_an_unknown_failure_mode_is_refused() -> None:
    settings = make_settings("sqlite://", limiter_failure_mode="ajar")
    with pytest.raises(ValueError, match="limiter_failure_mode"):
        build_limits(settings)


async def test_limiters_failing_closed_raise() -> None:
    limiter = RedisRateLimiter(connect(UNREACHABLE), 1.0, 1, fail_closed=True)
    counter = RedisFailureCounter(connect(UNREACHABLE), 10.0, fail_closed=True)
    try:
        for _ in range(2):  # the first call fails, the second is refused without trying
            with pytest.raises(LimiterUnavailable):
                await limiter.hit("u")
            with pytest.raises(LimiterUnavailable):
                await counter.blocked({"ip:a": 1})
            with pytest.raises(LimiterUnavailable):
                await counter.fail(["ip:a"])
    finally:
        await limiter.aclose()
        await counter.aclose()


class Proxy:
    """A TCP relay to Redis on 127.0.0.1 that can be cut, as an outage would."""

    def __init__(self, target: str):
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.path = parts.path
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}{self.path}"

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await asyncio.wait_for(self.server.wait_closed(), 5)


@pytest.fixture
async def proxy(redis_server: str) -> AsyncIterator[Proxy]:
    relay = Proxy(redis_server)
    yield relay
    if relay.server is not None and relay.server.is_serving():
        await relay.cut()


@pytest.mark.parametrize(("mode", "status"), [("closed", 503), ("open", 200)])
async def test_a_redis_outage_later_follows_the_failure_mode(
    tuned_app: Build, proxy: Proxy, mode: str, status: int
) -> None:
    h = await tuned_app(
        limiter_backend="redis",
        redis_url=await proxy.start(),
        limiter_failure_mode=mode,
        rate_limit_per_second=100.0,
        admin_token=ADMIN,
    )
    alice = await h.create_user(["+15550001111"])
    http = h.http(alice)
    assert (await http.get(h.messages_path(alice))).status_code == 200
    await proxy.cut()
    answers = [await http.get(h.messages_path(alice)) for _ in range(2)]
    inbound = {"from": "+15550002222", "to": "+15550001111", "text": "hi"}
    answers.append(
        await h.http().post(
            "/v1/admin/inbound", json=inbound, headers={"Authorization": f"Bearer {ADMIN}"}
        )
    )
    assert [a.status_code for a in answers] == [status, status, 503 if mode == "closed" else 201]
    if mode == "closed":
        assert all(a.json()["category"] == "unavailable" for a in answers)
        assert all(a.headers["Retry-After"] == "1" for a in answers)
    wrong = await h.http().get(h.messages_path(alice), auth=(alice.api_token, "wrong"))
    assert wrong.status_code == (503 if mode == "closed" else 401)
