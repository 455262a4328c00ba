"""Media names whose percent-escapes are not UTF-8 are refused, never decoded lossily."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Credentials, Harness
from tests.media.conftest import media_path, stored_files
from trebuchet.server.media.names import parse_media_url

INVALID = ["%ff%fe.png", "%fe%ff.png", "a/%c3.png", "%80", "ok%e2%82.png"]


@pytest.fixture
async def alice(harness: Harness) -> Credentials:
    return await harness.create_user(["+15550001111"])


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["category"] == "bad-request"
    assert body["code"] == "validation-error"
    assert "UTF-8" in body["message"]
    assert "mediaName" in [d["name"] for d in body["details"]]


@pytest.mark.parametrize("raw", INVALID)
@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
async def test_invalid_escapes_are_refused(
    harness: Harness, alice: Credentials, raw: str, method: str
) -> None:
    url = httpx.URL(f"http://testserver{media_path(alice)}/{raw}")
    response = await harness.http(alice).request(
        method, url, content=b"data" if method == "PUT" else None
    )
    _refused(response)
    assert stored_files(harness.settings.media_dir) == []


async def test_two_invalid_names_never_share_a_file(harness: Harness, alice: Credentials) -> None:
    http = harness.http(alice)
    for raw, body in (("%ff%fe.png", b"first"), ("%fe%ff.png", b"second")):
        _refused(await http.put(httpx.URL(f"http://testserver{media_path(alice)}/{raw}"),
                                content=body))  # fmt: skip
    assert stored_files(harness.settings.media_dir) == []
    assert (await http.get(media_path(alice))).json() == []


async def test_valid_utf8_escapes_still_work(harness: Harness, alice: Credentials) -> None:
    http = harness.http(alice)
    # U+FFFD itself, spelled correctly, is an ordinary character of a name.
    for raw in ("caf%C3%A9.png", "%EF%BF%BD.png"):
        url = httpx.URL(f"http://testserver{media_path(alice)}/{raw}")
        assert (await http.put(url, content=b"data")).status_code == 200
        assert (await http.get(url)).content == b"data"
    listed = sorted(item["mediaName"] for item in (await http.get(media_path(alice))).json())
    assert listed == ["café.png", "\ufffd.png"]


def test_invalid_escapes_are_refused_over_a_real_socket(live_server: Any) -> None:
    creds = live_server.create_user(["+15550001111"])
    with httpx.Client(base_url=live_server.base_url, auth=creds.auth, timeout=10) as http:
        for raw in ("%ff%fe.png", "%fe%ff.png"):
            url = httpx.URL(f"{live_server.base_url}{media_path(creds)}/{raw}")
            _refused(http.put(url, content=b"data"))
        assert http.get(media_path(creds)).json() == []


def test_media_urls_with_invalid_escapes_name_no_media() -> None:
    assert parse_media_url("https://h/v1/users/u-1/media/%ff%fe.png") is None
    ref = parse_media_url("https://h/v1/users/u-1/media/caf%C3%A9.png")
    assert ref is not None and ref.name == "café.png"
