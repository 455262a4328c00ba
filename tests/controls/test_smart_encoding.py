"""Smart encoding: look-alikes replaced before segmenting, by the message's flag or the
user's default; the record shows the text as sent and its segment count."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import Credentials, Harness
from trebuchet.server.domain.segments import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    gsm7_septets,
    segment_count,
)
from trebuchet.server.domain.smart_encoding import LOOK_ALIKES, smart_encode

FROM = "+15550001111"
TO = "+15550002222"
GSM7 = sorted(GSM7_BASIC | GSM7_EXTENSION)
gsm7_texts = st.text(alphabet=st.sampled_from(GSM7), max_size=400)
# GSM-7, look-alikes and anything else, mixed, so texts stay UCS-2 or become GSM-7.
mixed_texts = st.text(
    alphabet=st.one_of(
        st.sampled_from(GSM7), st.sampled_from(sorted(LOOK_ALIKES)), st.characters()
    ),
    max_size=400,
)


@given(gsm7_texts)
def test_a_gsm7_text_is_never_changed(text: str) -> None:
    assert smart_encode(text) == text


@given(mixed_texts)
def test_the_segment_count_never_grows(text: str) -> None:
    assert segment_count(smart_encode(text)) <= segment_count(text)


@given(st.text(alphabet=st.sampled_from(GSM7 + sorted(LOOK_ALIKES)), max_size=400))
def test_a_text_of_gsm7_and_look_alikes_becomes_gsm7_or_stays_as_it_was(text: str) -> None:
    sent = smart_encode(text)
    assert gsm7_septets(sent) is not None or sent == text


@given(mixed_texts)
def test_an_mms_text_is_never_changed(text: str) -> None:
    assert smart_encode(text, is_mms=True) == text


@pytest.mark.parametrize(
    ("text", "sent"),
    [
        ("It\u2019s \u201cdone\u201d", 'It\'s "done"'),
        ("a \u2013 b \u2014 c\u2026", "a - b - c..."),
        ("no\u00a0break\u200bhere", "no breakhere"),
        ("\u2018single\u2019", "'single'"),
    ],
)
def test_look_alikes_are_replaced(text: str, sent: str) -> None:
    assert smart_encode(text) == sent


def test_a_160_character_text_with_one_curly_quote_stays_one_segment() -> None:
    text = "x" * 159 + "\u2019"
    assert segment_count(text) == 3
    assert smart_encode(text) == "x" * 159 + "'"
    assert segment_count(smart_encode(text)) == 1


def test_a_text_left_ucs2_keeps_its_characters_when_replacing_would_add_a_segment() -> None:
    text = "\u4e2d" + "\u2026" * 69  # stays UCS-2 whatever happens; … → ... would add units
    assert segment_count(text) == 1
    assert smart_encode(text) == text


# -- through the API ---------------------------------------------------------------------


@pytest.fixture
async def user(harness: Harness) -> Credentials:
    return await harness.create_user([FROM])


async def _sent(harness: Harness, user: Credentials, **fields: object) -> dict[str, object]:
    http = harness.http(user)
    response = await http.post(harness.messages_path(user), json={"from": FROM, "to": TO, **fields})
    assert response.status_code == 201, response.text
    got = await http.get(response.headers["location"])
    body: dict[str, object] = got.json()
    return body


async def test_the_message_flag_replaces_and_the_record_shows_the_text_as_sent(
    harness: Harness, user: Credentials
) -> None:
    text = "x" * 159 + "\u201d"
    on = await _sent(harness, user, text=text, smartEncoding=True)
    assert on["text"] == "x" * 159 + '"' and on["segmentCount"] == 1
    off = await _sent(harness, user, text=text)
    assert off["text"] == text and off["segmentCount"] == 3
    assert "smartEncoding" not in on and "keyword" not in on  # nothing new on the record


async def test_the_users_default_applies_unless_the_message_says_otherwise(
    harness: Harness, user: Credentials
) -> None:
    http = harness.http(user)
    path = f"/v1/users/{user.user_id}/messagingSettings"
    assert (await http.get(path)).json() == {"smartEncoding": False, "optOutScope": "number"}
    changed = await http.patch(path, json={"smartEncoding": True})
    assert changed.status_code == 200
    assert changed.json() == {"smartEncoding": True, "optOutScope": "number"}
    assert (await _sent(harness, user, text="\u2018hi\u2019"))["text"] == "'hi'"
    declined = await _sent(harness, user, text="\u2018hi\u2019", smartEncoding=False)
    assert declined["text"] == "\u2018hi\u2019"


async def test_bulk_items_are_replaced_each_by_its_own_flag(
    harness: Harness, user: Credentials
) -> None:
    http = harness.http(user)
    response = await http.post(
        harness.messages_path(user),
        json=[
            {"from": FROM, "to": TO, "text": "a\u2014b", "smartEncoding": True},
            {"from": FROM, "to": TO, "text": "a\u2014b"},
        ],
    )
    assert response.status_code == 202
    texts = [(await http.get(item["location"])).json()["text"] for item in response.json()]
    assert texts == ["a-b", "a\u2014b"]


@pytest.mark.parametrize(
    ("body", "prop"),
    [({"smartEncoding": "yes"}, "smartEncoding"), ({"optOutScope": "world"}, "optOutScope")],
)
async def test_settings_refuse_bad_values_with_the_spec_error_body(
    harness: Harness, user: Credentials, body: dict[str, object], prop: str
) -> None:
    response = await harness.http(user).patch(
        f"/v1/users/{user.user_id}/messagingSettings", json=body
    )
    assert response.status_code == 400
    error = response.json()
    assert error["category"] == "bad-request" and prop in error["message"]
    assert {"category", "code", "message", "details"} <= set(error)


async def test_a_bad_smart_encoding_flag_is_refused_and_nothing_is_stored(
    harness: Harness, user: Credentials
) -> None:
    http = harness.http(user)
    response = await http.post(
        harness.messages_path(user), json={"from": FROM, "to": TO, "text": "x", "smartEncoding": 1}
    )
    assert response.status_code == 400
    assert response.json()["category"] == "bad-request"
    assert (await http.get(harness.messages_path(user))).json() == []
