"""``Trebuchet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + payload)>``.

The payload is the raw request body for POST and the raw query string (without ``?``)
for GET, exactly as sent.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "Trebuchet-Signature"


def signature(secret: str, timestamp: int, payload: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, payload: bytes, *, now: int, tolerance: int = 300) -> bool:
    """Check a signature header as a receiver would (constant-time, with a time window)."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, payload)
    return hmac.compare_digest(expected, f"t={timestamp},v1={parts.get('v1', '')}")
