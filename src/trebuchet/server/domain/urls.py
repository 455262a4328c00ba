"""URLs as the API shows them back: credentials written into a callback URL are masked.

``http://user:secret@host/path`` is shown as ``http://***:***@host/path`` (``***@`` when
only a user name was given), so a reader sees that credentials are set but not what they
are.  The stored URL, and the request to it, keep them.
"""

from __future__ import annotations

_AUTHORITY_ENDS = "/?#"


def masked(url: str) -> str:
    if "@" not in url:
        return url
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = min((i for i in map(rest.find, _AUTHORITY_ENDS) if i >= 0), default=len(rest))
    userinfo, at, host = rest[:end].rpartition("@")
    if not at:
        return url
    mask = "***:***" if ":" in userinfo else "***"
    return f"{scheme}://{mask}@{host}{rest[end:]}"
