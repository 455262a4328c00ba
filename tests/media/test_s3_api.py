"""The media endpoints and an MMS with the S3 backend: the real app, its settings saying
``media_backend = "s3"``, and a real S3 HTTP endpoint on loopback (moto's server)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests import s3
from tests.conftest import Harness, harnessed, make_settings
from tests.engine.conftest import Bench, ManualClock
from tests.media.conftest import JPEG, PNG, MediaServer, media_path, upload
from trebuchet.server.engine import Engine
from trebuchet.server.media.names import parse_media_url
from trebuchet.server.media.s3 import PART_SIZE, object_name

ALICE = "+15550001111"
BOB = "+15550003333"


@pytest.fixture
async def harness(
    sqlite_url: str, s3_endpoint: str, bucket: str, tmp_path: Path
) -> AsyncIterator[Harness]:
    settings = make_settings(
        sqlite_url,
        media_dir=str(tmp_path / "media"),
        media_backend="s3",
        media_s3_bucket=bucket,
        media_s3_endpoint_url=s3_endpoint,
        media_s3_prefix="api/",
    )
    async with harnessed(settings) as h:
        yield h


async def test_upload_range_list_delete_on_s3(
    harness: Harness, s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    alice = await harness.create_user([ALICE])
    http = harness.http(alice)
    # Larger than one part: the upload streams through as a multipart upload.
    movie = bytes(range(251)) * ((PART_SIZE + 300_000) // 251)
    put = await http.put(
        media_path(alice, "clips/movie.mp4"),
        content=movie,
        headers={"Content-Type": "video/mp4", "Cache-Control": "max-age=600"},
    )
    assert put.status_code == 200, put.text
    await upload(harness, alice, "cat.jpg", JPEG, "image/jpeg")
    assert sorted(s3.keys(s3_endpoint, bucket)) == sorted(
        f"api/users/{alice.user_id}/{object_name(n)}" for n in ["cat.jpg", "clips/movie.mp4"]
    )
    assert not (tmp_path / "media").exists()  # nothing on the local disk

    start, stop = PART_SIZE - 5, PART_SIZE + 1000
    ranged = await http.get(
        media_path(alice, "clips/movie.mp4"), headers={"Range": f"bytes={start}-{stop - 1}"}
    )
    assert ranged.status_code == 206 and ranged.content == movie[start:stop]
    assert ranged.headers["content-range"] == f"bytes {start}-{stop - 1}/{len(movie)}"
    assert ranged.headers["content-type"] == "video/mp4"
    assert ranged.headers["cache-control"] == "max-age=600"
    whole = await http.get(media_path(alice, "clips/movie.mp4"))
    assert whole.status_code == 200 and whole.content == movie
    again = await http.get(
        media_path(alice, "clips/movie.mp4"),
        headers={"Range": "bytes=-4", "If-Range": whole.headers["etag"]},
    )
    assert again.status_code == 206 and again.content == movie[-4:]

    first = await http.get(media_path(alice) + "?size=1")
    assert [item["mediaName"] for item in first.json()] == ["cat.jpg"]
    follow = first.headers["link"].split(";")[0].strip("<>")
    rest = await http.get(follow)
    assert rest.json() == [
        {
            "mediaName": "clips/movie.mp4",
            "contentLength": len(movie),
            "content": f"http://testserver/v1/users/{alice.user_id}/media/clips/movie.mp4",
        }
    ]
    assert "link" not in rest.headers

    other = await harness.create_user()
    assert (await harness.http(other).get(media_path(other, "cat.jpg"))).status_code == 404
    assert (await http.delete(media_path(alice, "clips/movie.mp4"))).status_code == 200
    assert (await http.get(media_path(alice, "clips/movie.mp4"))).status_code == 404
    assert (await http.delete(media_path(alice, "clips/movie.mp4"))).status_code == 404
    assert [item["mediaName"] for item in (await http.get(media_path(alice))).json()] == ["cat.jpg"]
    assert s3.uploads_in_progress(s3_endpoint, bucket) == []


async def test_mms_with_own_media_on_s3_arrives_with_copied_media(
    harness: Harness, media_server: MediaServer, s3_endpoint: str, bucket: str
) -> None:
    clock = ManualClock()
    engine = Engine(harness.store, harness.settings, clock=clock, draw=lambda: 0.0)
    bench = Bench(harness, engine, clock)
    try:
        alice = await bench.user([ALICE])
        bob = await bench.user([BOB])
        await bench.application(
            bob, [BOB], incomingMessageUrl=media_server.status("/bob-inbox", 200)
        )
        await upload(harness, alice, "mine/logo.png", PNG, "image/png")
        own = f"http://testserver{media_path(alice, 'mine/logo.png')}"
        message_id = await bench.send(
            alice, **{"from": ALICE}, to=BOB, text="look", media=[own],
            callbackUrl=media_server.status("/alice-events", 200),
        )  # fmt: skip
        await bench.run()
        sent = await bench.message(alice, message_id)
        assert (sent["state"], sent["media"]) == ("sent", [own])

        http = bench.harness.http(bob)
        [received] = (await http.get(harness.messages_path(bob) + "?direction=in")).json()
        [ref] = [parse_media_url(url) for url in received["media"]]
        assert ref is not None and ref.user_id == bob.user_id
        assert ref.name == f"logo-{received['id']}.png"
        got = await http.get(media_path(bob, ref.name))
        assert (got.content, got.headers["content-type"]) == (PNG, "image/png")
        assert f"api/users/{bob.user_id}/{object_name(ref.name)}" in s3.keys(s3_endpoint, bucket)
    finally:
        await engine.close()


async def test_a_bucket_that_does_not_answer_is_503(
    sqlite_url: str, aws_env: None, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    settings = make_settings(
        sqlite_url,
        media_backend="s3",
        media_s3_bucket="media",
        media_s3_endpoint_url=f"http://127.0.0.1:{port}",
    )
    async with harnessed(settings) as harness:
        alice = await harness.create_user()
        http = harness.http(alice)
        # One request: each waits out the client's retries (a few seconds).
        response = await http.put(media_path(alice, "cat.jpg"), content=JPEG)
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        body = response.json()
        assert (body["category"], body["code"]) == ("unavailable", "service-unavailable")
        assert "media storage" in body["message"] and str(port) not in body["message"]


async def test_a_download_is_one_request_to_the_bucket(harness: Harness) -> None:
    """The open's GET carries the metadata and the bytes: no HEAD before it.  Counted
    with the S3 client's own hook on every request it sends (retries included)."""
    alice = await harness.create_user([ALICE])
    http = harness.http(alice)
    movie = bytes(range(251)) * ((PART_SIZE + 300_000) // 251)
    put = await http.put(media_path(alice, "movie.mp4"), content=movie,
                         headers={"Content-Type": "video/mp4"})  # fmt: skip
    assert put.status_code == 200
    client = await harness.app.state.media.client()
    sent: list[tuple[str, str | None]] = []

    def count(request: Any, **_: Any) -> None:
        value = request.headers.get("Range")
        sent.append((request.method, value.decode() if isinstance(value, bytes) else value))

    client.meta.events.register("before-send.s3", count)
    try:
        whole = await http.get(media_path(alice, "movie.mp4"))
        assert whole.status_code == 200 and whole.content == movie
        assert whole.headers["content-type"] == "video/mp4"
        assert sent == [("GET", "bytes=0-")]
        sent.clear()
        # A range from the start is read from the same answer...
        head = await http.get(media_path(alice, "movie.mp4"), headers={"Range": "bytes=0-99"})
        assert head.status_code == 206 and head.content == movie[:100]
        assert sent == [("GET", "bytes=0-")]
        sent.clear()
        # ...one from elsewhere is its own ranged GET, pinned to what the open saw.
        tail = await http.get(
            media_path(alice, "movie.mp4"),
            headers={"Range": "bytes=-10", "If-Range": whole.headers["etag"]},
        )
        assert tail.status_code == 206 and tail.content == movie[-10:]
        assert sent == [("GET", "bytes=0-"), ("GET", f"bytes={len(movie) - 10}-{len(movie) - 1}")]
    finally:
        client.meta.events.unregister("before-send.s3", count)
