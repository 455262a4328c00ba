"""Whether what a client sent is the secret it should be, in constant time."""

from __future__ import annotations

import hmac


def token_matches(given: str, expected: str) -> bool:
    """``given == expected`` in time that does not tell where they differ.

    Compared as bytes: ``compare_digest`` refuses strings with non-ASCII characters, and
    a header or query may carry any (undecodable bytes arrive as surrogate escapes).
    """
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())
