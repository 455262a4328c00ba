"""Media files in an S3-compatible bucket, so several machines serve the same media.

Objects (``media_s3_prefix`` first, when set)::

    <prefix>users/<userId>/<hex of the name's UTF-8>    one object per media file

The per-user namespace and the name rules are the filesystem's (the same user-id check,
:func:`~trebuchet.server.media.names.check_name`), and like the filesystem's encoding the
key's last part never holds a ``/``, so a name cannot reach outside its user's prefix or
clash with a longer name below it.  The encoding is hexadecimal rather than
percent-encoding because an object store lists keys in byte order: the hex of UTF-8
sorts exactly as the names do, so "list after a marker" is one ``StartAfter`` and keeps
the API's keyset pages in name order.  Percent-encoding would sort ``a%2Fb`` before
``a-``.

A file's metadata travels with its object: ``Content-Type`` and ``Cache-Control`` as the
object's own headers, the name (percent-encoded) and the creation time in microseconds
as user metadata (``x-amz-meta-name``, ``x-amz-meta-created``).

Nothing is held whole in memory: an upload is buffered up to one part
(:data:`PART_SIZE`), sent with one ``PutObject`` when it fits, else as a multipart upload
that is completed at the end or aborted on any failure (too large, empty, the client
gone), so the previous object stays as it was.  Opening a file is one ``GetObject``
from byte 0: its answer is the metadata (no ``HeadObject`` first) and its body serves a
read from the start, streamed in chunks.  Any other read is a ranged ``GetObject``
pinned to the object that answer was: its version when the bucket keeps versions,
otherwise its ETag (``If-Match``), so a reader racing a replacement gets
:class:`MediaChanged` rather than a mix of old and new bytes.

Credentials come from the usual AWS chain (environment, shared config, instance role),
never from Trebuchet's settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterable, AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import BotoCoreError, ClientError

from trebuchet.server.media.names import check_name
from trebuchet.server.media.s3_upload import MultipartUpload
from trebuchet.server.media.storage import (
    READ_CHUNK,
    MediaChanged,
    MediaEntry,
    MediaInfo,
    MediaNotFound,
    MediaStorageUnavailable,
    SizedChunks,
)

__all__ = ["MediaChanged", "MediaStorageUnavailable", "S3MediaStorage", "S3OpenMedia"]

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

# S3's smallest part (all but the last); also the most an upload holds in memory.
PART_SIZE = 5 * 1024 * 1024
LIST_PAGE = 1000  # the most S3 answers per ListObjectsV2 call
# Tries per request (botocore's standard mode: throttling, 5xx and connection errors are
# tried again with jittered backoff, so a store that is down answers in a few seconds).
ATTEMPTS = 3
_USER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_CHANGED = {"412", "PreconditionFailed"}


_sessions: list[AioSession] = []


def _session() -> AioSession:
    """One session per process: it parses S3's service model once for every client."""
    if not _sessions:
        _sessions.append(get_session())
    return _sessions[0]


def object_name(name: str) -> str:
    """The last part of a media file's key: the hex of its name's UTF-8."""
    return name.encode("utf-8", "surrogatepass").hex()


def name_of(part: str) -> str | None:
    """The media name a key's last part spells, None for an object that is not ours."""
    try:
        return bytes.fromhex(part).decode("utf-8")
    except ValueError:
        return None


def _code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return str(error.get("Code", ""))


def _status(exc: ClientError) -> str:
    return str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def _missing(exc: ClientError) -> bool:
    return _code(exc) in _NOT_FOUND or _status(exc) == "404"


def unavailable(exc: BaseException, bucket: str) -> MediaStorageUnavailable:
    text = str(exc).strip().splitlines()
    return MediaStorageUnavailable(
        f"S3 bucket {bucket!r}: {text[0] if text else type(exc).__name__}"
    )


def _etag(object_etag: str, created_us: int) -> str:
    """S3's ETag (the bytes) with the creation time, so every upload has a new one."""
    return f'"{object_etag.strip(chr(34))}-{created_us:x}"'


def _info(name: str, head: Any, size: int | None = None) -> MediaInfo:
    """A file's metadata from a HEAD's answer, or a GET's (``size``: the whole object's
    when the answer holds only a range of it)."""
    created = str(head.get("Metadata", {}).get("created", ""))
    created_us = int(created) if created.isdigit() else 0
    return MediaInfo(
        name=name,
        size=int(head["ContentLength"]) if size is None else size,
        content_type=str(head.get("ContentType") or "application/octet-stream"),
        created_us=created_us,
        etag=_etag(str(head.get("ETag", "")), created_us),
        cache_control=head.get("CacheControl") or None,
    )


def _whole_size(answer: Any) -> int:
    """The object's size from a ranged GET's ``Content-Range`` (``bytes 0-9/10``), or its
    ``Content-Length`` from a store that answered the whole object."""
    content_range = str(answer.get("ContentRange") or "")
    total = content_range.rpartition("/")[2]
    return int(total) if total.isdigit() else int(answer["ContentLength"])


def _pin(answer: Any) -> dict[str, str]:
    """What later reads ask for: the version read, or else its ETag."""
    version = answer.get("VersionId")
    if version and version != "null":
        return {"VersionId": str(version)}
    return {"IfMatch": str(answer["ETag"])}


class S3OpenMedia:
    """One object held open: ranged reads of the version (or ETag) seen at open.

    The open itself was a GET of the whole object (its answer carries the metadata), and
    its body is kept for the first read that starts at byte 0, so a download from the
    start costs one request; any other read is a ranged GET of its own, pinned.
    """

    def __init__(
        self,
        storage: S3MediaStorage,
        key: str,
        info: MediaInfo,
        pin: dict[str, str],
        body: Any = None,
    ) -> None:
        self._storage = storage
        self._key = key
        self._pin = pin
        self._body = body  # the open's answer, from byte 0 to the end, unread
        self.info = info

    @property
    def version_id(self) -> str | None:
        return self._pin.get("VersionId")

    def _release(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.close()

    async def chunks(self, start: int = 0, stop: int | None = None) -> AsyncIterator[bytes]:
        end = self.info.size if stop is None else min(stop, self.info.size)
        if start >= end:
            return
        if start == 0 and self._body is not None:
            body, self._body = self._body, None
        else:
            self._release()
            body = await self._ranged(start, end)
        try:
            remaining = end - start
            while remaining > 0:
                data = await body.read(min(READ_CHUNK, remaining))
                if not data:
                    raise OSError(f"media {self.info.name!r} ended early")
                remaining -= len(data)
                yield data
        finally:
            body.close()

    async def _ranged(self, start: int, end: int) -> Any:
        """The body of a GET of bytes ``start`` to ``end`` (exclusive), pinned."""
        client = await self._storage.client()
        try:
            answer = await client.get_object(
                Bucket=self._storage.bucket,
                Key=self._key,
                Range=f"bytes={start}-{end - 1}",
                **self._pin,  # type: ignore[arg-type]
            )
        except ClientError as exc:
            if _missing(exc) or _code(exc) in _CHANGED or _status(exc) == "412":
                raise MediaChanged(self.info.name) from None
            raise unavailable(exc, self._storage.bucket) from exc
        except BotoCoreError as exc:
            raise unavailable(exc, self._storage.bucket) from exc
        return answer["Body"]

    async def aclose(self) -> None:
        """Let go of the open's answer if it was not read (its connection is dropped)."""
        self._release()

    async def __aenter__(self) -> S3OpenMedia:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class S3MediaStorage:
    """Media files in an S3-compatible bucket (see the module docstring).

    The client is made on first use in the running event loop and closed by
    :meth:`aclose` (a later call makes a new one).
    """

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str = "",
        region: str = "us-east-1",
        prefix: str = "",
        part_size: int = PART_SIZE,
        attempts: int = ATTEMPTS,
    ) -> None:
        if not bucket:
            raise ValueError("the S3 media storage needs a bucket")
        self.bucket = bucket
        self.endpoint_url = endpoint_url or None
        self.region = region
        self.prefix = prefix
        self.part_size = part_size
        self.attempts = attempts
        self._exit: contextlib.AsyncExitStack | None = None
        self._client: S3Client | None = None
        self._lock = asyncio.Lock()

    # -- the client ----------------------------------------------------------------

    async def client(self) -> S3Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                config = AioConfig(
                    connect_timeout=5,
                    read_timeout=30,
                    retries={"mode": "standard", "max_attempts": self.attempts},
                    max_pool_connections=64,
                    # A custom endpoint (MinIO, Ceph, ...) is addressed by path.
                    s3={"addressing_style": "path" if self.endpoint_url else "auto"},
                    # Checksums only where S3 requires them: not every S3-compatible
                    # store understands the newer trailing checksums.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                )
                stack = contextlib.AsyncExitStack()
                self._client = await stack.enter_async_context(
                    _session().create_client(
                        "s3",
                        region_name=self.region,
                        endpoint_url=self.endpoint_url,
                        config=config,
                    )
                )
                self._exit = stack
        return self._client

    async def aclose(self) -> None:
        stack, self._exit, self._client = self._exit, None, None
        if stack is not None:
            await stack.aclose()

    async def check(self) -> None:
        """Raise :class:`MediaStorageUnavailable` unless the bucket answers to us."""
        client = await self.client()
        try:
            await client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, self.bucket) from exc

    # -- keys ------------------------------------------------------------------------

    def _user_prefix(self, user_id: str) -> str:
        if not _USER_ID.match(user_id):
            raise ValueError(f"not a user id: {user_id!r}")
        return f"{self.prefix}users/{user_id}/"

    def _key(self, user_id: str, name: str) -> str:
        return self._user_prefix(user_id) + object_name(check_name(name))

    # -- writing ---------------------------------------------------------------------

    async def put(
        self,
        user_id: str,
        name: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str,
        limit: int,
        cache_control: str | None = None,
        created_us: int | None = None,
    ) -> MediaInfo:
        key = self._key(user_id, name)
        created = time.time_ns() // 1000 if created_us is None else created_us
        fields: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "ContentType": content_type,
            "Metadata": {"name": quote(name, safe=""), "created": str(created)},
        }
        if cache_control:
            fields["CacheControl"] = cache_control
        client = await self.client()
        upload = MultipartUpload(client, fields, self.part_size)
        sized = SizedChunks(chunks, limit, name)
        try:
            async for chunk in sized:
                await upload.add(chunk)
            tag = await upload.finish()
        except (ClientError, BotoCoreError) as exc:
            await asyncio.shield(upload.abort())
            raise unavailable(exc, self.bucket) from exc
        except BaseException:
            await asyncio.shield(upload.abort())
            raise
        return MediaInfo(
            name=name,
            size=sized.size,
            content_type=content_type,
            created_us=created,
            etag=_etag(tag, created),
            cache_control=cache_control,
        )

    # -- reading ---------------------------------------------------------------------

    async def _head(self, key: str, name: str) -> Any:
        client = await self.client()
        try:
            return await client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                raise MediaNotFound(name) from None
            raise unavailable(exc, self.bucket) from exc
        except BotoCoreError as exc:
            raise unavailable(exc, self.bucket) from exc

    async def open(self, user_id: str, name: str) -> S3OpenMedia:
        """One ``GetObject`` from byte 0: its answer is the metadata, and its body the
        first read's bytes (no ``HeadObject`` first)."""
        key = self._key(user_id, name)
        client = await self.client()
        try:
            answer = await client.get_object(Bucket=self.bucket, Key=key, Range="bytes=0-")
        except ClientError as exc:
            if _missing(exc):
                raise MediaNotFound(name) from None
            if _code(exc) == "InvalidRange":  # an empty object, not one of ours
                head = await self._head(key, name)
                return S3OpenMedia(self, key, _info(name, head), _pin(head))
            raise unavailable(exc, self.bucket) from exc
        except BotoCoreError as exc:
            raise unavailable(exc, self.bucket) from exc
        info = _info(name, answer, _whole_size(answer))
        return S3OpenMedia(self, key, info, _pin(answer), answer["Body"])

    async def stat(self, user_id: str, name: str) -> MediaInfo | None:
        key = self._key(user_id, name)
        try:
            return _info(name, await self._head(key, name))
        except MediaNotFound:
            return None

    async def list(self, user_id: str, *, after: str | None, limit: int) -> list[MediaEntry]:
        prefix = self._user_prefix(user_id)
        client = await self.client()
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if after is not None:
            request["StartAfter"] = prefix + object_name(after)
        entries: list[MediaEntry] = []
        try:
            while len(entries) < limit:
                request["MaxKeys"] = min(LIST_PAGE, limit - len(entries))
                page = await client.list_objects_v2(**request)
                for item in page.get("Contents", []):
                    name = name_of(item["Key"][len(prefix) :])
                    if name is not None:
                        entries.append(MediaEntry(name, int(item["Size"])))
                token = page.get("NextContinuationToken")
                if not page.get("IsTruncated") or not token:
                    break
                request["ContinuationToken"] = token
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, self.bucket) from exc
        return entries[:limit]

    async def delete(self, user_id: str, name: str) -> bool:
        key = self._key(user_id, name)
        if await self.stat(user_id, name) is None:
            return False  # S3 answers a delete of nothing as a success: ask first
        client = await self.client()
        try:
            await client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, self.bucket) from exc
        return True
