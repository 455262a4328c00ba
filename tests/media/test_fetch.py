"""Fetching MMS media from a real HTTP server on loopback, and from users' own media."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from tests.media.conftest import FAST_LIMITS, JPEG, PNG, MediaServer
from trebuchet.server.media.fetch import (
    MediaFetcher,
    MediaNotSupported,
    MediaTooLarge,
    MediaUnavailable,
    fetch_media,
    store_parts,
)
from trebuchet.server.media.names import media_url
from trebuchet.server.media.storage import LocalMediaStorage, put_bytes, read_all
from trebuchet.server.net.guard import AddressPolicy

LOOPBACK = AddressPolicy(allow_loopback=True, allow_private=False)
PUBLIC_ONLY = AddressPolicy(allow_loopback=False, allow_private=False)
OWN_ROOT = "https://sms.example.test"


@pytest.fixture
async def fetcher(storage: LocalMediaStorage) -> AsyncIterator[MediaFetcher]:
    fetcher = MediaFetcher(storage, FAST_LIMITS, LOOPBACK)
    yield fetcher
    await fetcher.close()


async def test_external_media_is_fetched_with_its_type(
    fetcher: MediaFetcher, media_server: MediaServer
) -> None:
    url = media_server.file("/pics/cat.jpg", JPEG, "image/jpeg")
    [part] = await fetcher.fetch("u-a", [url])
    assert (part.url, part.name, part.content_type, part.content) == (
        url,
        "cat.jpg",
        "image/jpeg",
        JPEG,
    )


async def test_octet_stream_takes_the_type_of_an_unambiguous_extension(
    fetcher: MediaFetcher, media_server: MediaServer
) -> None:
    url = media_server.file("/pic.png", PNG, "application/octet-stream")
    [part] = await fetcher.fetch("u-a", [url])
    assert part.content_type == "image/png"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/app.exe", "application/x-msdownload"), ("/blob", "application/octet-stream"),
     ("/none", None)],
)  # fmt: skip
async def test_types_outside_the_mms_list_are_not_supported(
    fetcher: MediaFetcher, media_server: MediaServer, path: str, content_type: str | None
) -> None:
    url = media_server.file(path, b"MZ...", content_type)
    with pytest.raises(MediaNotSupported) as failure:
        await fetcher.fetch("u-a", [url])
    assert failure.value.code == "media-not-supported"
    assert failure.value.message.startswith("Media type not supported")


@pytest.mark.parametrize("chunked", [False, True])
async def test_oversized_external_media_is_refused_while_reading(
    fetcher: MediaFetcher, media_server: MediaServer, chunked: bool
) -> None:
    body = b"x" * (FAST_LIMITS.external_item_bytes + 1)
    url = media_server.file("/big.jpg", body, "image/jpeg", chunked=chunked)
    with pytest.raises(MediaTooLarge) as failure:
        await fetcher.fetch("u-a", [url])
    assert failure.value.code == "media-size-overflow"
    assert failure.value.limit == FAST_LIMITS.external_item_bytes
    assert failure.value.message.startswith("The media size ")
    exact = media_server.file("/exact.jpg", body[:-1], "image/jpeg", chunked=chunked)
    assert len((await fetcher.fetch("u-a", [exact]))[0].content) == len(body) - 1


async def test_the_total_of_a_message_is_limited(
    storage: LocalMediaStorage, media_server: MediaServer
) -> None:
    limits = replace(FAST_LIMITS, total_bytes=1000)
    first = media_server.file("/a.jpg", b"a" * 600, "image/jpeg")
    second = media_server.file("/b.jpg", b"b" * 600, "image/jpeg")
    with pytest.raises(MediaTooLarge) as failure:
        await fetch_media(storage, limits, "u-a", [first, second], LOOPBACK)
    assert (failure.value.url, failure.value.limit) == (second, 1000)
    assert "all media of the message" in failure.value.reason
    parts = await fetch_media(storage, limits, "u-a", [first], LOOPBACK)
    assert len(parts) == 1


async def test_a_server_that_never_answers_times_out(
    fetcher: MediaFetcher, media_server: MediaServer
) -> None:
    url = media_server.hang_before_headers("/hang.jpg")
    started = time.monotonic()
    with pytest.raises(MediaUnavailable) as failure:
        await fetcher.fetch("u-a", [url])
    assert time.monotonic() - started < 3
    assert failure.value.code == "media-unavailable" and failure.value.retryable
    assert failure.value.message == f"Failed to access remote media {url}"


async def test_a_trickling_server_hits_the_total_timeout(
    fetcher: MediaFetcher, media_server: MediaServer
) -> None:
    url = media_server.trickle("/trickle.jpg", pause=0.05)
    started = time.monotonic()
    with pytest.raises(MediaUnavailable, match="Failed to access remote media"):
        await fetcher.fetch("u-a", [url])
    elapsed = time.monotonic() - started
    assert FAST_LIMITS.total_timeout * 0.9 < elapsed < 3


@pytest.mark.parametrize(("code", "retryable"), [(404, False), (403, False), (503, True)])
async def test_http_errors_are_unavailable(
    fetcher: MediaFetcher, media_server: MediaServer, code: int, retryable: bool
) -> None:
    url = media_server.status(f"/s{code}.jpg", code)
    with pytest.raises(MediaUnavailable) as failure:
        await fetcher.fetch("u-a", [url])
    assert f"HTTP {code}" in failure.value.reason and failure.value.retryable is retryable


async def test_an_empty_response_is_unavailable(
    fetcher: MediaFetcher, media_server: MediaServer
) -> None:
    url = media_server.file("/empty.jpg", b"", "image/jpeg")
    with pytest.raises(MediaUnavailable, match="Failed to access"):
        await fetcher.fetch("u-a", [url])


async def test_redirects_are_followed_a_few_times(
    fetcher: MediaFetcher, media_server: MediaServer
) -> None:
    target = media_server.file("/real/cat.jpg", JPEG, "image/jpeg")
    url = media_server.redirect("/short", "/real/cat.jpg")
    [part] = await fetcher.fetch("u-a", [url])
    assert (part.url, part.name, part.content) == (url, "cat.jpg", JPEG)
    assert target.endswith("/real/cat.jpg")
    loop = media_server.redirect("/loop", "/loop")
    with pytest.raises(MediaUnavailable, match="Failed to access") as failure:
        await fetcher.fetch("u-a", [loop])
    assert "redirects" in failure.value.reason
    assert media_server.hits["/loop"] == FAST_LIMITS.max_redirects + 1


async def test_the_address_policy_applies(
    storage: LocalMediaStorage, media_server: MediaServer
) -> None:
    url = media_server.file("/cat.jpg", JPEG, "image/jpeg")
    with pytest.raises(MediaUnavailable) as failure:
        await fetch_media(storage, FAST_LIMITS, "u-a", [url], PUBLIC_ONLY)
    assert not failure.value.retryable and "127.0.0.1" in failure.value.reason
    assert media_server.hits.get("/cat.jpg") is None
    elsewhere = media_server.redirect("/away", "http://127.0.0.1:9/x.jpg")
    with pytest.raises(MediaUnavailable):
        await fetch_media(storage, FAST_LIMITS, "u-a", [elsewhere], PUBLIC_ONLY)


async def test_nothing_listening_is_unavailable(storage: LocalMediaStorage) -> None:
    with pytest.raises(MediaUnavailable) as failure:
        await fetch_media(storage, FAST_LIMITS, "u-a", ["http://127.0.0.1:9/x.jpg"], LOOPBACK)
    assert failure.value.retryable


async def test_own_media_is_read_from_storage(
    fetcher: MediaFetcher, storage: LocalMediaStorage
) -> None:
    await put_bytes(storage, "u-a", "dir/cat.jpg", JPEG, "image/jpeg", 10**6)
    await put_bytes(storage, "u-a", "raw.png", PNG, "application/octet-stream", 10**6)
    urls = [media_url(OWN_ROOT, "u-a", "dir/cat.jpg"), media_url(OWN_ROOT, "u-a", "raw.png")]
    parts = await fetcher.fetch("u-a", urls)
    assert [(p.name, p.content_type, p.content) for p in parts] == [
        ("dir/cat.jpg", "image/jpeg", JPEG),
        ("raw.png", "image/png", PNG),
    ]


async def test_own_media_failures(fetcher: MediaFetcher, storage: LocalMediaStorage) -> None:
    missing = media_url(OWN_ROOT, "u-a", "gone.jpg")
    with pytest.raises(MediaUnavailable) as failure:
        await fetcher.fetch("u-a", [missing])
    assert failure.value.message == f"Failed to access media {missing}"
    await put_bytes(storage, "u-a", "big.jpg", b"x" * (2 * 1024 * 1024 + 1), "image/jpeg", 10**8)
    with pytest.raises(MediaTooLarge) as too_large:
        await fetcher.fetch("u-a", [media_url(OWN_ROOT, "u-a", "big.jpg")])
    assert too_large.value.limit == FAST_LIMITS.own_item_bytes
    await put_bytes(storage, "u-a", "prog.exe", b"MZ", "application/x-msdownload", 10**6)
    with pytest.raises(MediaNotSupported):
        await fetcher.fetch("u-a", [media_url(OWN_ROOT, "u-a", "prog.exe")])


async def test_another_users_media_path_is_not_read_from_storage(
    fetcher: MediaFetcher, storage: LocalMediaStorage, media_server: MediaServer
) -> None:
    await put_bytes(storage, "u-b", "secret.jpg", JPEG, "image/jpeg", 10**6)
    url = f"{media_server.base_url}/v1/users/u-b/media/secret.jpg"
    with pytest.raises(MediaUnavailable):  # fetched over HTTP, where it does not exist
        await fetcher.fetch("u-a", [url])
    assert media_server.hits["/v1/users/u-b/media/secret.jpg"] == 1


async def test_received_parts_are_stored_for_the_recipient(
    fetcher: MediaFetcher, storage: LocalMediaStorage, media_server: MediaServer
) -> None:
    urls = [
        media_server.file("/a/cat.jpg", JPEG, "image/jpeg"),
        media_server.file("/b/cat.jpg", PNG, "image/png"),
        media_server.file("/layout", b"<smil/>", "application/smil"),
    ]
    parts = await fetcher.fetch("u-a", urls)
    stored = await store_parts(storage, "u-r", "m-abc", parts, OWN_ROOT, 10**6)
    assert stored == [
        f"{OWN_ROOT}/v1/users/u-r/media/cat-m-abc.jpg",
        f"{OWN_ROOT}/v1/users/u-r/media/cat-m-abc.png",
        f"{OWN_ROOT}/v1/users/u-r/media/layout-m-abc.smil",
    ]
    info, content = await read_all(storage, "u-r", "cat-m-abc.png")
    assert (info.content_type, content) == ("image/png", PNG)
    assert await storage.list("u-a", after=None, limit=10) == []
