"""Signed media links: a user's stored file made fetchable by a provider, without credentials.

A hosted provider (Twilio, Bandwidth) fetches an MMS's media itself, with no account on
this server.  For a media URL of our own, the carrier hands the provider a link under
``public_url``: ``/v1/media-links/{userId}/{name}?expires=<unix seconds>&signature=<hex>``,
where the signature is HMAC-SHA256, keyed by a secret the server keeps in its store, of
the user id, the name and the expiry.  The route that serves it is ``api/media_links.py``;
a link past its expiry, or with any part changed, is refused.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

from trebuchet.server.domain.tokens import token_matches
from trebuchet.server.media.names import name_path

PATH = "/v1/media-links"
# The store's meta key of the signing secret.
SECRET_KEY = "media_link_secret"
# How long a link stays valid: providers fetch at send time, retries within hours.
LIFETIME_SECONDS = 7 * 24 * 3600


def signature(secret: str, user_id: str, name: str, expires: int) -> str:
    text = f"{user_id}\n{name}\n{expires}".encode()
    return hmac.new(secret.encode(), text, hashlib.sha256).hexdigest()


def signed_link(root: str, secret: str, user_id: str, name: str, expires: int) -> str:
    """The public link to ``name`` of ``user_id``, valid until ``expires`` (unix seconds)."""
    query = urlencode({"expires": expires, "signature": signature(secret, user_id, name, expires)})
    return f"{root.rstrip('/')}{PATH}/{user_id}/{name_path(name)}?{query}"


def link_valid(secret: str, user_id: str, name: str, expires: int, given: str, now: float) -> bool:
    """Whether ``given`` signs this user, name and expiry, and the expiry is still ahead."""
    expected = signature(secret, user_id, name, expires)
    return now < expires and token_matches(given, expected)
