"""What ``POST /messages`` checks about ``media`` before accepting it (open point 25)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Credentials, Harness
from tests.media.conftest import JPEG, media_path, upload

SENDER = "+15550001111"
PEER = "+15550002222"


@pytest.fixture
async def alice(harness: Harness) -> Credentials:
    return await harness.create_user([SENDER, "+18005550100"])


def own(creds: Credentials, name: str, root: str = "http://testserver") -> str:
    return f"{root}{media_path(creds, name)}"


async def send(harness: Harness, creds: Credentials, **message: Any) -> Any:
    body = {"from": SENDER, "to": PEER, "text": "look", **message}
    return await harness.http(creds).post(harness.messages_path(creds), json=body)


async def test_own_and_external_media_are_accepted(harness: Harness, alice: Credentials) -> None:
    await upload(harness, alice, "dir/cat.jpg", JPEG, "image/jpeg")
    await upload(harness, alice, "raw.png", b"png", "application/octet-stream")
    media = [
        own(alice, "dir/cat.jpg"),
        own(alice, "raw.png", "https://sms.example.test"),  # any host: the path is what counts
        "https://cdn.example.test/not-fetched-now.gif",
    ]
    response = await send(harness, alice, media=media)
    assert response.status_code == 201, response.text
    message = (await harness.http(alice).get(response.headers["location"])).json()
    assert message["media"] == media and message["segmentCount"] == 1


async def test_missing_own_media_is_404(harness: Harness, alice: Credentials) -> None:
    response = await send(harness, alice, media=[own(alice, "nope.jpg")])
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "media-not-found" and "nope.jpg" in body["message"]


async def test_another_users_media_on_this_server_is_404(
    harness: Harness, alice: Credentials
) -> None:
    bob = await harness.create_user(["+15550009999"])
    await upload(harness, bob, "secret.jpg", JPEG, "image/jpeg")
    response = await send(harness, alice, media=[own(bob, "secret.jpg")])
    assert response.status_code == 404 and response.json()["code"] == "media-not-found"


async def test_own_media_over_the_item_limit_is_403(harness: Harness, alice: Credentials) -> None:
    limit = harness.settings.mms_max_own_bytes
    await upload(harness, alice, "big.jpg", b"x" * (limit + 1), "image/jpeg")
    response = await send(harness, alice, media=[own(alice, "big.jpg")])
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "media-size-overflow"
    assert body["message"] == (
        f"The media size {limit + 1} bytes is larger than the maximum {limit} bytes"
    )


async def test_own_media_over_the_total_limit_is_403(harness: Harness, alice: Credentials) -> None:
    half = harness.settings.mms_max_total_bytes // 2 + 1
    await upload(harness, alice, "a.jpg", b"a" * half, "image/jpeg")
    await upload(harness, alice, "b.jpg", b"b" * half, "image/jpeg")
    response = await send(harness, alice, media=[own(alice, "a.jpg"), own(alice, "b.jpg")])
    assert response.status_code == 403 and response.json()["code"] == "media-size-overflow"


async def test_own_media_of_an_unsupported_type_is_403(
    harness: Harness, alice: Credentials
) -> None:
    await upload(harness, alice, "tool.exe", b"MZ", "application/x-msdownload")
    response = await send(harness, alice, media=[own(alice, "tool.exe")])
    assert response.status_code == 403
    assert response.json()["code"] == "media-not-supported"
    assert response.json()["message"] == "Media type not supported application/x-msdownload"


async def test_invalid_media_urls_are_403(harness: Harness, alice: Credentials) -> None:
    response = await send(harness, alice, media=["ftp://files.example.test/cat.jpg"])
    assert response.status_code == 403 and response.json()["code"] == "media-invalid-url"


async def test_toll_free_numbers_cannot_send_mms(harness: Harness, alice: Credentials) -> None:
    response = await send(
        harness, alice, **{"from": "+18005550100"}, media=["https://cdn.example.test/a.jpg"]
    )
    assert response.status_code == 403
    assert response.json()["code"] == "media-not-supported"
    assert "toll-free" in response.json()["message"]
    sms = await send(harness, alice, **{"from": "+18005550100"})
    assert sms.status_code == 201


async def test_bulk_reports_media_errors_per_message(harness: Harness, alice: Credentials) -> None:
    await upload(harness, alice, "cat.jpg", JPEG, "image/jpeg")
    good = {"from": SENDER, "to": PEER, "media": [own(alice, "cat.jpg")]}
    bad = {"from": SENDER, "to": PEER, "media": [own(alice, "gone.jpg")]}
    response = await harness.http(alice).post(harness.messages_path(alice), json=[good, bad])
    assert response.status_code == 202
    first, second = response.json()
    assert first["result"] == "accepted"
    assert second["result"] == "error" and second["error"]["code"] == "media-not-found"
