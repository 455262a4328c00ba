"""The callback signature: the one definition the server signs with and the SDK checks.

::

    Trebuchet-Signature: t=<unix seconds>,v2=<hex HMAC-SHA256(secret, signed)>
    signed = "<t>.<Trebuchet-Event-Id>.<Trebuchet-Event-Sequence>." + payload

``payload`` is the raw request body (POST) or the raw query string without ``?`` (GET).
Signing the event id and sequence means a captured request cannot be replayed under a
fresh event id to get past deduplication by event id. The event id holds no ``.`` and
the sequence is decimal digits, so each signed string has exactly one reading.

The earlier scheme ``v1`` signed only ``"<t>." + payload``. It is named in the header
(``v1=``), so a header of either scheme is recognised by the other side's verifier and
refused, never accepted: an old verifier finds no ``v1`` entry, and this one reports a
``v1`` header as a retired scheme.

Standard library only: the server imports this module, and the SDK imports nothing from
the server.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

SIGNATURE_HEADER = "Trebuchet-Signature"
EVENT_ID_HEADER = "Trebuchet-Event-Id"
EVENT_SEQUENCE_HEADER = "Trebuchet-Event-Sequence"
EVENT_ATTEMPT_HEADER = "Trebuchet-Event-Attempt"
SCHEME = "v2"
RETIRED_SCHEMES = ("v1",)

Secret = str | bytes
Payload = bytes | str


def signed_string(timestamp: int, event_id: str, sequence: int | str, payload: Payload) -> bytes:
    """The bytes the HMAC covers; ``ValueError`` for an event id or sequence that could
    make two different requests sign the same bytes."""
    if not event_id or "." in event_id:
        raise ValueError(f"an event id must be non-empty and hold no '.': {event_id!r}")
    sequence_text = str(sequence)
    if not (sequence_text.isascii() and sequence_text.isdigit()):
        raise ValueError(f"an event sequence must be decimal digits: {sequence!r}")
    data = payload.encode() if isinstance(payload, str) else payload
    return f"{int(timestamp)}.{event_id}.{sequence_text}.".encode() + data


def digest(
    secret: Secret, timestamp: int, event_id: str, sequence: int | str, payload: Payload
) -> str:
    """The hex HMAC-SHA256 of the signed string."""
    key = secret.encode() if isinstance(secret, str) else secret
    signed = signed_string(timestamp, event_id, sequence, payload)
    return hmac.new(key, signed, hashlib.sha256).hexdigest()


def signature_header(
    secret: Secret, timestamp: int, event_id: str, sequence: int | str, payload: Payload
) -> str:
    """The ``Trebuchet-Signature`` value: ``t=<timestamp>,v2=<hex>``."""
    return f"t={int(timestamp)},{SCHEME}={digest(secret, timestamp, event_id, sequence, payload)}"


@dataclass(frozen=True)
class ParsedHeader:
    timestamp: int | None
    digests: tuple[str, ...]  # every v2 entry, lower-cased (several while rotating secrets)
    retired: tuple[str, ...]  # retired schemes present, such as "v1"


def parse_header(header: str) -> ParsedHeader:
    stamp: int | None = None
    digests: list[str] = []
    retired: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        key, value = key.strip(), value.strip()
        if key == "t":
            try:
                stamp = int(value)
            except ValueError:
                return ParsedHeader(None, (), ())
        elif key == SCHEME and value:
            digests.append(value.lower())
        elif key in RETIRED_SCHEMES and value and key not in retired:
            retired.append(key)
    return ParsedHeader(stamp, tuple(digests), tuple(retired))


def problem(
    secret: Secret,
    header: str | None,
    payload: Payload,
    *,
    event_id: str | None,
    sequence: int | str | None,
    tolerance: float | None,
    now: float,
) -> str | None:
    """Why ``header`` does not sign this request, or ``None`` when it does.

    The comparison is constant-time; any ``v2`` entry may match.
    """
    if not header:
        return f"the {SIGNATURE_HEADER} header is missing"
    if not event_id:
        return f"the {EVENT_ID_HEADER} header is missing"
    if sequence is None or sequence == "":
        return f"the {EVENT_SEQUENCE_HEADER} header is missing"
    parsed = parse_header(header)
    if parsed.timestamp is None:
        return f"the {SIGNATURE_HEADER} header has no valid t= timestamp"
    if not parsed.digests:
        if parsed.retired:
            return (
                f"the {SIGNATURE_HEADER} header uses the retired scheme {parsed.retired[0]}, "
                f"which does not cover the event id; expected {SCHEME}= (upgrade the server)"
            )
        return f"the {SIGNATURE_HEADER} header has no {SCHEME}= signature"
    if tolerance is not None and abs(now - parsed.timestamp) > tolerance:
        return f"the {SIGNATURE_HEADER} timestamp is more than {tolerance:g} s from now"
    try:
        expected = digest(secret, parsed.timestamp, event_id, sequence, payload).encode()
    except ValueError as exc:
        return f"the event headers cannot be signed: {exc}"
    matched = False
    for candidate in parsed.digests:
        matched |= hmac.compare_digest(expected, candidate.encode())
    return None if matched else f"the {SIGNATURE_HEADER} header does not match"
