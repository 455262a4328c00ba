"""Telephone number shapes accepted by the API."""

from __future__ import annotations

import re

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_SHORT_CODE = re.compile(r"[0-9]{5,6}")


def is_e164(value: str) -> bool:
    return _E164.fullmatch(value) is not None


def is_short_code(value: str) -> bool:
    return _SHORT_CODE.fullmatch(value) is not None


def national_format(number: str) -> str:
    """``+19195551212`` -> ``(919) 555-1212`` for NANP numbers, else the number itself."""
    if number.startswith("+1") and len(number) == 12:
        digits = number[2:]
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return number
