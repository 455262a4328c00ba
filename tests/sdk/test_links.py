"""``Link`` header parsing: the exact form the spec mandates and the general RFC 8288 form."""

from __future__ import annotations

import pytest

from trebuchet._links import find_next_link, parse_link_header

NEXT = "https://sms.example.test/v1/users/u-1/messages?size=2&sortKeyLT=17"


@pytest.mark.parametrize(
    "header",
    [
        f'<{NEXT}>; rel="next"',
        f"<{NEXT}>;rel=next",
        f'<{NEXT}>; REL="NEXT"',
        f'<https://h/first>; rel="first", <{NEXT}>; rel="next"',
        f'<{NEXT}>; title="a, b; c"; rel="next"',
        f'<{NEXT}>; rel="next last"',
        f'  <{NEXT}>  ;  rel = "next"  ',
        f'<https://h/prev>; rel="prev",<{NEXT}>; rel="next", <https://h/other>; rel="next"',
        f"{NEXT}; rel=next",  # no angle brackets, as the original client tolerated
        f'<https://h/a> junk, <{NEXT}>; rel="next", ',
        f'<{NEXT}>; rel="next",,',
    ],
)
def test_finds_the_next_link(header: str) -> None:
    assert find_next_link(header) == NEXT


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        '<https://h/first>; rel="first"',
        "<https://h/x>",
        "garbage",
        '<https://h/x>; rel="nextpage"',
    ],
)
def test_no_next_link(header: str | None) -> None:
    assert find_next_link(header) is None


def test_commas_and_semicolons_inside_the_url() -> None:
    url = "https://h/m?a=1,2;3"
    assert find_next_link(f'<{url}>; rel="next"') == url


def test_parse_keeps_every_link_and_parameter() -> None:
    links = parse_link_header('<https://h/a>; rel="first"; type="x\\"y", <https://h/b>; rel=next')
    assert links == [
        ("https://h/a", {"rel": "first", "type": 'x"y'}),
        ("https://h/b", {"rel": "next"}),
    ]


def test_unterminated_url_is_ignored() -> None:
    assert parse_link_header('<https://h/a; rel="next"') == []
