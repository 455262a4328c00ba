"""Media names, media URLs, MMS content types and the names of received parts."""

from __future__ import annotations

import pytest

from trebuchet.server.media.fetch import MediaPart, part_name
from trebuchet.server.media.names import (
    InvalidName,
    check_name,
    media_url,
    parse_media_url,
    same_origin,
)
from trebuchet.server.media.storage import file_name
from trebuchet.server.media.types import extension_for, mms_type, parse_content_type

TRAVERSALS = [
    "..",
    ".",
    "../secret",
    "a/../../b",
    "a/./b",
    "/etc/passwd",
    "a//b",
    "a/",
    "..\\..\\windows",
    "a\\b",
    "a\x00b",
    "line\nbreak",
    "%2e%2e/secret",
    "%2E%2E%2Fsecret",
    "a%2fb",
    "a%5cb",
    "nul%00",
    "",
    "x" * 201,
    "é" * 100,
]


@pytest.mark.parametrize("name", TRAVERSALS)
def test_path_tricks_and_odd_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidName):
        check_name(name)


@pytest.mark.parametrize(
    "name", ["cat.jpg", "a/b/c.png", "with space.txt", "100%.jpg", "..cat", "a..b", "émoji-☺.gif"]
)
def test_ordinary_names_are_kept_as_they_are(name: str) -> None:
    assert check_name(name) == name


def test_file_names_are_one_flat_visible_segment() -> None:
    assert file_name("a/b.jpg") == "a%2Fb.jpg"
    assert file_name("..cat") == "%2E.cat"
    assert "/" not in file_name("x/../../y")


def test_media_urls_round_trip() -> None:
    url = media_url("https://sms.example.test/", "u-abc", "dir/my cat%.jpg")
    assert url == "https://sms.example.test/v1/users/u-abc/media/dir/my%20cat%25.jpg"
    ref = parse_media_url(url)
    assert ref is not None and (ref.user_id, ref.name) == ("u-abc", "dir/my cat%.jpg")
    assert parse_media_url("https://cdn.example.test/cat.jpg") is None
    assert parse_media_url("ftp://x/v1/users/u-a/media/b") is None
    assert same_origin(url, "https://sms.example.test")
    assert same_origin("http://h/v1", "http://h:80")
    assert not same_origin(url, "http://sms.example.test")


@pytest.mark.parametrize(
    ("declared", "name", "expected"),
    [
        ("image/jpeg", "x.bin", "image/jpeg"),
        ("IMAGE/PNG; q=1", "x", "image/png"),
        ("application/octet-stream", "cat.jpg", "image/jpeg"),
        (None, "cat.png", "image/png"),
        ("application/octet-stream", "noise.xml", None),  # two candidate types
        ("application/octet-stream", "blob", None),
        ("application/x-msdownload", "x.exe", None),
        ("text/plain", "notes.txt", "text/plain"),
    ],
)
def test_mms_types_come_from_the_content_type(
    declared: str | None, name: str, expected: str | None
) -> None:
    assert mms_type(declared, name) == expected


@pytest.mark.parametrize("value", ["image/png", "text/plain; charset=utf-8", " a/b "])
def test_well_formed_content_types_are_accepted(value: str) -> None:
    assert parse_content_type(value) == value.strip()


@pytest.mark.parametrize(
    "value", ["", "png", "image/", "/png", "image png", "a/b\x00", "x/" + "y" * 300]
)
def test_malformed_content_types_are_refused(value: str) -> None:
    assert parse_content_type(value) is None


def test_received_parts_are_named_part_name_message_id_extension() -> None:
    def part(name: str, kind: str) -> MediaPart:
        return MediaPart("https://x.test/" + name, name, kind, b"x")

    message = "m-dr4mcch2wfb6frcls677glq"
    assert part_name(part("cat.jpeg", "image/jpeg"), message, 0) == f"cat-{message}.jpeg"
    assert part_name(part("dir/123_1.smil", "application/smil"), message, 0) == (
        f"123_1-{message}.smil"
    )
    assert part_name(part("photo", "image/png"), message, 0) == f"photo-{message}.png"
    assert part_name(part("", "image/gif"), message, 2) == f"part3-{message}.gif"
    assert part_name(part("we ird/../nä me.txt", "text/plain"), message, 0) == (
        f"n_me-{message}.txt"
    )
    assert extension_for("image/jpeg", "x.png") == ".jpg"
