"""Reading at most a bounded prefix of an HTTP answer's body.

A receiver, a media host or an upstream provider decides how large its answer is; the
process must not.  :func:`read_prefix` reads no more than ``limit`` bytes of the body.
When more would follow, the connection is closed at once instead of being drained or
returned to the pool, so the rest is never read, buffered or waited for.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True)
class Prefix:
    """The first bytes of a body; ``truncated`` when the body went on beyond them."""

    data: bytes
    truncated: bool

    def text(self, encoding: str | None = None) -> str:
        """The bytes as text; a character cut in half at the end becomes U+FFFD."""
        try:
            return self.data.decode(encoding or "utf-8", errors="replace")
        except LookupError:
            return self.data.decode("utf-8", errors="replace")


async def read_prefix(response: aiohttp.ClientResponse, limit: int) -> Prefix:
    """At most ``limit`` bytes of ``response``'s body.

    One byte past the limit is asked for, to tell a body of exactly ``limit`` bytes (whose
    connection may be reused) from a longer one (whose connection is closed).
    """
    wanted = limit + 1
    chunks: list[bytes] = []
    size = 0
    while size < wanted:
        chunk = await response.content.read(wanted - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    data = b"".join(chunks)
    if size > limit:
        response.close()
        return Prefix(data[:limit], truncated=True)
    return Prefix(data, truncated=False)
