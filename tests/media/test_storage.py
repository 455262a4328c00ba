"""The local filesystem media storage: the contract every storage must keep."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from trebuchet.server.media.names import InvalidName
from trebuchet.server.media.storage import (
    EmptyMedia,
    LocalMediaStorage,
    MediaNotFound,
    MediaTooLarge,
    put_bytes,
    read_all,
)

LIMIT = 1024 * 1024


async def stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_put_open_stat_list_delete(storage: LocalMediaStorage) -> None:
    info = await storage.put(
        "u-a", "dir/cat.jpg", stream(b"abc", b"def"), content_type="image/jpeg", limit=LIMIT,
        cache_control="max-age=60",
    )  # fmt: skip
    assert (info.name, info.size, info.content_type) == ("dir/cat.jpg", 6, "image/jpeg")
    stat = await storage.stat("u-a", "dir/cat.jpg")
    assert stat is not None and stat.size == 6 and stat.etag == info.etag
    assert stat.cache_control == "max-age=60"
    got, content = await read_all(storage, "u-a", "dir/cat.jpg")
    assert content == b"abcdef" and got.content_type == "image/jpeg"
    async with await storage.open("u-a", "dir/cat.jpg") as media:
        assert b"".join([c async for c in media.chunks(2, 5)]) == b"cde"
        assert b"".join([c async for c in media.chunks(4)]) == b"ef"
    entries = await storage.list("u-a", after=None, limit=10)
    assert [(e.name, e.size) for e in entries] == [("dir/cat.jpg", 6)]
    assert await storage.delete("u-a", "dir/cat.jpg")
    assert not await storage.delete("u-a", "dir/cat.jpg")
    assert await storage.stat("u-a", "dir/cat.jpg") is None
    with pytest.raises(MediaNotFound):
        await storage.open("u-a", "dir/cat.jpg")


async def test_users_never_see_each_others_files(storage: LocalMediaStorage) -> None:
    await put_bytes(storage, "u-a", "same.txt", b"a's", "text/plain", LIMIT)
    await put_bytes(storage, "u-b", "same.txt", b"b's", "text/plain", LIMIT)
    assert (await read_all(storage, "u-a", "same.txt"))[1] == b"a's"
    assert (await read_all(storage, "u-b", "same.txt"))[1] == b"b's"
    assert await storage.list("u-c", after=None, limit=10) == []
    assert await storage.stat("u-c", "same.txt") is None
    with pytest.raises(ValueError, match="user id"):
        await storage.stat("../u-a", "same.txt")


async def test_a_name_and_a_longer_name_below_it_coexist(storage: LocalMediaStorage) -> None:
    await put_bytes(storage, "u-a", "a", b"1", "text/plain", LIMIT)
    await put_bytes(storage, "u-a", "a/b", b"22", "text/plain", LIMIT)
    names = [e.name for e in await storage.list("u-a", after=None, limit=10)]
    assert names == ["a", "a/b"]


async def test_listing_pages_in_name_order(storage: LocalMediaStorage) -> None:
    for name in ["c", "a", "b/x", "d", "e"]:
        await put_bytes(storage, "u-a", name, b"x", "text/plain", LIMIT)
    first = await storage.list("u-a", after=None, limit=2)
    assert [e.name for e in first] == ["a", "b/x"]
    rest = await storage.list("u-a", after="b/x", limit=10)
    assert [e.name for e in rest] == ["c", "d", "e"]


async def test_a_failed_replacement_leaves_the_old_file_and_no_litter(
    storage: LocalMediaStorage,
) -> None:
    await put_bytes(storage, "u-a", "keep.bin", b"old", "text/plain", LIMIT)
    with pytest.raises(MediaTooLarge) as too_large:
        await storage.put(
            "u-a", "keep.bin", stream(b"x" * 600, b"y" * 600), content_type="a/b", limit=1000
        )
    assert too_large.value.limit == 1000 and too_large.value.size == 1200
    with pytest.raises(EmptyMedia):
        await storage.put("u-a", "keep.bin", stream(), content_type="a/b", limit=1000)

    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await storage.put("u-a", "keep.bin", broken(), content_type="a/b", limit=1000)
    info, content = await read_all(storage, "u-a", "keep.bin")
    assert content == b"old" and info.content_type == "text/plain"
    assert list((storage.root / "tmp").iterdir()) == []


async def test_replacing_changes_bytes_type_and_etag(storage: LocalMediaStorage) -> None:
    first = await put_bytes(storage, "u-a", "f", b"one", "text/plain", LIMIT)
    second = await put_bytes(storage, "u-a", "f", b"second", "image/png", LIMIT)
    assert first.etag != second.etag
    info, content = await read_all(storage, "u-a", "f")
    assert (content, info.content_type, info.size) == (b"second", "image/png", 6)


async def test_an_open_file_keeps_its_bytes_while_replaced(storage: LocalMediaStorage) -> None:
    await put_bytes(storage, "u-a", "f", b"original", "text/plain", LIMIT)
    async with await storage.open("u-a", "f") as media:
        await put_bytes(storage, "u-a", "f", b"new", "text/plain", LIMIT)
        assert b"".join([c async for c in media.chunks()]) == b"original"
    assert (await read_all(storage, "u-a", "f"))[1] == b"new"


async def test_names_are_checked_and_files_stay_in_the_users_directory(
    storage: LocalMediaStorage,
) -> None:
    for name in ["../escape", "/abs", "a\\..\\b", "%2e%2e/x"]:
        with pytest.raises(InvalidName):
            await put_bytes(storage, "u-a", name, b"x", "text/plain", LIMIT)
    await put_bytes(storage, "u-a", "deep/er/name.txt", b"x", "text/plain", LIMIT)
    files = [p for p in storage.root.rglob("*") if p.is_file()]
    assert [p.relative_to(storage.root).parts for p in files] == [
        ("users", "u-a", "deep%2Fer%2Fname.txt")
    ]


async def test_stale_uploads_are_swept(tmp_path: Path) -> None:
    tmp = tmp_path / "media" / "tmp"
    tmp.mkdir(parents=True)
    stale, fresh = tmp / "old.part", tmp / "new.part"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(stale, (0, 0))
    storage = LocalMediaStorage(tmp_path / "media")
    await put_bytes(storage, "u-a", "f", b"x", "text/plain", LIMIT)
    assert not stale.exists() and fresh.exists()


async def test_large_files_stream_in_chunks(storage: LocalMediaStorage) -> None:
    chunk = bytes(range(256)) * 1024  # 256 KiB
    info = await storage.put(
        "u-a", "big", stream(*[chunk] * 12), content_type="video/mp4", limit=4 * 1024 * 1024
    )
    assert info.size == 12 * len(chunk)
    async with await storage.open("u-a", "big") as media:
        sizes = [len(c) async for c in media.chunks()]
        assert sum(sizes) == info.size and max(sizes) <= 64 * 1024
        tail = b"".join([c async for c in media.chunks(info.size - 3)])
    assert tail == chunk[-3:]
