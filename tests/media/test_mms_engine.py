"""MMS through the delivery engine and the sandbox carrier: media fetched before sending,
failures as ``state: error`` with their code, received parts copied to the recipient."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from tests.conftest import Credentials, Harness
from tests.engine.conftest import Bench, ManualClock
from tests.media.conftest import JPEG, PNG, MediaServer, media_path, upload
from trebuchet.server.carriers.base import InboundMessage
from trebuchet.server.engine import Engine
from trebuchet.server.media.names import parse_media_url

ALICE = "+15550001111"
BOB = "+15550003333"
STRANGER = "+15550002222"


@pytest.fixture
async def bench(harness: Harness) -> AsyncIterator[Bench]:
    settings = replace(harness.settings, media_fetch_read_timeout=0.3, media_fetch_timeout=1.0)
    clock = ManualClock()
    engine = Engine(harness.store, settings, clock=clock, draw=lambda: 0.0)
    yield Bench(harness, engine, clock)
    await engine.close()


@pytest.fixture
async def alice(bench: Bench) -> Credentials:
    return await bench.user([ALICE])


@pytest.fixture
async def bob(bench: Bench, media_server: MediaServer) -> Credentials:
    creds = await bench.user([BOB])
    hook = media_server.status("/bob-inbox", 200)
    await bench.application(creds, [BOB], incomingMessageUrl=hook)
    return creds


async def send_mms(
    bench: Bench, creds: Credentials, media: list[str], to: str, media_server: MediaServer
) -> str:
    hook = media_server.status("/alice-events", 200)
    return await bench.send(
        creds, **{"from": ALICE}, to=to, text="look", media=media, callbackUrl=hook
    )


async def inbound_of(bench: Bench, creds: Credentials) -> dict[str, Any]:
    http = bench.harness.http(creds)
    listed = (await http.get(bench.harness.messages_path(creds) + "?direction=in")).json()
    assert len(listed) == 1
    return dict(listed[0])


async def test_mms_to_an_owned_number_arrives_with_copied_media(
    bench: Bench, alice: Credentials, bob: Credentials, media_server: MediaServer
) -> None:
    await upload(bench.harness, alice, "mine/logo.png", PNG, "image/png")
    own = f"http://testserver{media_path(alice, 'mine/logo.png')}"
    external = media_server.file("/pics/cat.jpg", JPEG, "image/jpeg")
    message_id = await send_mms(bench, alice, [external, own], BOB, media_server)
    await bench.run()

    sent = await bench.message(alice, message_id)
    assert (sent["state"], sent["segmentCount"], sent["media"]) == ("sent", 1, [external, own])
    assert "deliveryState" not in sent
    [event] = await bench.events(alice, message_id)
    assert event["payload"]["eventType"] == "mms"
    assert event["payload"]["media"] == [external, own]

    received = await inbound_of(bench, bob)
    assert received["state"] == "received" and received["segmentCount"] == 1
    inbound_id = received["id"]
    names = [f"cat-{inbound_id}.jpg", f"logo-{inbound_id}.png"]
    refs = [parse_media_url(url) for url in received["media"]]
    assert [(r.user_id, r.name) for r in refs if r] == [(bob.user_id, n) for n in names]
    http = bench.harness.http(bob)
    for name, content, kind in zip(names, [JPEG, PNG], ["image/jpeg", "image/png"], strict=True):
        got = await http.get(media_path(bob, name))
        assert (got.content, got.headers["content-type"]) == (content, kind)
    [inbound_event] = await bench.events(bob, inbound_id)
    assert inbound_event["payload"]["eventType"] == "mms"
    assert inbound_event["payload"]["media"] == received["media"]
    # The sender's own media is untouched and still only the sender's.
    assert [
        m["mediaName"] for m in (await bench.harness.http(alice).get(media_path(alice))).json()
    ] == ["mine/logo.png"]


async def test_mms_to_the_network_is_sent_with_its_media(
    bench: Bench, alice: Credentials, media_server: MediaServer
) -> None:
    external = media_server.file("/a.gif", b"GIF89a...", "image/gif")
    message_id = await send_mms(bench, alice, [external], STRANGER, media_server)
    await bench.run()
    assert (await bench.message(alice, message_id))["state"] == "sent"
    assert media_server.hits["/a.gif"] == 1


FAILURES = {
    "too-large": ("media-size-overflow", 751, "forbidden"),
    "not-supported": ("media-not-supported", 750, "forbidden"),
    "slow": ("media-unavailable", 999, "unavailable"),
    "missing": ("media-unavailable", 999, "unavailable"),
    "own-deleted": ("media-unavailable", 999, "unavailable"),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
async def test_media_failures_end_in_error_with_their_code(
    bench: Bench, alice: Credentials, bob: Credentials, media_server: MediaServer, case: str
) -> None:
    limit = bench.engine.settings.mms_max_external_bytes
    if case == "too-large":
        url = media_server.file("/big.jpg", b"x" * (limit + 1), "image/jpeg", chunked=True)
    elif case == "not-supported":
        url = media_server.file("/tool.exe", b"MZ", "application/x-msdownload")
    elif case == "slow":
        url = media_server.hang_before_headers("/slow.jpg")
    elif case == "missing":
        url = media_server.url("/nothing-here.jpg")
    else:
        await upload(bench.harness, alice, "soon-gone.jpg", JPEG, "image/jpeg")
        url = f"http://testserver{media_path(alice, 'soon-gone.jpg')}"
    message_id = await send_mms(bench, alice, [url], BOB, media_server)
    if case == "own-deleted":
        await bench.harness.http(alice).delete(media_path(alice, "soon-gone.jpg"))
    await bench.run()

    code, delivery_code, category = FAILURES[case]
    message = await bench.message(alice, message_id)
    assert message["state"] == "error"
    assert (message["deliveryState"], message["deliveryCode"]) == ("not-delivered", delivery_code)
    [event] = await bench.events(alice, message_id)
    payload = event["payload"]
    assert (payload["eventType"], payload["state"], payload["media"]) == ("mms", "error", [url])
    assert payload["deliveryCode"] == delivery_code and payload["deliveryDescription"]
    [error] = await bench.errors(alice)
    assert (error["code"], error["category"]) == (code, category)
    assert (
        url in error["message"]
        or str(limit) in error["message"]
        or "not supported" in error["message"]
    )
    # Nothing reached the recipient.
    listed = await bench.harness.http(bob).get(bench.harness.messages_path(bob))
    assert listed.json() == []
    assert (await bench.harness.http(bob).get(media_path(bob))).json() == []


async def test_inbound_media_urls_are_fetched_into_the_recipients_store(
    bench: Bench, bob: Credentials, media_server: MediaServer
) -> None:
    url = media_server.file("/incoming/photo.jpg", JPEG, "image/jpeg")
    broken = media_server.url("/gone.jpg")
    first = await bench.engine.inbound(InboundMessage(STRANGER, BOB, "hi", media=[url]))
    second = await bench.engine.inbound(InboundMessage(STRANGER, BOB, "hi", media=[broken]))
    http = bench.harness.http(bob)
    stored = (await http.get(f"{bench.harness.messages_path(bob)}/{first}")).json()
    [ref] = [parse_media_url(u) for u in stored["media"]]
    assert ref is not None and ref.name == f"photo-{first}.jpg"
    assert (await http.get(media_path(bob, ref.name))).content == JPEG
    kept = (await http.get(f"{bench.harness.messages_path(bob)}/{second}")).json()
    assert kept["media"] == [broken]
