"""Message text on the SMPP wire: alphabets, splitting into parts, concatenation headers.

GSM-7 text goes out as ``data_coding`` 0, one unpacked septet per octet in the GSM 03.38
default alphabet (extension characters as ESC + code); anything else as UCS-2
(``data_coding`` 8, UTF-16 big-endian).  The alphabet tables, the choice and the part
sizes are those of :mod:`trebuchet.server.domain.segments`, which computes
``segmentCount``: 160/153 septets, 70/67 UTF-16 code units.  A part never ends inside an
escape sequence or a surrogate pair.
"""

from __future__ import annotations

from dataclasses import dataclass

from trebuchet.server.carriers.smpp import pdu as p
from trebuchet.server.domain.segments import (
    ESCAPE,
    GSM7_EXTENSION_TABLE,
    GSM7_MULTI,
    GSM7_SINGLE,
    GSM7_TABLE,
    UCS2_MULTI,
    UCS2_SINGLE,
    gsm7_septets,
)

_ENCODE = {char: bytes((code,)) for code, char in enumerate(GSM7_TABLE) if code != ESCAPE}
_ENCODE.update({char: bytes((ESCAPE, code)) for code, char in GSM7_EXTENSION_TABLE.items()})

UDH_LENGTH = 6  # 05 00 03 ref total seq


def gsm7_encode(text: str) -> bytes:
    """Unpacked GSM-7 septets; ValueError for a character outside the alphabet."""
    try:
        return b"".join(_ENCODE[char] for char in text)
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]!r} is not in the GSM 03.38 alphabet") from None


def gsm7_decode(data: bytes) -> str:
    out: list[str] = []
    escaped = False
    for septet in data:
        septet &= 0x7F
        if escaped:
            # An unknown escape shows the base character (GSM 03.38 says so).
            out.append(GSM7_EXTENSION_TABLE.get(septet, GSM7_TABLE[septet]))
            escaped = False
        elif septet == ESCAPE:
            escaped = True
        else:
            out.append(GSM7_TABLE[septet])
    return "".join(out)


def decode_text(data: bytes, data_coding: int) -> str:
    """Text of a received short message by its ``data_coding``."""
    coding = data_coding & 0x0F if data_coding & 0xF0 == 0xF0 else data_coding
    if coding == p.DC_UCS2:
        return data.decode("utf-16-be", errors="replace")
    if coding == p.DC_LATIN1:
        return data.decode("latin-1")
    if coding in (p.DC_ASCII, p.DC_OCTET, 0x02):
        return data.decode("ascii", errors="replace")
    return gsm7_decode(data)


@dataclass(frozen=True)
class Encoded:
    data_coding: int
    parts: tuple[bytes, ...]  # the payload of each part, without any header


def _split(units: list[bytes], size: int) -> tuple[bytes, ...]:
    """Pack whole units (characters) into parts of at most ``size`` octets."""
    parts: list[bytes] = []
    current = bytearray()
    for unit in units:
        if len(current) + len(unit) > size:
            parts.append(bytes(current))
            current = bytearray()
        current += unit
    parts.append(bytes(current))
    return tuple(parts)


def encode_text(text: str, *, split: bool = True) -> Encoded:
    """The text's alphabet and payloads: one part when it fits, or ``split`` is off."""
    if gsm7_septets(text) is not None:
        units = [_ENCODE[char] for char in text]
        coding, single, multi = p.DC_DEFAULT, GSM7_SINGLE, GSM7_MULTI
    else:
        units = [char.encode("utf-16-be") for char in text]
        coding, single, multi = p.DC_UCS2, UCS2_SINGLE * 2, UCS2_MULTI * 2
    whole = b"".join(units)
    if len(whole) <= single or not split:
        return Encoded(coding, (whole,))
    return Encoded(coding, _split(units, multi))


def udh(reference: int, total: int, number: int) -> bytes:
    """A concatenation header with an 8-bit reference (IEI 0x00)."""
    return bytes((UDH_LENGTH - 1, 0x00, 3, reference & 0xFF, total, number))


@dataclass(frozen=True)
class Concatenation:
    reference: int
    total: int
    number: int


def parse_udh(data: bytes) -> tuple[Concatenation | None, bytes]:
    """The concatenation element of a user data header (8- or 16-bit), and the text after it."""
    if not data:
        return None, data
    length = data[0]
    header, rest = data[1 : 1 + length], data[1 + length :]
    at = 0
    found: Concatenation | None = None
    while at + 2 <= len(header):
        iei, size = header[at], header[at + 1]
        value = header[at + 2 : at + 2 + size]
        if iei == 0x00 and size == 3 and len(value) == 3:
            found = Concatenation(value[0], value[1], value[2])
        elif iei == 0x08 and size == 4 and len(value) == 4:
            found = Concatenation(int.from_bytes(value[:2], "big"), value[2], value[3])
        at += 2 + size
    return found, rest


def sar_tlvs(reference: int, total: int, number: int) -> dict[int, bytes]:
    return {
        p.TLV_SAR_MSG_REF_NUM: (reference & 0xFFFF).to_bytes(2, "big"),
        p.TLV_SAR_TOTAL_SEGMENTS: bytes((total,)),
        p.TLV_SAR_SEGMENT_SEQNUM: bytes((number,)),
    }


def parse_sar(tlvs: dict[int, bytes]) -> Concatenation | None:
    try:
        return Concatenation(
            int.from_bytes(tlvs[p.TLV_SAR_MSG_REF_NUM], "big"),
            tlvs[p.TLV_SAR_TOTAL_SEGMENTS][0],
            tlvs[p.TLV_SAR_SEGMENT_SEQNUM][0],
        )
    except (KeyError, IndexError):
        return None
