"""What only the S3 storage has: multipart uploads, object metadata, keys under a prefix,
the settings that pick it, and ``trebuchet doctor``'s look at the bucket.  Against a real
S3 HTTP endpoint on loopback (moto's server); the contract itself is test_storage.py."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from click.testing import CliRunner

from tests import s3
from trebuchet.cli.main import main
from trebuchet.server.config import Settings, load_settings
from trebuchet.server.media import s3 as s3_module
from trebuchet.server.media.s3 import (
    PART_SIZE,
    MediaStorageUnavailable,
    S3MediaStorage,
    object_name,
)
from trebuchet.server.media.storage import (
    LocalMediaStorage,
    MediaTooLarge,
    media_storage,
    put_bytes,
    read_all,
)

MiB = 1024 * 1024
CHUNK = bytes(range(256)) * 1024  # 256 KiB


@pytest.fixture
async def storage(s3_endpoint: str, bucket: str) -> AsyncIterator[S3MediaStorage]:
    made = S3MediaStorage(bucket, endpoint_url=s3_endpoint, prefix="p/")
    try:
        yield made
    finally:
        await made.aclose()


async def stream(count: int, *, fail_after: int | None = None) -> AsyncIterator[bytes]:
    for index in range(count):
        if fail_after is not None and index == fail_after:
            raise ConnectionResetError("client went away")
        yield CHUNK


async def test_a_large_upload_goes_in_parts_and_reads_back_in_ranges(
    storage: S3MediaStorage, s3_endpoint: str, bucket: str
) -> None:
    count = (2 * PART_SIZE) // len(CHUNK) + 3  # two whole parts and a short last one
    info = await storage.put("u-a", "movie.mp4", stream(count), content_type="video/mp4",
                             limit=64 * MiB)  # fmt: skip
    assert info.size == count * len(CHUNK)
    head = s3.admin_client(s3_endpoint).head_object(
        Bucket=bucket, Key="p/users/u-a/" + object_name("movie.mp4")
    )
    assert head["ETag"].strip('"').endswith("-3")  # S3's mark of a three-part upload
    assert s3.uploads_in_progress(s3_endpoint, bucket) == []
    async with await storage.open("u-a", "movie.mp4") as media:
        # A range across the first part's end, read as S3 ranges in bounded chunks.
        start, stop = PART_SIZE - 10, PART_SIZE + 70_000
        sizes = [len(c) async for c in media.chunks(start, stop)]
        got = b"".join([c async for c in media.chunks(start, stop)])
    whole = CHUNK * count
    assert got == whole[start:stop] and sum(sizes) == stop - start and max(sizes) <= 64 * 1024


async def test_a_failed_multipart_upload_is_aborted_and_the_old_object_stays(
    storage: S3MediaStorage, s3_endpoint: str, bucket: str
) -> None:
    await put_bytes(storage, "u-a", "clip", b"old", "text/plain", MiB)
    parts = PART_SIZE // len(CHUNK)
    with pytest.raises(MediaTooLarge):
        await storage.put("u-a", "clip", stream(parts * 2), content_type="video/mp4",
                          limit=PART_SIZE + len(CHUNK))  # fmt: skip
    with pytest.raises(ConnectionResetError):
        await storage.put("u-a", "clip", stream(parts * 2, fail_after=parts + 2),
                          content_type="video/mp4", limit=64 * MiB)  # fmt: skip
    assert s3.uploads_in_progress(s3_endpoint, bucket) == []
    info, content = await read_all(storage, "u-a", "clip")
    assert (content, info.content_type) == (b"old", "text/plain")


async def test_metadata_is_kept_as_object_metadata(
    storage: S3MediaStorage, s3_endpoint: str, bucket: str
) -> None:
    name = "albums/été 2026/cat.jpg"
    info = await storage.put("u-a", name, stream(1), content_type="image/jpeg", limit=MiB,
                             cache_control="max-age=60")  # fmt: skip
    head = s3.admin_client(s3_endpoint).head_object(
        Bucket=bucket, Key="p/users/u-a/" + object_name(name)
    )
    assert head["ContentType"] == "image/jpeg" and head["CacheControl"] == "max-age=60"
    assert unquote(head["Metadata"]["name"]) == name
    assert int(head["Metadata"]["created"]) == info.created_us
    stat = await storage.stat("u-a", name)
    assert stat == info


async def test_only_its_own_keys_are_listed(
    storage: S3MediaStorage, s3_endpoint: str, bucket: str
) -> None:
    admin = s3.admin_client(s3_endpoint)
    for key in ["p/users/u-a/not-hex", "users/u-a/" + object_name("outside"), "p/other"]:
        admin.put_object(Bucket=bucket, Key=key, Body=b"x")
    await put_bytes(storage, "u-a", "mine", b"x", "text/plain", MiB)
    assert [e.name for e in await storage.list("u-a", after=None, limit=10)] == ["mine"]
    assert await storage.list("u-b", after=None, limit=10) == []


async def test_pages_larger_than_one_s3_listing(
    storage: S3MediaStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API asks for up to max_page_size + 1 names; S3 answers 1000 at most a call, so
    a page is several calls (three names a call here)."""
    for index in range(8):
        await put_bytes(storage, "u-a", f"n{index}", b"x", "text/plain", MiB)
    monkeypatch.setattr(s3_module, "LIST_PAGE", 3)
    names = [e.name for e in await storage.list("u-a", after="n0", limit=5)]
    assert names == ["n1", "n2", "n3", "n4", "n5"]
    assert [e.name for e in await storage.list("u-a", after="n5", limit=5)] == ["n6", "n7"]


async def test_an_endpoint_that_does_not_answer_is_one_clear_error(aws_env: None) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    storage = S3MediaStorage("media", endpoint_url=f"http://127.0.0.1:{port}", attempts=1)
    try:
        with pytest.raises(MediaStorageUnavailable, match="S3 bucket 'media'"):
            await storage.stat("u-a", "f")
    finally:
        await storage.aclose()


# -- settings, the factory, doctor ----------------------------------------------------


def test_the_settings_pick_the_storage(tmp_path: Path) -> None:
    local = media_storage(Settings(media_dir=str(tmp_path)))
    assert isinstance(local, LocalMediaStorage) and local.root == tmp_path
    env = {
        "TREBUCHET_MEDIA_BACKEND": "s3",
        "TREBUCHET_MEDIA_S3_BUCKET": "shared-media",
        "TREBUCHET_MEDIA_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "TREBUCHET_MEDIA_S3_REGION": "eu-west-1",
        "TREBUCHET_MEDIA_S3_PREFIX": "trebuchet/",
    }
    remote = media_storage(load_settings(environ=env))
    assert isinstance(remote, S3MediaStorage)
    assert (remote.bucket, remote.endpoint_url, remote.region, remote.prefix) == (
        "shared-media", "http://127.0.0.1:9000", "eu-west-1", "trebuchet/",
    )  # fmt: skip
    aws = media_storage(load_settings(environ={**env, "TREBUCHET_MEDIA_S3_ENDPOINT_URL": ""}))
    assert isinstance(aws, S3MediaStorage) and aws.endpoint_url is None


def test_an_s3_backend_without_a_bucket_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="media_backend = s3 needs media_s3_bucket"):
        load_settings(environ={"TREBUCHET_MEDIA_BACKEND": "s3"})
    with pytest.raises(ValueError, match=r"Expected one of filesystem, s3, got 'S3 '"):
        load_settings(environ={"TREBUCHET_MEDIA_BACKEND": "S3 "})
    env = {"TREBUCHET_DB": f"sqlite:///{tmp_path / 't.db'}", "TREBUCHET_MEDIA_BACKEND": "s3"}
    result = CliRunner().invoke(main, ["serve"], env=env)
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert errors == [
        "Error: setting media_backend = s3 needs media_s3_bucket (the bucket's name)"
    ], result.output
    assert not (tmp_path / "t.db").exists()


def _doctor(env: dict[str, str]) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["doctor", "--timeout", "5"], env=env)
    return result.exit_code, result.output.splitlines()


def test_doctor_checks_the_bucket(
    sqlite_url: str, s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    env = {
        "TREBUCHET_DB": sqlite_url,
        "TREBUCHET_MEDIA_BACKEND": "s3",
        "TREBUCHET_MEDIA_S3_BUCKET": bucket,
        "TREBUCHET_MEDIA_S3_ENDPOINT_URL": s3_endpoint,
        "TREBUCHET_MEDIA_S3_PREFIX": "trebuchet/",
    }
    assert CliRunner().invoke(main, ["migrate"], env=env).exit_code == 0
    code, lines = _doctor(env)
    assert code == 0, lines
    assert f"ok    media: s3://{bucket}/trebuchet/ at {s3_endpoint}" in lines
    code, lines = _doctor({**env, "TREBUCHET_MEDIA_S3_BUCKET": "no-such-bucket"})
    assert code == 1
    [failed] = [line for line in lines if line.startswith("FAIL")]
    assert failed.startswith("FAIL  media: S3 bucket 'no-such-bucket'") and "404" in failed


async def test_an_empty_object_put_there_by_hand_still_opens(
    storage: S3MediaStorage, s3_endpoint: str, bucket: str
) -> None:
    """A ranged GET of an empty object is refused (416): the open asks for its head."""
    key = "p/users/u-a/" + object_name("empty")
    s3.admin_client(s3_endpoint).put_object(Bucket=bucket, Key=key, Body=b"")
    async with await storage.open("u-a", "empty") as media:
        assert media.info.size == 0 and [c async for c in media.chunks()] == []
