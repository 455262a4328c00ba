"""Media methods of both clients against the real server: upload (bytes, files, chunks),
list with paging, download (whole and streamed), delete, and errors."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import trebuchet
from trebuchet import AsyncClient, Client
from trebuchet.server.media.storage import put_bytes

JPEG = b"\xff\xd8\xff\xe0" + b"jpeg" * 1000


@pytest.fixture
def creds(live_server: Any) -> Any:
    return live_server.create_user(numbers=["+15550001111"])


@pytest.fixture
def api(live_server: Any, creds: Any) -> Iterator[Client]:
    with Client(
        creds.user_id, creds.api_token, creds.api_secret, api_endpoint=live_server.base_url
    ) as client:
        yield client


def test_upload_download_list_delete(api: Client) -> None:
    api.upload_media("pets/cat.jpg", JPEG, content_type="image/jpeg")
    assert api.download_media("pets/cat.jpg") == (JPEG, "image/jpeg")
    [item] = list(api.list_media())
    assert item["media_name"] == "pets/cat.jpg"
    assert item["content_length"] == len(JPEG)
    assert item["content"].endswith(f"/v1/users/{api.user_id}/media/pets/cat.jpg")
    api.delete_media("pets/cat.jpg")
    assert list(api.list_media()) == []


def test_files_and_chunks_are_streamed_up(api: Client, tmp_path: Path) -> None:
    path = tmp_path / "video.mp4"
    path.write_bytes(b"v" * 300_000)
    with path.open("rb") as f:
        f.read(100_000)  # the rest of the file is what gets uploaded
        api.upload_media("video.mp4", f, content_type="video/mp4")
    assert api.download_media("video.mp4") == (b"v" * 200_000, "video/mp4")
    api.upload_media("parts.bin", iter([b"a" * 70_000, b"b" * 70_000]))
    content, kind = api.download_media("parts.bin")
    assert content == b"a" * 70_000 + b"b" * 70_000 and kind == "application/octet-stream"
    api.upload_media("buffer.txt", io.BytesIO(b"from a buffer"), content_type="text/plain")
    assert api.download_media("buffer.txt")[0] == b"from a buffer"


def test_streamed_download(api: Client) -> None:
    api.upload_media("big.bin", bytes(range(256)) * 1000)
    chunks = list(api.stream_media("big.bin", chunk_size=10_000))
    assert b"".join(chunks) == bytes(range(256)) * 1000
    assert max(len(chunk) for chunk in chunks) <= 10_000
    with pytest.raises(trebuchet.NotFoundError):
        list(api.stream_media("missing.bin"))


def test_listing_follows_links(api: Client, live_server: Any) -> None:
    names = [f"n{i:04d}" for i in range(1005)]
    for name in names[:5]:
        api.upload_media(name, b"x")
    store = live_server.app.state.media
    for name in names[5:]:  # faster than 1000 requests
        live_server.run(put_bytes(store, api.user_id, name, b"y", "text/plain", 10))
    assert [item["media_name"] for item in api.list_media()] == names


def test_errors(api: Client) -> None:
    with pytest.raises(trebuchet.NotFoundError) as missing:
        api.download_media("nope.jpg")
    assert missing.value.code == "media-not-found"
    with pytest.raises(trebuchet.NotFoundError):
        api.delete_media("nope.jpg")
    with pytest.raises(trebuchet.BadRequestError) as empty:
        api.upload_media("empty.bin", b"")
    assert empty.value.code == "validation-error"
    with pytest.raises(ValueError, match="media name"):
        api.upload_media("", b"x")
    with pytest.raises(TypeError, match="content must be"):
        api.upload_media("x", 42)  # type: ignore[arg-type]


async def test_async_client(live_server: Any, creds: Any) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"one,"
        yield b"two"

    async with AsyncClient(
        creds.user_id, creds.api_token, creds.api_secret, api_endpoint=live_server.base_url
    ) as api:
        await api.upload_media("a/b.txt", chunks(), content_type="text/plain")
        await api.upload_media("c.jpg", JPEG, content_type="image/jpeg")
        assert await api.download_media("a/b.txt") == (b"one,two", "text/plain")
        assert [item["media_name"] async for item in api.list_media()] == ["a/b.txt", "c.jpg"]
        streamed = b"".join([chunk async for chunk in api.stream_media("c.jpg", 1000)])
        assert streamed == JPEG
        await api.delete_media("c.jpg")
        with pytest.raises(trebuchet.NotFoundError):
            await api.download_media("c.jpg")
