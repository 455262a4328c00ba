"""Telephone number shapes accepted by the API and the CLI.

A number is E.164 when it is written ``+`` and ASCII digits only, in its canonical form,
and the numbering plan of its country calling code allows a number of that length
(libphonenumber's "possible number" rule).  Whether the number is in service is not
asked: test ranges such as ``+1555...`` pass, ``+12`` or ``+1555000`` do not.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

_E164_SHAPE = re.compile(r"\+[1-9][0-9]{1,14}")
_SHORT_CODE = re.compile(r"[0-9]{5,6}")
# Senders and recipients repeat: the numbering-plan check is cached per value.
_CACHED_NUMBERS = 65536


@lru_cache(maxsize=_CACHED_NUMBERS)
def _possible(value: str) -> bool:
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return False
    reason = phonenumbers.is_possible_number_with_reason(parsed)
    return reason == phonenumbers.ValidationResult.IS_POSSIBLE and (
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == value
    )


def is_e164(value: str) -> bool:
    """``+`` and digits, canonical, and a possible length for its country calling code."""
    return _E164_SHAPE.fullmatch(value) is not None and _possible(value)


def is_short_code(value: str) -> bool:
    """A US/Canadian short code: 5 or 6 digits (spec open point 18)."""
    return _SHORT_CODE.fullmatch(value) is not None


def national_format(number: str) -> str:
    """``+19195551212`` -> ``(919) 555-1212`` for NANP numbers, else the number itself."""
    if number.startswith("+1") and len(number) == 12:
        digits = number[2:]
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return number
