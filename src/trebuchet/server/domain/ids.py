"""Resource identifiers: a prefix and 23 characters of lowercase base32 (``a-z2-7``)."""

from __future__ import annotations

import base64
import secrets

_ID_LENGTH = 23


def new_id(prefix: str) -> str:
    """A fresh id such as ``m-dr4mcch2wfb6frcls677glq`` (115 random bits)."""
    raw = base64.b32encode(secrets.token_bytes(15)).decode("ascii").lower()
    return f"{prefix}-{raw[:_ID_LENGTH]}"


def new_message_id() -> str:
    return new_id("m")


def new_secret(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)
