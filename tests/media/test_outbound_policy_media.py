"""MMS media fetches obey the outbound address policy: with the shipped settings a tenant
cannot make the server read a loopback service (in any spelling, by name, or through a
redirect) and copy it into their own media, whatever the carrier."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from tests.conftest import Credentials, Harness, serve_http
from tests.engine.conftest import Bench, ManualClock
from tests.media.conftest import FAST_LIMITS, JPEG, MediaServer, media_path, stored_files
from trebuchet.server.carriers.base import InboundMessage
from trebuchet.server.config import Settings
from trebuchet.server.engine import Engine
from trebuchet.server.media.fetch import MediaUnavailable, fetch_media
from trebuchet.server.media.storage import LocalMediaStorage
from trebuchet.server.net.guard import AddressPolicy, IPAddress

ALICE = "+15550001111"
SECRET = b"TOP-SECRET: the admin password is hunter2\n"


@dataclass
class SecretService:
    """A private HTTP service on loopback that nobody outside should read."""

    base_url: str = ""
    hits: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path)
        return web.Response(body=SECRET, content_type="text/plain")

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])


@pytest.fixture
async def secret() -> AsyncIterator[SecretService]:
    service = SecretService()
    async with serve_http(service.handle) as base_url:
        service.base_url = base_url
        yield service


def _bench(harness: Harness, **outbound: bool) -> Bench:
    # Every outbound setting as shipped, unless given; the carrier is the sandbox.
    settings = Settings(
        db=harness.settings.db,
        demo_user=False,
        media_dir=harness.settings.media_dir,
        media_fetch_timeout=2.0,
        **outbound,
    )
    clock = ManualClock()
    return Bench(harness, Engine(harness.store, settings, clock=clock, draw=lambda: 0.0), clock)


@pytest.fixture
async def shipped(harness: Harness) -> AsyncIterator[Bench]:
    bench = _bench(harness)
    yield bench
    await bench.engine.close()


def _spellings(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/secret.txt",
        f"http://127.1:{port}/secret.txt",
        f"http://2130706433:{port}/secret.txt",
        f"http://0177.0.0.1:{port}/secret.txt",
        f"http://0x7f.0.0.1:{port}/secret.txt",
        f"http://0.0.0.0:{port}/secret.txt",
        f"http://[::1]:{port}/secret.txt",
        f"http://[::ffff:127.0.0.1]:{port}/secret.txt",
        f"http://localhost:{port}/secret.txt",
    ]


async def _own_media(bench: Bench, creds: Credentials) -> list[object]:
    return list((await bench.harness.http(creds).get(media_path(creds))).json())


async def test_a_tenant_cannot_read_loopback_through_mms_with_the_shipped_settings(
    shipped: Bench, secret: SecretService
) -> None:
    assert shipped.engine.settings.carrier == "sandbox"
    alice = await shipped.user([ALICE])
    urls = _spellings(secret.port)
    ids = [
        await shipped.send(alice, **{"from": ALICE}, to=ALICE, text="", media=[url]) for url in urls
    ]
    await shipped.run()

    for message_id in ids:
        message = await shipped.message(alice, message_id)
        assert (message["state"], message["deliveryState"]) == ("error", "not-delivered")
    errors = await shipped.errors(alice)
    assert [e["code"] for e in errors] == ["media-unavailable"] * len(urls)
    assert all("outbound_allow_loopback" in str(e["details"]) for e in errors), errors
    assert secret.hits == []
    assert await _own_media(shipped, alice) == []
    listed = await shipped.harness.http(alice).get(shipped.harness.messages_path(alice))
    assert [m["direction"] for m in listed.json()] == ["out"] * len(urls)  # none arrived
    media_dir = Path(shipped.engine.settings.media_dir)
    assert not any(SECRET in (media_dir / name).read_bytes() for name in stored_files(media_dir))


async def test_the_operator_can_allow_loopback(harness: Harness, secret: SecretService) -> None:
    """The same fetch works once loopback is allowed: the refusal above is the policy's."""
    bench = _bench(harness, outbound_allow_loopback=True)
    try:
        alice = await bench.user([ALICE])
        url = f"http://127.0.0.1:{secret.port}/secret.txt"
        message_id = await bench.send(alice, **{"from": ALICE}, to=ALICE, text="", media=[url])
        await bench.run()
        assert (await bench.message(alice, message_id))["state"] == "sent"
        assert secret.hits == ["/secret.txt"]
    finally:
        await bench.engine.close()


async def test_simulated_inbound_media_on_loopback_is_not_fetched(
    shipped: Bench, secret: SecretService
) -> None:
    alice = await shipped.user([ALICE])
    url = f"http://localhost:{secret.port}/secret.txt"
    message_id = await shipped.engine.inbound(
        InboundMessage("+15550002222", ALICE, "", media=[url])
    )
    stored = await shipped.message(alice, message_id)
    assert stored["media"] == [url]  # kept as it came, not copied
    assert secret.hits == []
    assert await _own_media(shipped, alice) == []


# -- redirects: every hop is judged ---------------------------------------------------------


@dataclass(frozen=True)
class OneOrigin(AddressPolicy):
    """An operator policy that lets exactly one loopback address in: the media origin."""

    origin: str = "127.0.0.1"

    def permits(self, address: IPAddress) -> bool:
        return str(address) == self.origin or super().permits(address)


@pytest.fixture
async def secret_elsewhere() -> AsyncIterator[SecretService]:
    """The secret service on another loopback address, 127.0.0.2."""
    service = SecretService()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", service.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.2", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    service.base_url = f"http://127.0.0.2:{port}"
    try:
        yield service
    finally:
        await runner.cleanup()


async def test_a_redirect_from_an_allowed_origin_to_loopback_is_refused(
    tmp_path: Path, media_server: MediaServer, secret_elsewhere: SecretService
) -> None:
    storage = LocalMediaStorage(tmp_path / "media")
    policy = OneOrigin()
    # The origin itself is allowed, and so are redirects that stay on it.
    allowed = media_server.file("/cat.jpg", JPEG, "image/jpeg")
    hop = media_server.redirect("/hop", "/cat.jpg")
    [part] = await fetch_media(storage, FAST_LIMITS, "u-a", [hop], policy)
    assert part.content == JPEG and allowed.endswith("/cat.jpg")
    port = secret_elsewhere.port
    targets = [
        f"{secret_elsewhere.base_url}/secret.txt",
        f"http://0x7f.0.0.2:{port}/secret.txt",
        f"http://2130706434:{port}/secret.txt",
        f"http://[::ffff:127.0.0.2]:{port}/secret.txt",
    ]
    for index, target in enumerate(targets):
        away = media_server.redirect(f"/away{index}", target)
        with pytest.raises(MediaUnavailable) as failure:
            await fetch_media(storage, FAST_LIMITS, "u-a", [away], policy)
        assert not failure.value.retryable
        assert "outbound_allow_loopback" in failure.value.reason
        assert media_server.hits[f"/away{index}"] == 1
    assert secret_elsewhere.hits == []
    # Allowing loopback outright lets the very same redirect through: the hop check did it.
    [leaked] = await fetch_media(
        storage, FAST_LIMITS, "u-a", [media_server.url("/away0")], AddressPolicy(True, False)
    )
    assert leaked.content == SECRET and secret_elsewhere.hits == ["/secret.txt"]
