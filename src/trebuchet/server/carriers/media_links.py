"""Our own media URLs in an outbound MMS, turned into links a provider can fetch.

A media URL that addresses the sending user's store (``/v1/users/{userId}/media/{name}``)
needs the user's credentials; a hosted provider has none.  :class:`MediaLinks` replaces it
with a signed link under ``public_url`` (``media/links.py``); any other URL (external
media, another user's path) goes to the provider as it is.
"""

from __future__ import annotations

import secrets
import time

from trebuchet.server.carriers.base import OutboundMessage
from trebuchet.server.config import Settings
from trebuchet.server.media.links import LIFETIME_SECONDS, SECRET_KEY, signed_link
from trebuchet.server.media.names import parse_media_url
from trebuchet.server.store import Store


def public_root(settings: Settings) -> str:
    return (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")


class MediaLinks:
    def __init__(self, store: Store, root: str):
        self._store = store
        self._root = root
        self._secret: str | None = None

    @classmethod
    def from_settings(cls, store: Store, settings: Settings) -> MediaLinks:
        return cls(store, public_root(settings))

    async def _key(self) -> str:
        if self._secret is None:
            self._secret = await self._store.meta.setting(SECRET_KEY, lambda: secrets.token_hex(32))
        return self._secret

    async def public(self, message: OutboundMessage) -> list[str]:
        """The message's media URLs as the provider should be given them."""
        urls: list[str] = []
        expires = int(time.time()) + LIFETIME_SECONDS
        for url in message.media:
            ref = parse_media_url(url)
            if ref is None or ref.user_id != message.user_id:
                urls.append(url)
            else:
                secret = await self._key()
                urls.append(signed_link(self._root, secret, ref.user_id, ref.name, expires))
        return urls
