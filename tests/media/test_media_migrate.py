"""``trebuchet media migrate``: a filesystem store copied into a real S3 endpoint on
loopback (moto's server), then served by the API from the bucket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests import s3
from tests.conftest import Credentials, Harness, harnessed, make_settings
from tests.media.conftest import JPEG, PNG, media_path, stored_files
from trebuchet.cli.main import main
from trebuchet.server.media.s3 import PART_SIZE, S3MediaStorage, object_name
from trebuchet.server.media.storage import HEADER_SIZE, LocalMediaStorage, put_bytes

MiB = 1024 * 1024
# Larger than one part: the copy streams through as a multipart upload.
MOVIE = bytes(range(251)) * ((PART_SIZE + 300_000) // 251)


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    return tmp_path / "old-media"


@pytest.fixture
async def harness(
    sqlite_url: str, s3_endpoint: str, bucket: str, tmp_path: Path
) -> AsyncIterator[Harness]:
    """The deployment after the switch: media_backend = s3."""
    settings = make_settings(
        sqlite_url,
        media_dir=str(tmp_path / "new-media-dir"),
        media_backend="s3",
        media_s3_bucket=bucket,
        media_s3_endpoint_url=s3_endpoint,
        media_s3_prefix="live/",
    )
    async with harnessed(settings) as h:
        yield h


def env_for(harness: Harness) -> dict[str, str]:
    s = harness.settings
    return {
        "TREBUCHET_MEDIA_S3_BUCKET": s.media_s3_bucket,
        "TREBUCHET_MEDIA_S3_ENDPOINT_URL": s.media_s3_endpoint_url,
        "TREBUCHET_MEDIA_S3_PREFIX": s.media_s3_prefix,
    }


async def run_migrate(harness: Harness, media_dir: Path, *extra: str) -> tuple[Result, Any]:
    """The command as an operator runs it (in a thread: it runs its own event loop)."""
    args = ["media", "migrate", "--from-dir", str(media_dir), "--json", *extra]
    result = await asyncio.to_thread(CliRunner().invoke, main, args, env=env_for(harness))
    lines = result.output.strip().splitlines()
    return result, json.loads(lines[-1]) if lines else None


async def old_files(media_dir: Path, alice: Credentials, bob: Credentials) -> dict[str, Any]:
    """Files written before the switch, by the filesystem storage itself."""
    local = LocalMediaStorage(media_dir)
    made = {}
    made["movie"] = await local.put(
        alice.user_id, "clips/été.mp4", _one(MOVIE), content_type="video/mp4",
        limit=64 * MiB, cache_control="max-age=600",
    )  # fmt: skip
    made["cat"] = await put_bytes(local, alice.user_id, "cat.jpg", JPEG, "image/jpeg", MiB)
    made["logo"] = await put_bytes(local, bob.user_id, "logo.png", PNG, "image/png", MiB)
    return made


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def snapshot(media_dir: Path) -> dict[str, bytes]:
    return {name: (media_dir / name).read_bytes() for name in stored_files(media_dir)}


async def test_migrated_media_is_served_from_the_bucket_as_it_was(
    harness: Harness, media_dir: Path, s3_endpoint: str, bucket: str
) -> None:
    alice, bob = await harness.create_user(), await harness.create_user()
    made = await old_files(media_dir, alice, bob)
    http = harness.http(alice)
    assert (await http.get(media_path(alice, "cat.jpg"))).status_code == 404  # before
    before = snapshot(media_dir)

    result, report = await run_migrate(harness, media_dir)
    assert result.exit_code == 0, result.output
    assert report == {
        "dryRun": False, "copied": 3, "bytes": len(MOVIE) + len(JPEG) + len(PNG),
        "skipped": 0, "skippedWhy": {"present": 0, "deleted": 0, "different": 0, "gone": 0},
        "failed": 0, "failures": [],
    }  # fmt: skip
    assert sorted(s3.keys(s3_endpoint, bucket)) == sorted(
        [f"live/users/{alice.user_id}/{object_name(n)}" for n in ["cat.jpg", "clips/été.mp4"]]
        + [f"live/users/{bob.user_id}/{object_name('logo.png')}"]
    )
    assert {k: v for k, v in snapshot(media_dir).items() if "migrated" not in k} == before

    movie = await http.get(media_path(alice, "clips/été.mp4"))
    assert movie.status_code == 200 and movie.content == MOVIE
    assert movie.headers["content-type"] == "video/mp4"
    assert movie.headers["cache-control"] == "max-age=600"
    ranged = await http.get(media_path(alice, "clips/été.mp4"), headers={"Range": "bytes=5-9"})
    assert ranged.status_code == 206 and ranged.content == MOVIE[5:10]
    cat = await http.get(media_path(alice, "cat.jpg"))
    assert (cat.content, cat.headers["content-type"]) == (JPEG, "image/jpeg")
    logo = await harness.http(bob).get(media_path(bob, "logo.png"))
    assert (logo.content, logo.headers["content-type"]) == (PNG, "image/png")
    listed = (await http.get(media_path(alice))).json()
    assert [(i["mediaName"], i["contentLength"]) for i in listed] == [
        ("cat.jpg", len(JPEG)), ("clips/été.mp4", len(MOVIE)),
    ]  # fmt: skip
    # The creation time is the file's own, not the copy's.
    bucket_store = S3MediaStorage(bucket, endpoint_url=s3_endpoint, prefix="live/")
    try:
        for name, kept in [("clips/été.mp4", made["movie"]), ("cat.jpg", made["cat"])]:
            info = await bucket_store.stat(alice.user_id, name)
            assert info is not None and info.created_us == kept.created_us
    finally:
        await bucket_store.aclose()

    # A second run finds everything there and copies nothing.
    result, again = await run_migrate(harness, media_dir)
    assert result.exit_code == 0, result.output
    assert (again["copied"], again["skippedWhy"]["present"], again["failed"]) == (0, 3, 0)


async def test_an_interrupted_run_is_finished_by_the_next(
    harness: Harness, media_dir: Path, s3_endpoint: str, bucket: str
) -> None:
    alice, bob = await harness.create_user(), await harness.create_user()
    await old_files(media_dir, alice, bob)
    # One file cannot be read this time (its header damaged), the others can.
    broken = media_dir / "users" / bob.user_id / "logo.png"
    header = broken.read_bytes()[:HEADER_SIZE]
    with broken.open("r+b") as handle:
        handle.write(b"garbage")

    result, report = await run_migrate(harness, media_dir)
    assert result.exit_code == 1
    assert (report["copied"], report["failed"]) == (2, 1)
    assert report["failures"] == [
        {
            "userId": bob.user_id,
            "name": "logo.png",
            "reason": "OSError: not a media file (bad header)",
        }
    ]
    assert (await harness.http(bob).get(media_path(bob, "logo.png"))).status_code == 404

    with broken.open("r+b") as handle:
        handle.write(header)
    result, report = await run_migrate(harness, media_dir)
    assert result.exit_code == 0, result.output
    assert (report["copied"], report["skippedWhy"]["present"], report["failed"]) == (1, 2, 0)
    logo = await harness.http(bob).get(media_path(bob, "logo.png"))
    assert (logo.status_code, logo.content) == (200, PNG)


async def test_files_changed_in_the_bucket_after_the_switch_are_left_alone(
    harness: Harness, media_dir: Path
) -> None:
    alice, bob = await harness.create_user(), await harness.create_user()
    await old_files(media_dir, alice, bob)
    result, report = await run_migrate(harness, media_dir)
    assert report["copied"] == 3
    # Before the switch, on disk: a file replaced, another added.
    local = LocalMediaStorage(media_dir)
    await put_bytes(local, bob.user_id, "logo.png", b"new logo", "image/png", MiB)
    await put_bytes(local, bob.user_id, "late.txt", b"late", "text/plain", MiB)
    # After the switch, in the bucket: a file deleted, another replaced through the API.
    http = harness.http(alice)
    assert (await http.delete(media_path(alice, "cat.jpg"))).status_code == 200
    put = await http.put(media_path(alice, "clips/été.mp4"), content=b"new",
                         headers={"Content-Type": "text/plain"})  # fmt: skip
    assert put.status_code == 200

    result, report = await run_migrate(harness, media_dir)
    assert result.exit_code == 0, result.output
    assert report["copied"] == 2
    assert report["skippedWhy"] == {"present": 0, "deleted": 1, "different": 1, "gone": 0}
    assert (await http.get(media_path(alice, "cat.jpg"))).status_code == 404
    assert (await http.get(media_path(alice, "clips/été.mp4"))).content == b"new"
    bob_http = harness.http(bob)
    assert (await bob_http.get(media_path(bob, "logo.png"))).content == b"new logo"
    assert (await bob_http.get(media_path(bob, "late.txt"))).content == b"late"
    result, report = await run_migrate(harness, media_dir)
    assert (report["copied"], report["skipped"]) == (0, 4)


async def test_a_dry_run_counts_and_changes_nothing(
    harness: Harness, media_dir: Path, s3_endpoint: str, bucket: str
) -> None:
    alice, bob = await harness.create_user(), await harness.create_user()
    await old_files(media_dir, alice, bob)
    before = snapshot(media_dir)
    result, report = await run_migrate(harness, media_dir, "--dry-run")
    assert result.exit_code == 0, result.output
    assert (report["dryRun"], report["copied"], report["failed"]) == (True, 3, 0)
    assert s3.keys(s3_endpoint, bucket) == [] and snapshot(media_dir) == before


async def test_the_summary_and_the_refusals(harness: Harness, media_dir: Path) -> None:
    alice, bob = await harness.create_user(), await harness.create_user()
    await old_files(media_dir, alice, bob)
    args = ["media", "migrate", "--from-dir", str(media_dir)]
    result = await asyncio.to_thread(CliRunner().invoke, main, args, env=env_for(harness))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].split()[:2] == ["copied", "3"]
    no_bucket = {**env_for(harness), "TREBUCHET_MEDIA_S3_BUCKET": ""}
    result = await asyncio.to_thread(CliRunner().invoke, main, args, env=no_bucket)
    assert result.exit_code == 2 and "media_s3_bucket" in result.output
    missing = ["media", "migrate", "--from-dir", str(media_dir / "nope")]
    result = await asyncio.to_thread(CliRunner().invoke, main, missing, env=env_for(harness))
    assert result.exit_code == 1 and "no media store at" in result.output
    wrong = {**env_for(harness), "TREBUCHET_MEDIA_S3_BUCKET": "no-such-bucket"}
    result = await asyncio.to_thread(CliRunner().invoke, main, args, env=wrong)
    assert result.exit_code == 1 and "S3 bucket 'no-such-bucket'" in result.output
