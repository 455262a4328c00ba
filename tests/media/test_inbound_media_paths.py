"""Inbound MMS media is copied into the recipient's media store on every inbound path:
the admin endpoint, the HTTP upstream events endpoint (with and without a delivery engine
in the app) and ``trebuchet inject``.  Where the address policy refuses the media's
address, each path keeps the URL as it came and fetches nothing, as the engine does."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import Credentials, Harness, harnessed, make_settings
from tests.media.conftest import JPEG, MediaServer, media_path
from trebuchet.cli.main import main
from trebuchet.server.config import Settings
from trebuchet.server.engine import Engine
from trebuchet.server.media.names import parse_media_url

BOB, STRANGER = "+15550002222", "+15557654321"
ADMIN_TOKEN = "admin-token"
EVENTS_TOKEN = "events-token"
UPSTREAM = {"type": "http", "url": "http://127.0.0.1:9/send", "events_token": EVENTS_TOKEN}


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return make_settings(
        f"sqlite:///{tmp_path / 'inbound.db'}",
        media_dir=str(tmp_path / "media"),
        media_fetch_timeout=2.0,
        admin_token=ADMIN_TOKEN,
        carriers={"up": UPSTREAM},
        **overrides,
    )


def _app(settings: Settings, *, engine: bool) -> AbstractAsyncContextManager[Harness]:
    """The real app over its own store, with a delivery engine running in it or none."""
    return harnessed(settings, Engine if engine else None)


# -- the three paths: each answers once the message is stored --------------------------


async def _admin(harness: Harness, url: str) -> None:
    body = {"from": STRANGER, "to": BOB, "text": "look", "media": [url]}
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    response = await harness.http().post("/v1/admin/inbound", json=body, headers=headers)
    assert response.status_code == 201, response.text


async def _upstream(harness: Harness, url: str) -> None:
    event = {"type": "inbound", "from": STRANGER, "to": BOB, "text": "look", "media": [url],
             "id": "p-1"}  # fmt: skip
    response = await harness.http().post(f"/v1/carriers/up/events?token={EVENTS_TOKEN}", json=event)
    assert response.status_code == 200 and response.json() == {"done": "inbound"}, response.text


async def _inject(harness: Harness, url: str) -> None:
    settings = harness.settings
    config = Path(settings.media_dir).parent / "inject.toml"
    config.write_text(
        f'media_dir = "{settings.media_dir}"\n'
        f"media_fetch_timeout = {settings.media_fetch_timeout}\n"
        f"outbound_allow_loopback = {str(settings.outbound_allow_loopback).lower()}\n"
    )
    args = ["inject", "--db", settings.db, "--config", str(config),
            "--from", STRANGER, "--to", BOB, "--text", "look", "--media", url]  # fmt: skip
    # The command runs its own event loop; the media server answers on this one.
    result = await asyncio.to_thread(CliRunner().invoke, main, args)
    assert result.exit_code == 0, result.output


Path_ = Callable[[Harness, str], Awaitable[None]]
PATHS: list[Any] = [
    pytest.param(_admin, False, id="admin"),
    pytest.param(_admin, True, id="admin-engine"),
    pytest.param(_upstream, False, id="upstream"),
    pytest.param(_upstream, True, id="upstream-engine"),
    pytest.param(_inject, False, id="inject"),
]


async def _received(harness: Harness, bob: Credentials) -> dict[str, Any]:
    listed = (await harness.http(bob).get(harness.messages_path(bob))).json()
    [message] = [m for m in listed if m["direction"] == "in"]
    return dict(message)


@pytest.mark.parametrize(("path", "engine"), PATHS)
async def test_inbound_media_is_copied_into_the_recipients_store(
    tmp_path: Path, media_server: MediaServer, path: Path_, engine: bool
) -> None:
    url = media_server.file("/incoming/photo.jpg", JPEG, "image/jpeg")
    async with _app(_settings(tmp_path), engine=engine) as harness:
        bob = await harness.create_user([BOB])
        await path(harness, url)
        message = await _received(harness, bob)
        [ours] = message["media"]
        ref = parse_media_url(ours)
        assert ref is not None and ref.user_id == bob.user_id, ours
        assert ref.name == f"photo-{message['id']}.jpg"
        stored = await harness.http(bob).get(media_path(bob, ref.name))
        assert stored.status_code == 200 and stored.content == JPEG
    assert media_server.hits == {"/incoming/photo.jpg": 1}


@pytest.mark.parametrize(("path", "engine"), PATHS)
async def test_media_the_policy_refuses_is_kept_as_a_url_and_not_fetched(
    tmp_path: Path, media_server: MediaServer, path: Path_, engine: bool
) -> None:
    """With the shipped address policy loopback is refused: the engine's behaviour."""
    url = media_server.file("/incoming/photo.jpg", JPEG, "image/jpeg")
    settings = replace(_settings(tmp_path), outbound_allow_loopback=False)
    async with _app(settings, engine=engine) as harness:
        bob = await harness.create_user([BOB])
        await path(harness, url)
        message = await _received(harness, bob)
        assert message["media"] == [url]
        assert (await harness.http(bob).get(media_path(bob))).json() == []
    assert media_server.hits == {}
