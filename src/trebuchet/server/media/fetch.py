"""Fetching the media of an MMS before it is handed to a carrier, and storing received parts.

A URL into the sender's own media store is read from storage; any other ``http(s)`` URL
is fetched with aiohttp, within the limits of :class:`MmsLimits` (per-item size for
external and own media, total size for the message, connect/read/total timeouts, a
bounded number of redirects) and only from addresses the deployment's
:class:`AddressPolicy` allows.  No more than the item's limit (plus one byte, to tell
that it is over) is ever read; the bodies of error answers and redirects are not read at
all, and a connection left with unread bytes is closed, not drained.  Failures carry the
delivery error code they stand for::

    MediaFailure            code, url, reason, retryable
    ├── MediaUnavailable    media-unavailable   (network, timeout, HTTP status, refused address)
    ├── MediaTooLarge       media-size-overflow (an item or the whole message is too big)
    └── MediaNotSupported   media-not-supported (not an MMS content type, spec §5.3.3)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit

import aiohttp
from yarl import URL

from trebuchet.server.config import Settings
from trebuchet.server.media import storage as st
from trebuchet.server.media.names import media_url, parse_media_url
from trebuchet.server.media.parts import MediaPart, part_name
from trebuchet.server.media.types import mms_type
from trebuchet.server.net.bounded import read_prefix

__all__ = [
    "MediaFailure",
    "MediaFetcher",
    "MediaNotSupported",
    "MediaPart",
    "MediaTooLarge",
    "MediaUnavailable",
    "MmsLimits",
    "ReceivedMedia",
    "fetch_media",
    "part_name",
    "store_parts",
]
from trebuchet.server.net.guard import AddressPolicy, AddressRefused
from trebuchet.server.net.resolver import GuardedResolver

log = logging.getLogger("trebuchet.media")
REDIRECTS = (301, 302, 303, 307, 308)
RETRYABLE_STATUSES = (408, 425, 429, 500, 502, 503, 504)
USER_AGENT = "Trebuchet-MediaFetcher/1"


@dataclass(frozen=True)
class MmsLimits:
    external_item_bytes: int
    own_item_bytes: int
    total_bytes: int
    connect_timeout: float
    read_timeout: float
    total_timeout: float
    max_redirects: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> MmsLimits:
        return cls(
            external_item_bytes=settings.mms_max_external_bytes,
            own_item_bytes=settings.mms_max_own_bytes,
            total_bytes=settings.mms_max_total_bytes,
            connect_timeout=settings.media_fetch_connect_timeout,
            read_timeout=settings.media_fetch_read_timeout,
            total_timeout=settings.media_fetch_timeout,
        )


class MediaFailure(Exception):
    code = "media-unavailable"

    def __init__(self, url: str, message: str, reason: str, *, retryable: bool = False):
        super().__init__(message)
        self.url = url
        self.message = message
        self.reason = reason
        self.retryable = retryable


class MediaUnavailable(MediaFailure):
    code = "media-unavailable"

    def __init__(self, url: str, reason: str, *, own: bool = False, retryable: bool = False):
        where = "media" if own else "remote media"
        super().__init__(url, f"Failed to access {where} {url}", reason, retryable=retryable)


class MediaTooLarge(MediaFailure):
    code = "media-size-overflow"

    def __init__(self, url: str, size: int, limit: int, what: str = "media"):
        super().__init__(
            url,
            f"The media size {size} bytes is larger than the maximum {limit} bytes",
            f"{what} of {size} bytes exceeds {limit} bytes",
        )
        self.size = size
        self.limit = limit


class MediaNotSupported(MediaFailure):
    code = "media-not-supported"

    def __init__(self, url: str, content_type: str | None):
        shown = content_type or "(none)"
        super().__init__(url, f"Media type not supported {shown}", f"content type {shown} of {url}")


class MediaFetcher:
    """Fetches the parts of one MMS at a time; one connection pool, closed by :meth:`close`."""

    def __init__(
        self, storage: st.MediaStorage, limits: MmsLimits, policy: AddressPolicy | None = None
    ):
        self._storage = storage
        self._limits = limits
        self._policy = policy
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            resolver = GuardedResolver(self._policy) if self._policy is not None else None
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=64, resolver=resolver),
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"User-Agent": USER_AGENT},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, user_id: str, urls: Sequence[str]) -> list[MediaPart]:
        """Every part of an MMS sent by ``user_id``, in order, within the total limit."""
        parts: list[MediaPart] = []
        used = 0
        for url in urls:
            part = await self.fetch_one(user_id, url, self._limits.total_bytes - used, used)
            used += len(part.content)
            parts.append(part)
        return parts

    async def fetch_one(
        self, user_id: str, url: str, budget: int | None = None, used: int = 0
    ) -> MediaPart:
        """One part; ``budget`` is what is left of the message's total (``used`` so far)."""
        ref = parse_media_url(url)
        if ref is not None and ref.user_id == user_id:
            return await self._own(user_id, url, ref.name, budget, used)
        return await self._external(url, budget, used)

    def _cap(self, url: str, item_limit: int, budget: int | None, used: int) -> _Cap:
        if budget is None or budget >= item_limit:
            return _Cap(url, item_limit, 0, "media")
        return _Cap(url, budget, used, "all media of the message")

    async def _own(
        self, user_id: str, url: str, name: str, budget: int | None, used: int
    ) -> MediaPart:
        cap = self._cap(url, self._limits.own_item_bytes, budget, used)
        try:
            async with await self._storage.open(user_id, name) as media:
                cap.check(media.info.size)
                kind = mms_type(media.info.content_type, name)
                if kind is None:
                    raise MediaNotSupported(url, media.info.content_type)
                content = b"".join([chunk async for chunk in media.chunks()])
        except st.MediaNotFound:
            raise MediaUnavailable(url, f"there is no media named {name!r}", own=True) from None
        except st.MediaStorageUnavailable:  # its words name internal hosts: not for users
            raise MediaUnavailable(url, "the media storage is not answering", own=True) from None
        except (OSError, ValueError) as exc:
            raise MediaUnavailable(url, f"cannot read {name!r}: {exc}", own=True) from None
        return MediaPart(url, name, kind, content)

    async def _external(self, url: str, budget: int | None, used: int) -> MediaPart:
        cap = self._cap(url, self._limits.external_item_bytes, budget, used)
        limits = self._limits
        client_timeout = aiohttp.ClientTimeout(
            total=limits.total_timeout,
            connect=limits.connect_timeout,
            sock_connect=limits.connect_timeout,
            sock_read=limits.read_timeout,
        )
        try:
            async with asyncio.timeout(limits.total_timeout):
                return await self._follow(url, cap, client_timeout)
        except MediaFailure:
            raise
        except TimeoutError:
            raise MediaUnavailable(url, "timed out", retryable=True) from None
        except AddressRefused as exc:
            raise MediaUnavailable(url, str(exc)) from None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, AddressRefused):
                raise MediaUnavailable(url, str(exc.os_error)) from None
            raise MediaUnavailable(url, f"cannot connect: {exc.os_error}", retryable=True) from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise MediaUnavailable(url, f"{type(exc).__name__}: {exc}", retryable=True) from None

    async def _follow(self, url: str, cap: _Cap, limits: aiohttp.ClientTimeout) -> MediaPart:
        current = url
        for _ in range(self._limits.max_redirects + 1):
            if urlsplit(current).scheme not in ("http", "https"):
                raise MediaUnavailable(url, f"redirected to a non-HTTP URL {current}")
            if self._policy is not None:
                await self._policy.check_url(current)
            async with self._client().get(
                URL(current, encoded=True), allow_redirects=False, timeout=limits
            ) as response:
                if response.status in REDIRECTS and "Location" in response.headers:
                    current = urljoin(current, response.headers["Location"])
                    continue
                if response.status != 200:
                    raise MediaUnavailable(
                        url,
                        f"HTTP {response.status} {response.reason or ''}".strip(),
                        retryable=response.status in RETRYABLE_STATUSES,
                    )
                name = _url_name(current)
                declared = response.headers.get("Content-Type")
                kind = mms_type(declared, name)
                if kind is None:
                    raise MediaNotSupported(url, declared)
                if response.content_length is not None:
                    cap.check(response.content_length)
                body = await read_prefix(response, cap.limit)
                if body.truncated:
                    cap.check(cap.limit + 1)
                if not body.data:
                    raise MediaUnavailable(url, "the response was empty")
                return MediaPart(url, name, kind, body.data)
        raise MediaUnavailable(url, f"more than {self._limits.max_redirects} redirects")


@dataclass(frozen=True)
class _Cap:
    url: str
    limit: int
    used: int
    what: str

    def check(self, size: int) -> None:
        if size > self.limit:
            raise MediaTooLarge(self.url, self.used + size, self.used + self.limit, self.what)


def _url_name(url: str) -> str:
    return unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])


async def fetch_media(
    storage: st.MediaStorage,
    limits: MmsLimits,
    user_id: str,
    urls: Sequence[str],
    policy: AddressPolicy | None = None,
) -> list[MediaPart]:
    """Fetch the media of one MMS with a short-lived fetcher (see :class:`MediaFetcher`)."""
    fetcher = MediaFetcher(storage, limits, policy)
    try:
        return await fetcher.fetch(user_id, urls)
    finally:
        await fetcher.close()


# -- received MMS: parts into the recipient's media store ------------------------------


async def store_parts(
    storage: st.MediaStorage,
    user_id: str,
    message_id: str,
    parts: Sequence[MediaPart],
    root: str,
    limit: int,
) -> list[str]:
    """Copy received parts into ``user_id``'s media; answers their media URLs, in order."""
    urls: list[str] = []
    taken: set[str] = set()
    for index, part in enumerate(parts):
        name = part_name(part, message_id, index)
        if name in taken:
            name = f"{index + 1}_{name}"
        taken.add(name)
        await st.put_bytes(storage, user_id, name, part.content, part.content_type, limit)
        urls.append(media_url(root, user_id, name))
    return urls


class ReceivedMedia:
    """Puts the media of a received MMS into the recipient's media store.

    Parts that arrive with their bytes (the sandbox carrier's loop-back) are stored as
    they are; bare URLs (a simulated inbound message) are fetched first.  When a URL
    cannot be fetched, the message keeps the URLs it arrived with.
    """

    def __init__(self, storage: st.MediaStorage, fetcher: MediaFetcher, root: str, limit: int):
        self._storage = storage
        self._fetcher = fetcher
        self._root = root
        self._limit = limit

    async def store(
        self, user_id: str, message_id: str, parts: Sequence[MediaPart], urls: Sequence[str]
    ) -> list[str]:
        if not parts and urls:
            try:
                parts = await self._fetcher.fetch("", urls)
            except MediaFailure as exc:
                log.warning("inbound message %s keeps its media URLs: %s", message_id, exc.reason)
                return list(urls)
        return await store_parts(self._storage, user_id, message_id, parts, self._root, self._limit)
