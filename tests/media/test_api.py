"""The media endpoints over HTTP (spec §5), against each store backend."""

from __future__ import annotations

import base64
import gzip
import socket
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import Credentials, Harness
from tests.media.conftest import JPEG, media_path, stored_files, upload
from trebuchet.server.api.app import create_app


@pytest.fixture
async def alice(harness: Harness) -> Credentials:
    return await harness.create_user(["+15550001111"])


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_upload_download_list_delete(harness: Harness, alice: Credentials) -> None:
    http = harness.http(alice)
    put = await http.put(
        media_path(alice, "cat.jpg"), content=JPEG, headers={"Content-Type": "image/jpeg"}
    )
    assert put.status_code == 200
    assert put.content == b"" and "content-type" not in put.headers
    got = await http.get(media_path(alice, "cat.jpg"))
    assert got.status_code == 200 and got.content == JPEG
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["content-length"] == str(len(JPEG))
    assert got.headers["accept-ranges"] == "bytes"
    assert "content-encoding" not in got.headers
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]
    listed = await http.get(media_path(alice))
    assert listed.status_code == 200 and listed.headers["content-type"] == "application/json"
    assert listed.json() == [
        {
            "mediaName": "cat.jpg",
            "contentLength": len(JPEG),
            "content": f"http://testserver/v1/users/{alice.user_id}/media/cat.jpg",
        }
    ]
    assert "link" not in listed.headers
    deleted = await http.delete(media_path(alice, "cat.jpg"))
    assert deleted.status_code == 200 and deleted.content == b""
    assert "content-type" not in deleted.headers
    gone = await http.get(media_path(alice, "cat.jpg"))
    assert gone.status_code == 404
    assert gone.json()["code"] == "media-not-found"
    assert (await http.delete(media_path(alice, "cat.jpg"))).json()["code"] == "media-not-found"
    assert (await http.get(media_path(alice))).json() == []


async def test_content_type_defaults_to_octet_stream_and_is_returned_exactly(
    harness: Harness, alice: Credentials
) -> None:
    http = harness.http(alice)
    await upload(harness, alice, "blob", b"\x00\x01")
    assert (await http.get(media_path(alice, "blob"))).headers["content-type"] == (
        "application/octet-stream"
    )
    await upload(harness, alice, "note.txt", b"hello", "text/plain")  # no charset added
    assert (await http.get(media_path(alice, "note.txt"))).headers["content-type"] == "text/plain"


async def test_replacing_keeps_one_file(harness: Harness, alice: Credentials) -> None:
    await upload(harness, alice, "f.png", b"first", "image/png")
    await upload(harness, alice, "f.png", b"second!", "image/gif")
    got = await harness.http(alice).get(media_path(alice, "f.png"))
    assert (got.content, got.headers["content-type"]) == (b"second!", "image/gif")
    assert len((await harness.http(alice).get(media_path(alice))).json()) == 1


async def test_cache_control_is_kept(harness: Harness, alice: Credentials) -> None:
    http = harness.http(alice)
    await http.put(media_path(alice, "c"), content=b"x", headers={"Cache-Control": "max-age=300"})
    assert (await http.get(media_path(alice, "c"))).headers["cache-control"] == "max-age=300"


@pytest.mark.parametrize(
    "name", ["dir/sub/cat.jpg", "with space.jpg", "100%.jpg", "ünï☺.png", "a;b,c.txt"]
)
async def test_names_with_slashes_and_odd_characters(
    harness: Harness, alice: Credentials, name: str
) -> None:
    http = harness.http(alice)
    response = await http.put(media_path(alice, quote(name, safe="/")), content=b"data")
    assert response.status_code == 200, response.text
    listed = (await http.get(media_path(alice))).json()
    assert [item["mediaName"] for item in listed] == [name]
    content_url = listed[0]["content"]
    assert (await http.get(content_url)).content == b"data"
    assert (await http.delete(content_url)).status_code == 200


TRAVERSALS = [
    "%2E%2E/%2E%2E/etc/passwd",
    "%2e%2e",
    "a/%2E%2E/%2E%2E/b",
    "%2E/x",
    "%2Fetc%2Fpasswd",
    "/etc/passwd",
    "a//b",
    "..%5C..%5Cwin.ini",
    "a%00b",
    "%252e%252e/x",
    "x%0Ay",
]


@pytest.mark.parametrize("raw", TRAVERSALS)
@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
async def test_path_traversal_is_a_clear_400(
    harness: Harness, alice: Credentials, raw: str, method: str
) -> None:
    http = harness.http(alice)
    url = f"http://testserver/v1/users/{alice.user_id}/media/{raw}"
    response = await http.request(
        method, httpx.URL(url), content=b"evil" if method == "PUT" else None
    )
    assert response.status_code == 400, (raw, response.text)
    body = response.json()
    # NUL may already be refused for the whole URL, before any route sees it.
    assert body["code"] == "validation-error" or "NUL" in body["message"]
    assert "media name" in body["message"] or "NUL" in body["message"]
    assert stored_files(harness.settings.media_dir) == []


async def test_empty_name_is_refused(harness: Harness, alice: Credentials) -> None:
    response = await harness.http(alice).put(media_path(alice) + "/", content=b"x")
    assert response.status_code == 400
    assert response.json()["code"] == "validation-error"


async def test_empty_bodies_are_refused(harness: Harness, alice: Credentials) -> None:
    http = harness.http(alice)
    await upload(harness, alice, "kept", b"old")
    empty = await http.put(media_path(alice, "kept"), content=b"")
    assert empty.status_code == 400
    assert empty.json()["code"] == "validation-error"
    assert "empty" in empty.json()["message"]
    chunked = await http.put(media_path(alice, "kept"), content=chunks())
    assert chunked.status_code == 400 and "empty" in chunked.json()["message"]
    assert (await http.get(media_path(alice, "kept"))).content == b"old"


async def test_chunked_uploads_are_accepted(harness: Harness, alice: Credentials) -> None:
    http = harness.http(alice)
    response = await http.put(
        media_path(alice, "streamed.bin"), content=chunks(b"a" * 70_000, b"b" * 70_000)
    )
    assert response.status_code == 200, response.text
    got = await http.get(media_path(alice, "streamed.bin"))
    assert got.content == b"a" * 70_000 + b"b" * 70_000


async def _send_without_length(
    http: httpx.AsyncClient, url: str, content: bytes, **headers: str
) -> httpx.Response:
    request = http.build_request("PUT", url, content=content)
    del request.headers["Content-Length"]
    request.headers.update(headers)
    return await http.send(request)


async def test_missing_length_is_400_and_bad_length_is_404(
    harness: Harness, alice: Credentials
) -> None:
    http = harness.http(alice)
    missing = await _send_without_length(http, media_path(alice, "x"), b"abc")
    assert missing.status_code == 400
    assert missing.json()["code"] == "validation-error"
    assert missing.json()["message"] == (
        "The media size must be specified by the Content-Length header"
    )
    bad = await _send_without_length(
        http, media_path(alice, "x"), b"abc", **{"Content-Length": "3x"}
    )
    assert bad.status_code == 404
    assert bad.json()["code"] == "media-invalid-content-lenght"
    assert (await http.get(media_path(alice))).json() == []


async def test_a_body_shorter_than_its_length_is_refused(
    harness: Harness, alice: Credentials
) -> None:
    http = harness.http(alice)
    response = await _send_without_length(
        http, media_path(alice, "x"), b"abc", **{"Content-Length": "10"}
    )
    assert response.status_code == 400
    assert "Content-Length" in response.json()["message"]
    assert (await http.get(media_path(alice))).json() == []


@pytest.mark.parametrize("value", ["not a type", "image/", "image/png\x7f"])
async def test_malformed_content_types_are_refused(
    harness: Harness, alice: Credentials, value: str
) -> None:
    response = await harness.http(alice).put(
        media_path(alice, "x"), content=b"x", headers={"Content-Type": value}
    )
    assert response.status_code == 400
    assert "Content-Type" in response.json()["message"]


async def test_the_upload_limit_is_65_mb_by_declared_length(
    harness: Harness, alice: Credentials
) -> None:
    limit = 65 * 1024 * 1024
    assert harness.settings.media_max_upload_bytes == limit
    http = harness.http(alice)
    response = await _send_without_length(
        http, media_path(alice, "huge"), b"x", **{"Content-Length": str(limit + 1)}
    )
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "media-size-overflow" and body["category"] == "forbidden"
    assert body["message"] == (
        f"The media size {limit + 1} bytes is larger than the maximum {limit} bytes"
    )


@pytest.fixture
async def small_limit(harness: Harness) -> AsyncIterator[Harness]:
    settings = replace(harness.settings, media_max_upload_bytes=100_000)
    app = create_app(settings, harness.store)
    small = Harness(app=app, store=harness.store, settings=settings)
    async with app.router.lifespan_context(app):
        yield small
        for client in small._clients:
            await client.aclose()


async def test_the_limit_holds_while_streaming(small_limit: Harness) -> None:
    alice = await small_limit.create_user()
    http = small_limit.http(alice)
    await upload(small_limit, alice, "f", b"old")
    response = await http.put(media_path(alice, "f"), content=chunks(b"x" * 60_000, b"y" * 60_000))
    assert response.status_code == 403
    assert response.json()["code"] == "media-size-overflow"
    assert (await http.get(media_path(alice, "f"))).content == b"old"
    exact = await http.put(media_path(alice, "g"), content=b"z" * 100_000)
    assert exact.status_code == 200
    assert stored_files(small_limit.settings.media_dir) == [
        f"users/{alice.user_id}/f",
        f"users/{alice.user_id}/g",
    ]


async def test_downloads_are_never_content_encoded(harness: Harness, alice: Credentials) -> None:
    text = b"compressible " * 5000
    await upload(harness, alice, "big.txt", text, "text/plain")
    got = await harness.http(alice).get(
        media_path(alice, "big.txt"), headers={"Accept-Encoding": "gzip, deflate"}
    )
    assert "content-encoding" not in got.headers
    assert got.content == text and got.headers["content-length"] == str(len(text))
    assert gzip.compress(text) != got.content


async def test_head_gives_headers_only(harness: Harness, alice: Credentials) -> None:
    await upload(harness, alice, "cat.jpg", JPEG, "image/jpeg")
    head = await harness.http(alice).head(media_path(alice, "cat.jpg"))
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(JPEG))
    assert head.headers["content-type"] == "image/jpeg"


DATA = bytes(range(256)) * 4  # 1024 bytes


@pytest.mark.parametrize(
    ("header", "status", "start", "stop"),
    [
        ("bytes=0-9", 206, 0, 10),
        ("bytes=1000-", 206, 1000, 1024),
        ("bytes=-24", 206, 1000, 1024),
        ("bytes=1000-5000", 206, 1000, 1024),
        ("bytes=-5000", 206, 0, 1024),
        ("bytes=0-0", 206, 0, 1),
        ("bytes=0-1,5-6", 200, 0, 1024),  # several ranges: the whole file
        ("items=0-1", 200, 0, 1024),
        ("bytes=9-1", 200, 0, 1024),
        ("bytes=x-y", 200, 0, 1024),
    ],
)
async def test_ranges(
    harness: Harness, alice: Credentials, header: str, status: int, start: int, stop: int
) -> None:
    await upload(harness, alice, "data.bin", DATA, "application/octet-stream")
    got = await harness.http(alice).get(media_path(alice, "data.bin"), headers={"Range": header})
    assert got.status_code == status
    assert got.content == DATA[start:stop]
    assert got.headers["content-length"] == str(stop - start)
    if status == 206:
        assert got.headers["content-range"] == f"bytes {start}-{stop - 1}/1024"
        assert got.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize("header", ["bytes=1024-", "bytes=5000-6000", "bytes=-0"])
async def test_unsatisfiable_ranges_are_416(
    harness: Harness, alice: Credentials, header: str
) -> None:
    await upload(harness, alice, "data.bin", DATA)
    got = await harness.http(alice).get(media_path(alice, "data.bin"), headers={"Range": header})
    assert got.status_code == 416
    assert got.headers["content-range"] == "bytes */1024"
    assert got.json()["code"] == "media-range-not-satisfiable"


async def test_if_range_falls_back_to_the_whole_file_when_stale(
    harness: Harness, alice: Credentials
) -> None:
    http = harness.http(alice)
    await upload(harness, alice, "data.bin", DATA)
    etag = (await http.get(media_path(alice, "data.bin"))).headers["etag"]
    fresh = await http.get(
        media_path(alice, "data.bin"), headers={"Range": "bytes=0-1", "If-Range": etag}
    )
    assert fresh.status_code == 206 and fresh.content == DATA[:2]
    await upload(harness, alice, "data.bin", DATA[::-1])
    stale = await http.get(
        media_path(alice, "data.bin"), headers={"Range": "bytes=0-1", "If-Range": etag}
    )
    assert stale.status_code == 200 and stale.content == DATA[::-1]


async def test_listing_pages_with_link(harness: Harness, alice: Credentials) -> None:
    names = [f"f{i:02d}/x.txt" for i in range(5)]
    for name in names:
        await upload(harness, alice, name, name.encode())
    http = harness.http(alice)
    seen: list[str] = []
    url: str | None = media_path(alice) + "?size=2"
    for _ in range(10):
        assert url is not None
        page = await http.get(url)
        assert page.status_code == 200
        seen += [item["mediaName"] for item in page.json()]
        url = page.links.get("next", {}).get("url")
        if url is None:
            break
        assert "," not in url and ";" not in url
    assert seen == names
    too_big = await http.get(media_path(alice) + "?size=1001")
    assert too_big.status_code == 400 and too_big.json()["code"] == "validation-error"


async def test_other_users_media_is_invisible(harness: Harness, alice: Credentials) -> None:
    bob = await harness.create_user(["+15550009999"])
    await upload(harness, bob, "secret.jpg", JPEG, "image/jpeg")
    alice_http = harness.http(alice)
    for method in ("GET", "DELETE"):
        mine = await alice_http.request(method, media_path(alice, "secret.jpg"))
        assert mine.status_code == 404 and mine.json()["code"] == "media-not-found"
        theirs = await alice_http.request(method, media_path(bob, "secret.jpg"))
        assert theirs.status_code == 401 and theirs.json()["code"] == "user-access-denied"
    put = await alice_http.put(media_path(bob, "secret.jpg"), content=b"overwrite")
    assert put.status_code == 401
    assert (await alice_http.get(media_path(alice))).json() == []
    assert (await harness.http(bob).get(media_path(bob, "secret.jpg"))).content == JPEG


async def test_media_needs_credentials(harness: Harness, alice: Credentials) -> None:
    await upload(harness, alice, "cat.jpg", JPEG, "image/jpeg")
    anonymous = await harness.http().get(media_path(alice, "cat.jpg"))
    assert anonymous.status_code == 401


async def test_large_uploads_are_streamed_not_held_in_memory(
    harness: Harness, alice: Credentials
) -> None:
    size = 24 * 1024 * 1024
    piece = b"m" * (64 * 1024)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(size // len(piece)):
            yield piece

    tracemalloc.start()
    try:
        response = await harness.http(alice).put(media_path(alice, "big.bin"), content=body())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200, response.text
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes while uploading {size}"
    listed = (await harness.http(alice).get(media_path(alice))).json()
    assert listed[0]["contentLength"] == size


def test_literal_dot_segments_on_the_wire_are_refused(live_server: Any) -> None:
    """Raw requests, as no client library would normalise them away."""
    creds = live_server.create_user(["+15550001111"])
    host, port = live_server.base_url.removeprefix("http://").split(":")
    token = base64.b64encode(f"{creds.api_token}:{creds.api_secret}".encode()).decode()
    for path in ("../../../../etc/passwd", "a/../../b", "./x", "..%2F..%2Fetc"):
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(
                f"GET /v1/users/{creds.user_id}/media/{path} HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Basic {token}\r\nConnection: close\r\n\r\n".encode()
            )
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line.split()[1] == b"400", (path, answer)
        assert b"media name" in rest


@pytest.mark.parametrize("size", ["²", "--5", "1" * 5000, "-"])
async def test_odd_list_sizes_are_400_not_500(harness: Harness, size: str) -> None:
    creds = await harness.create_user(["+15550001111"])
    response = await harness.http(creds).get(
        f"/v1/users/{creds.user_id}/media", params={"size": size}
    )
    assert response.status_code == 400
    assert "size" in response.json()["message"]


@pytest.mark.parametrize("length", ["²", "1" * 5000])
async def test_odd_content_lengths_are_refused_not_500(harness: Harness, length: str) -> None:
    creds = await harness.create_user(["+15550001111"])
    response = await harness.http(creds).put(
        f"/v1/users/{creds.user_id}/media/a.txt",
        content=b"abc",
        headers={"content-length": length.encode("latin-1"), "content-type": "text/plain"},
    )
    assert response.status_code in (400, 404), response.text
    assert response.json()["message"]
