"""Texts on the SMPP wire: GSM 03.38 and UCS-2, parts that agree with segmentCount."""

from __future__ import annotations

import pytest

from trebuchet.server.carriers.smpp import pdu as p
from trebuchet.server.carriers.smpp.text import (
    Concatenation,
    decode_text,
    encode_text,
    gsm7_decode,
    gsm7_encode,
    parse_sar,
    parse_udh,
    sar_tlvs,
    udh,
)
from trebuchet.server.domain.segments import segment_count

TEXTS = [
    "hello",
    "a" * 160,
    "a" * 161,
    "a" * 306,
    "a" * 307,
    "€" * 80,  # 160 septets: one part
    "€" * 81,
    "x" + "€" * 100,  # escapes must not straddle a boundary
    "☺" * 70,
    "☺" * 71,
    "😀" * 35,  # surrogate pairs: two code units each
    "😀" * 40,
    "Grüße, ¿qué tal? {ok} [1] ~ \\ | ^ € @£$¥",
    "",
]


@pytest.mark.parametrize("text", TEXTS, ids=lambda t: f"{t[:8]!r}x{len(t)}")
def test_parts_match_segment_count_and_reassemble(text: str) -> None:
    encoded = encode_text(text)
    expected = segment_count(text)
    # An escape pair that would straddle a boundary moves whole to the next part.
    assert len(encoded.parts) in (expected, expected + 1)
    if "€" not in text:
        assert len(encoded.parts) == expected
    assert decode_text(b"".join(encoded.parts), encoded.data_coding) == text
    multi = len(encoded.parts) > 1
    gsm = encoded.data_coding == p.DC_DEFAULT
    limit = {(True, False): 160, (True, True): 153, (False, False): 140, (False, True): 134}
    for part in encoded.parts:
        assert len(part) <= limit[(gsm, multi)]
        if multi:  # each part decodes on its own: no character is cut
            assert decode_text(part, encoded.data_coding).encode("utf-16-be")


def test_alphabet_choice() -> None:
    assert encode_text("plain {text}").data_coding == p.DC_DEFAULT
    assert encode_text("smile ☺").data_coding == p.DC_UCS2
    assert encode_text("smile ☺").parts[0] == "smile ☺".encode("utf-16-be")


def test_gsm_default_alphabet_mapping() -> None:
    assert gsm7_encode("@£$") == b"\x00\x01\x02"
    assert gsm7_encode("Δ_") == b"\x10\x11"
    assert gsm7_encode("€{") == b"\x1b\x65\x1b\x28"
    assert gsm7_encode("Aa\n") == b"\x41\x61\x0a"
    assert gsm7_decode(b"\x1b\x65\x00\x1b\x41") == "€@A"  # unknown escape: the base char
    with pytest.raises(ValueError, match="GSM"):
        gsm7_encode("☺")


def test_long_ucs2_parts_hold_67_code_units_and_keep_pairs_whole() -> None:
    parts = encode_text("☺" * 140).parts
    assert [len(part) // 2 for part in parts] == [67, 67, 6]
    emoji = encode_text("a" + "😀" * 40).parts
    assert all(len(part) <= 134 for part in emoji)
    assert [len(part) for part in emoji] == [134, 28]  # 'a' and 33 pairs, then 7 pairs


def test_payload_mode_does_not_split() -> None:
    assert len(encode_text("a" * 500, split=False).parts) == 1


@pytest.mark.parametrize("coding", [0x03, 0x01, 0x04, 0xF0, 0xF8])
def test_other_data_codings_decode(coding: int) -> None:
    data = "hi".encode("utf-16-be") if coding == 0xF8 else b"hi"
    assert decode_text(data, coding) == "hi"


def test_concatenation_headers() -> None:
    header = udh(0x1A2, 3, 2)
    assert header == bytes.fromhex("050003a20302")
    assert parse_udh(header + b"text") == (Concatenation(0xA2, 3, 2), b"text")
    sixteen = bytes.fromhex("06080401020301")
    assert parse_udh(sixteen + b"x") == (Concatenation(0x0102, 3, 1), b"x")
    assert parse_udh(bytes.fromhex("0201ff") + b"y") == (None, b"y")  # some other element
    assert parse_udh(b"") == (None, b"")
    assert parse_sar(sar_tlvs(0x1234, 2, 1)) == Concatenation(0x1234, 2, 1)
    assert parse_sar({}) is None
