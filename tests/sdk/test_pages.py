"""The fast decoder of message pages gives exactly what the general decoder gives."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trebuchet import _pages
from trebuchet._casing import snake_object
from trebuchet._message_fields import MESSAGE_PROPERTIES
from trebuchet._pages import decode_message_page


def general(content: bytes) -> Any:
    return json.loads(content, object_pairs_hook=snake_object)


def fast(content: bytes) -> list[dict[str, Any]] | None:
    messages = decode_message_page(content)
    return None if messages is None else list(messages)


FULL = {
    "id": "m-1",
    "messageId": "m-1",
    "from": "+15550100001",
    "to": "+15550100002",
    "direction": "out",
    "text": 'say "segmentCount": 9',
    "media": ["http://example.com/a.png"],
    "state": "sent",
    "time": "2026-11-27T03:06:47.130Z",
    "segmentCount": 1,
    "callbackUrl": "http://example.com/cb",
    "callbackHttpMethod": "POST",
    "callbackTimeout": 3000,
    "fallbackUrl": "http://example.com/fb",
    "tag": "t",
    "receiptRequested": "all",
    "deliveryState": "delivered",
    "deliveryCode": 0,
    "deliveryDescription": "ok",
    "skipMMSCarrierValidation": False,
}


@pytest.fixture(params=["in place", "copied"])
def conversion(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways from decoded structs to snake_case ones: types changed in place (where
    the running Python and msgspec allow it) and copies (elsewhere)."""
    if request.param == "copied":
        monkeypatch.setattr(_pages, "_to_snake_messages", _pages._copy_over)
    else:
        assert _pages._to_snake_messages is _pages._hand_over, "in place is not possible here"
    return str(request.param)


@pytest.mark.usefixtures("conversion")
def test_a_page_with_every_property_converts_every_key() -> None:
    content = json.dumps([FULL, {"id": "m-2", "tag": None}]).encode()
    page = fast(content)
    assert page == general(content)
    assert page is not None
    assert page[0]["segment_count"] == 1
    assert page[0]["skip_mms_carrier_validation"] is False
    assert page[0]["text"] == 'say "segmentCount": 9'  # values are never touched
    assert page[1] == {"id": "m-2", "tag": None}  # absent stays absent, null stays null


def test_anything_else_is_left_to_the_general_decoder() -> None:
    for content in (
        b'[{"id": "m-1", "newProperty": {"innerKey": 1}}]',  # unknown: nothing is dropped
        b'{"id": "m-1"}',
        b"[1, 2]",
        b"not json",
    ):
        assert decode_message_page(content) is None


def test_the_sdk_pages_through_the_fast_decoder_and_the_general_one() -> None:
    known = json.dumps([FULL]).encode()
    unknown = json.dumps([{**FULL, "brandNewField": [{"nestedKey": 1}]}]).encode()
    assert fast(known) == general(known)
    assert decode_message_page(unknown) is None
    assert general(unknown)[0]["brand_new_field"] == [{"nested_key": 1}]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
keys = st.sampled_from([*MESSAGE_PROPERTIES, "unknownKey", "x"])


@given(st.lists(st.dictionaries(keys, json_values, max_size=8), max_size=5))
def test_fast_and_general_decoders_agree(page: list[dict[str, Any]]) -> None:
    content = json.dumps(page).encode()
    general_result = general(content)
    for convert in (_pages._hand_over, _pages._copy_over):
        with mock.patch.object(_pages, "_to_snake_messages", convert):
            result = fast(content)
        assert result is None or result == general_result
