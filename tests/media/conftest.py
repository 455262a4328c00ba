"""Media fixtures: a real HTTP server on loopback hosting "external" media, with slow,
oversized, redirecting and failing paths, plus helpers for the media endpoints."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from tests import s3
from tests.conftest import Credentials, Harness, serve_http
from trebuchet.server.media.fetch import MmsLimits
from trebuchet.server.media.storage import LocalMediaStorage

# Far longer than any timeout used in these tests, and still bounded.
HANG_SECONDS = 10.0
JPEG = b"\xff\xd8\xff\xe0" + b"jpeg-bytes" * 50
PNG = b"\x89PNG\r\n\x1a\n" + b"png-bytes" * 50

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class MediaServer:
    """An HTTP server on 127.0.0.1 with one handler per path; counts requests per path."""

    base_url: str = ""
    handlers: dict[str, Handler] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def file(
        self, path: str, body: bytes, content_type: str | None, *, chunked: bool = False
    ) -> str:
        async def serve(request: web.Request) -> web.StreamResponse:
            if not chunked:
                response = web.Response(body=body)
                if content_type is None:
                    response.headers.popall("Content-Type", None)
                else:
                    response.headers["Content-Type"] = content_type
                return response
            stream = web.StreamResponse()
            if content_type is not None:
                stream.headers["Content-Type"] = content_type
            stream.enable_chunked_encoding()
            await stream.prepare(request)
            for start in range(0, len(body), 8192):
                await stream.write(body[start : start + 8192])
            await stream.write_eof()
            return stream

        self.handlers[path] = serve
        return self.url(path)

    def status(self, path: str, code: int) -> str:
        async def serve(request: web.Request) -> web.StreamResponse:
            return web.Response(status=code, text="nope")

        self.handlers[path] = serve
        return self.url(path)

    def redirect(self, path: str, to: str) -> str:
        async def serve(request: web.Request) -> web.StreamResponse:
            return web.Response(status=302, headers={"Location": to})

        self.handlers[path] = serve
        return self.url(path)

    def hang_before_headers(self, path: str) -> str:
        async def serve(request: web.Request) -> web.StreamResponse:
            await self._hang()
            return web.Response(body=JPEG, content_type="image/jpeg")

        self.handlers[path] = serve
        return self.url(path)

    def trickle(self, path: str, pause: float) -> str:
        """Headers at once, then a few bytes every ``pause`` seconds, for a long time."""

        async def serve(request: web.Request) -> web.StreamResponse:
            stream = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
            stream.enable_chunked_encoding()
            await stream.prepare(request)
            for _ in range(round(HANG_SECONDS / pause)):
                if self.release.is_set():
                    break
                try:
                    await stream.write(b"x" * 16)
                except ConnectionError:
                    break
                await asyncio.sleep(pause)
            return stream

        self.handlers[path] = serve
        return self.url(path)

    async def _hang(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.release.wait(), HANG_SECONDS)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        handler = self.handlers.get(request.path)
        if handler is None:
            return web.Response(status=404)
        return await handler(request)


@pytest.fixture
async def media_server() -> AsyncIterator[MediaServer]:
    server = MediaServer()
    async with serve_http(server.handle) as base_url:
        server.base_url = base_url
        try:
            yield server
        finally:
            server.release.set()


@pytest.fixture
def storage(tmp_path: Path) -> LocalMediaStorage:
    return LocalMediaStorage(tmp_path / "media")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 HTTP endpoint on loopback (moto's server) for the whole session."""
    if not s3.MOTO:
        pytest.skip(s3.MOTO_MISSING)
    with s3.moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake AWS credentials in the environment for this test only."""
    for name, value in s3.FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
async def bucket(s3_endpoint: str, aws_env: None) -> str:
    """A new, empty bucket on the session's S3 endpoint, with credentials set."""
    return s3.new_bucket(s3_endpoint)


FAST_LIMITS = MmsLimits(
    external_item_bytes=1536 * 1024,
    own_item_bytes=2 * 1024 * 1024,
    total_bytes=2 * 1024 * 1024,
    connect_timeout=2.0,
    read_timeout=0.3,
    total_timeout=1.0,
)


def media_path(creds: Credentials, name: str = "") -> str:
    base = f"/v1/users/{creds.user_id}/media"
    return f"{base}/{name}" if name else base


async def upload(
    harness: Harness, creds: Credentials, name: str, body: bytes, content_type: str | None = None
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = await harness.http(creds).put(media_path(creds, name), content=body, headers=headers)
    assert response.status_code == 200, response.text


def stored_files(media_dir: str | Path) -> list[str]:
    """Every file under a media directory, relative to it."""
    root = Path(media_dir)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
