"""Pure rules: segmentation, phone numbers, filter dates, ids."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trebuchet.server.domain.ids import new_id, new_message_id
from trebuchet.server.domain.phone import is_e164, is_short_code, national_format
from trebuchet.server.domain.segments import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    gsm7_septets,
    segment_count,
    utf16_length,
)
from trebuchet.server.domain.times import format_time, parse_filter_time


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("a" * 120, 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("a" * 69 + "☺", 1),
        ("a" * 70 + "☺", 2),
        ("a" * 134, 1),
        ("€" * 80, 1),  # 160 septets
        ("€" * 81, 2),  # 162 septets
        ("a" * 159 + "[", 2),  # the extension character takes two septets
        ("😀" * 35, 1),  # 70 UTF-16 units
        ("😀" * 36, 2),  # 72 units -> 67 + 5
        ("", 1),
    ],
)
def test_segment_count_matches_gsm_and_ucs2_rules(text: str, segments: int) -> None:
    assert segment_count(text) == segments


def test_mms_is_always_one_segment() -> None:
    assert segment_count("a" * 2000, is_mms=True) == 1


@given(st.text(alphabet=sorted(GSM7_BASIC), max_size=1000))
def test_plain_gsm_text_counts_one_septet_per_character(text: str) -> None:
    assert gsm7_septets(text) == len(text)
    expected = 1 if len(text) <= 160 else -(-len(text) // 153)
    assert segment_count(text) == expected


@given(st.text(max_size=600))
def test_segments_cover_the_text(text: str) -> None:
    count = segment_count(text)
    septets = gsm7_septets(text)
    if septets is not None:
        assert septets <= (160 if count == 1 else 153 * count)
    else:
        units = utf16_length(text)
        assert units <= (70 if count == 1 else 67 * count)
        assert count == 1 or units > 67 * (count - 1)


def test_extension_table_is_the_gsm_one() -> None:
    assert set("^{}\\[~]|€\f") == GSM7_EXTENSION


@pytest.mark.parametrize(
    "number", ["+15550001111", "+15550100001", "+442071234567", "+4915112345678", "+8613800138000"]
)
def test_e164_accepts(number: str) -> None:
    assert is_e164(number)


@pytest.mark.parametrize(
    "number",
    [
        "15550001111",
        "+05550001111",
        "+1555000111122223",
        "+1 555",
        "",
        "+1555000111a",
        # too short or too long for their country calling code's numbering plan
        "+12",
        "+1234",
        "+999999",
        "+1555000",
        "+155500011112",
        "+3912",
        # not canonical: a UK number written with its national trunk prefix
        "+4402071234567",
    ],
)
def test_e164_rejects(number: str) -> None:
    assert not is_e164(number)


def test_short_codes_and_national_format() -> None:
    assert is_short_code("12345") and is_short_code("123456")
    assert not is_short_code("1234") and not is_short_code("1234567")
    assert national_format("+19195551212") == "(919) 555-1212"
    assert national_format("+442071234567") == "+442071234567"


def _us(*args: int) -> int:
    delta = datetime(*args, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)  # type: ignore[misc]
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2014-05-25", _us(2014, 5, 25)),
        ("2014-05-25 12", _us(2014, 5, 25, 12)),
        ("2014-05-25 12:30", _us(2014, 5, 25, 12, 30)),
        ("2014-05-25 12:30:15", _us(2014, 5, 25, 12, 30, 15)),
        ("2014-05-25 12:30:15.123", _us(2014, 5, 25, 12, 30, 15, 123_000)),
        ("2012-10-05T20:38:11.023Z", _us(2012, 10, 5, 20, 38, 11, 23_000)),
        ("2012-10-05T22:38:11+02:00", _us(2012, 10, 5, 20, 38, 11)),
    ],
)
def test_filter_dates_fill_missing_parts_with_zero(text: str, expected: int) -> None:
    assert parse_filter_time(text) == expected


@pytest.mark.parametrize(
    "text",
    ["2014-05", "2014-13-01", "2014-02-30", "yesterday", "2014-05-25 25:00", "", "2014-05-25 1"],
)
def test_filter_dates_reject_incomplete_or_impossible(text: str) -> None:
    with pytest.raises(ValueError, match=r".*"):
        parse_filter_time(text)


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)))
def test_format_then_parse_round_trips_to_the_millisecond(moment: datetime) -> None:
    micros = _us(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
    )
    assert parse_filter_time(format_time(micros)) == micros - micros % 1000


@given(st.integers(min_value=0, max_value=7_258_118_400_000_000))  # up to 2200
def test_format_time_matches_the_standard_library(micros: int) -> None:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    expected = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    assert format_time(micros) == expected


def test_message_ids_look_like_catapult_ids() -> None:
    ids = {new_message_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"m-[a-z2-7]{23}", ident) for ident in ids)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_process_does_not_repeat_its_parents_ids() -> None:
    new_id("m")  # the parent's buffer now holds bits for the ids that follow
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write, "\n".join(new_id("m")[-12:] for _ in range(20)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split("\n"))
    os.waitpid(pid, 0)
    parent = {new_id("m")[-12:] for _ in range(20)}
    assert len(child) == 20
    assert not parent & child
