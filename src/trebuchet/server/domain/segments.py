"""SMS segmentation: GSM 03.38 septets or UCS-2 code units.

A text that only uses the GSM 03.38 default alphabet and its extension table is sent
as GSM-7: 160 septets in one segment, 153 per segment when concatenated, extension
characters taking two septets.  Anything else is sent as UCS-2: 70 UTF-16 code units
in one segment, 67 per segment when concatenated (characters outside the BMP count
two, as they are two code units on the wire).
"""

from __future__ import annotations

import re

# GSM 03.38 default alphabet, indexed by septet; 0x1B is the escape to the extension table.
GSM7_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION_TABLE = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
ESCAPE = 0x1B

assert len(GSM7_TABLE) == 128

# The same tables as sets, for counting septets: one each, two for an extension character.
GSM7_BASIC = frozenset(GSM7_TABLE) - {chr(ESCAPE)}
GSM7_EXTENSION = frozenset(GSM7_EXTENSION_TABLE.values())
# Most texts use the basic table only: one septet per character, checked in one match.
_BASIC_ONLY = re.compile("[" + "".join(sorted(re.escape(char) for char in GSM7_BASIC)) + "]*")

GSM7_SINGLE = 160
GSM7_MULTI = 153
UCS2_SINGLE = 70
UCS2_MULTI = 67
MMS_SEGMENTS = 1


def gsm7_septets(text: str) -> int | None:
    """Septets needed to send ``text`` as GSM-7, or ``None`` if it cannot be."""
    if _BASIC_ONLY.fullmatch(text):
        return len(text)
    septets = 0
    for char in text:
        if char in GSM7_BASIC:
            septets += 1
        elif char in GSM7_EXTENSION:
            septets += 2
        else:
            return None
    return septets


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units (what UCS-2 transmission and the 2048 limit count)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def _segments(units: int, single: int, multi: int) -> int:
    if units <= single:
        return 1
    return -(-units // multi)


def segment_count(text: str, *, is_mms: bool = False) -> int:
    """Number of SMS segments ``text`` needs; always 1 for MMS and for an empty text."""
    if is_mms:
        return MMS_SEGMENTS
    septets = gsm7_septets(text)
    if septets is not None:
        return _segments(septets, GSM7_SINGLE, GSM7_MULTI)
    return _segments(utf16_length(text), UCS2_SINGLE, UCS2_MULTI)
