"""The media storage contract, run against every backend: the local filesystem, and an
S3 bucket on a real S3 HTTP endpoint on loopback (moto's server), plain and versioned."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import s3
from trebuchet.server.media.names import InvalidName
from trebuchet.server.media.s3 import S3MediaStorage, object_name
from trebuchet.server.media.storage import (
    EmptyMedia,
    LocalMediaStorage,
    MediaChanged,
    MediaNotFound,
    MediaStorage,
    MediaTooLarge,
    put_bytes,
    read_all,
)

LIMIT = 1024 * 1024
BACKENDS = ["filesystem", "s3", "s3-versioned"]


@dataclass
class Backend:
    """A storage under test, and how to look behind it."""

    storage: MediaStorage
    # Where each stored file is, relative to the storage's root or the bucket's prefix.
    layout: Callable[[], list[str]]
    # Uploads begun and never finished (temporary files, multipart uploads).
    litter: Callable[[], list[str]]
    # Does an open file keep its bytes when replaced (else it may raise MediaChanged)?
    snapshots: bool = True


def _local(root: Path) -> Backend:
    def layout() -> list[str]:
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    def litter() -> list[str]:
        tmp = root / "tmp"
        return [p.name for p in tmp.iterdir()] if tmp.exists() else []

    return Backend(LocalMediaStorage(root), layout, litter)


def _s3(endpoint: str, *, versioned: bool) -> Backend:
    bucket = s3.new_bucket(endpoint, versioned=versioned)
    prefix = "deployment/"
    storage = S3MediaStorage(bucket, endpoint_url=endpoint, prefix=prefix)

    def layout() -> list[str]:
        found = s3.keys(endpoint, bucket)
        assert all(key.startswith(prefix) for key in found)
        return [key.removeprefix(prefix) for key in found]

    return Backend(storage, layout, lambda: s3.uploads_in_progress(endpoint, bucket), versioned)


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "filesystem":
        made = _local(tmp_path / "media")
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        request.getfixturevalue("aws_env")
        made = _s3(endpoint, versioned=request.param == "s3-versioned")
    try:
        yield made
    finally:
        await made.storage.aclose()


@pytest.fixture
def storage(backend: Backend) -> MediaStorage:
    return backend.storage


async def stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_a_creation_time_from_elsewhere_is_kept(storage: MediaStorage) -> None:
    """A file moved from another storage keeps its own creation time."""
    when = 1_700_000_000_123_456
    info = await storage.put("u-a", "old", stream(b"x"), content_type="text/plain",
                             limit=LIMIT, created_us=when)  # fmt: skip
    assert info.created_us == when
    stat = await storage.stat("u-a", "old")
    assert stat is not None and stat.created_us == when
    async with await storage.open("u-a", "old") as media:
        assert media.info.created_us == when and media.info.etag == stat.etag


async def test_put_open_stat_list_delete(storage: MediaStorage) -> None:
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


async def test_users_never_see_each_others_files(storage: MediaStorage) -> None:
    await put_bytes(storage, "u-a", "same.txt", b"a's", "text/plain", LIMIT)
    await put_bytes(storage, "u-b", "same.txt", b"b's", "text/plain", LIMIT)
    assert (await read_all(storage, "u-a", "same.txt"))[1] == b"a's"
    assert (await read_all(storage, "u-b", "same.txt"))[1] == b"b's"
    assert await storage.list("u-c", after=None, limit=10) == []
    assert await storage.stat("u-c", "same.txt") is None
    with pytest.raises(ValueError, match="user id"):
        await storage.stat("../u-a", "same.txt")


async def test_a_name_and_a_longer_name_below_it_coexist(storage: MediaStorage) -> None:
    await put_bytes(storage, "u-a", "a", b"1", "text/plain", LIMIT)
    await put_bytes(storage, "u-a", "a/b", b"22", "text/plain", LIMIT)
    names = [e.name for e in await storage.list("u-a", after=None, limit=10)]
    assert names == ["a", "a/b"]


async def test_listing_pages_in_name_order(storage: MediaStorage) -> None:
    for name in ["c", "a", "b/x", "d", "e"]:
        await put_bytes(storage, "u-a", name, b"x", "text/plain", LIMIT)
    first = await storage.list("u-a", after=None, limit=2)
    assert [e.name for e in first] == ["a", "b/x"]
    rest = await storage.list("u-a", after="b/x", limit=10)
    assert [e.name for e in rest] == ["c", "d", "e"]


async def test_a_failed_replacement_leaves_the_old_file_and_no_litter(
    backend: Backend, storage: MediaStorage
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
    assert backend.litter() == []


async def test_replacing_changes_bytes_type_and_etag(storage: MediaStorage) -> None:
    first = await put_bytes(storage, "u-a", "f", b"one", "text/plain", LIMIT)
    second = await put_bytes(storage, "u-a", "f", b"second", "image/png", LIMIT)
    assert first.etag != second.etag
    info, content = await read_all(storage, "u-a", "f")
    assert (content, info.content_type, info.size) == (b"second", "image/png", 6)


async def test_an_open_file_never_mixes_old_and_new_bytes(
    backend: Backend, storage: MediaStorage
) -> None:
    """It keeps its bytes while replaced (a filesystem, a versioned bucket) or refuses to
    read on (a plain bucket): never a mix, never the new bytes under the old metadata."""
    await put_bytes(storage, "u-a", "f", b"original", "text/plain", LIMIT)
    async with await storage.open("u-a", "f") as media:
        assert b"".join([c async for c in media.chunks(0, 4)]) == b"orig"
        await put_bytes(storage, "u-a", "f", b"new", "text/plain", LIMIT)
        if backend.snapshots:
            assert b"".join([c async for c in media.chunks()]) == b"original"
        else:
            with pytest.raises(MediaChanged):
                b"".join([c async for c in media.chunks()])
    assert (await read_all(storage, "u-a", "f"))[1] == b"new"


async def test_names_are_checked_and_files_stay_in_the_users_directory(
    backend: Backend, storage: MediaStorage
) -> None:
    for name in ["../escape", "/abs", "a\\..\\b", "%2e%2e/x"]:
        with pytest.raises(InvalidName):
            await put_bytes(storage, "u-a", name, b"x", "text/plain", LIMIT)
    await put_bytes(storage, "u-a", "deep/er/name.txt", b"x", "text/plain", LIMIT)
    # One file directly in the user's own place, its name's "/" encoded away.
    encoded = (
        object_name("deep/er/name.txt")
        if isinstance(storage, S3MediaStorage)
        else "deep%2Fer%2Fname.txt"
    )
    assert backend.layout() == [f"users/u-a/{encoded}"]


async def test_listing_follows_name_order_not_the_encodings(storage: MediaStorage) -> None:
    """Keyset pages in name order whatever the characters ("/" after "-", letters after
    digits, non-ASCII last), across pages."""
    names = ["a-", "a/b", "a.c", "a0", "aZ", "a_", "ab", "a~", "é", "日本/x", "\U0001f600"]
    for name in reversed(names):
        await put_bytes(storage, "u-a", name, b"x", "text/plain", LIMIT)
    seen: list[str] = []
    after: str | None = None
    while page := await storage.list("u-a", after=after, limit=3):
        seen += [entry.name for entry in page]
        after = page[-1].name
    assert seen == sorted(names)
    assert [e.name for e in await storage.list("u-a", after="a0", limit=2)] == ["aZ", "a_"]
    assert [e.name for e in await storage.list("u-a", after="a", limit=1)] == ["a-"]


# -- the filesystem's own --------------------------------------------------------------


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


async def test_large_files_stream_in_chunks(storage: MediaStorage) -> None:
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
