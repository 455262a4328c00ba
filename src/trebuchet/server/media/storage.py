"""Where media files live: a small interface and its local filesystem implementation.

The interface is shaped after an S3-compatible object store (put a stream, open with
ranged reads, list by name after a marker, delete); :mod:`trebuchet.server.media.s3` is
that store, next to :class:`LocalMediaStorage`, and :func:`media_storage` picks one from
the settings (``media_backend``).  Every user has a namespace of their own; nothing in
the interface reaches across users.

On disk (``media_dir``)::

    users/<userId>/<encoded name>   one file per media: a 1 KiB header, then the bytes
    tmp/<random>.part               uploads in progress

A media file's metadata (content type, ``Cache-Control``, creation time, its name) is in
the file's own fixed-size header, the way an object store keeps object metadata with the
object.  An upload is written to ``tmp/``, flushed to disk and renamed over the old file
in one step, so a reader sees the old file or the new one, never a mix, and a crash
leaves at most a stray ``.part`` file (swept after a day).  The name is percent-encoded
into a single file name, so names with ``/`` never create directories and cannot reach
outside the user's directory.  Directories the storage creates are readable by the
server's user only (0700), files too (0600), whatever the process's umask.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO, Protocol
from urllib.parse import quote, unquote

from trebuchet.server.config import Settings
from trebuchet.server.media.names import check_name

if TYPE_CHECKING:
    from trebuchet.server.media.s3 import S3MediaStorage

HEADER_SIZE = 1024
_MAGIC = b"trebuchet-media 1\n"
READ_CHUNK = 64 * 1024
WRITE_BATCH = 256 * 1024
STALE_UPLOAD_SECONDS = 24 * 3600
_USER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


@dataclass(frozen=True)
class MediaInfo:
    name: str
    size: int
    content_type: str
    created_us: int
    # A validator that changes whenever the bytes may have (for ETag and If-Range).
    etag: str
    cache_control: str | None = None


@dataclass(frozen=True)
class MediaEntry:
    """One line of a listing."""

    name: str
    size: int


class MediaNotFound(LookupError):
    def __init__(self, name: str):
        super().__init__(f"no media named {name!r}")
        self.name = name


class MediaTooLarge(Exception):
    """More than ``limit`` bytes arrived (``size`` is how many had arrived when we stopped)."""

    def __init__(self, size: int, limit: int):
        super().__init__(f"the media size {size} bytes is larger than the maximum {limit} bytes")
        self.size = size
        self.limit = limit


class EmptyMedia(ValueError):
    """An upload with no bytes: media files are never empty."""


class MediaStorageUnavailable(OSError):
    """A remote storage did not answer, or refused the request (one line says why)."""


class MediaChanged(OSError):
    """The file was replaced or deleted while open, and the storage cannot keep the bytes
    it had (an S3 bucket without versioning): the reader stops rather than mix them."""

    def __init__(self, name: str):
        super().__init__(f"media {name!r} changed while it was being read")
        self.name = name


class OpenMedia(Protocol):
    """One media file held open: its metadata and its bytes stay consistent until closed."""

    info: MediaInfo

    def chunks(self, start: int = 0, stop: int | None = None) -> AsyncIterator[bytes]:
        """The bytes ``start`` (inclusive) to ``stop`` (exclusive; None = the end)."""
        ...

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> OpenMedia: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class MediaStorage(Protocol):
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
        """Store (or replace) a file from a stream, all or nothing.

        ``created_us`` keeps a creation time from elsewhere (a file moved between
        storages); by default it is now.  Raises :class:`MediaTooLarge` past ``limit``
        bytes and :class:`EmptyMedia` when the stream is empty; the previous file, if
        any, is then left as it was.
        """
        ...

    async def open(self, user_id: str, name: str) -> OpenMedia:
        """Raises :class:`MediaNotFound`."""
        ...

    async def stat(self, user_id: str, name: str) -> MediaInfo | None: ...

    async def list(self, user_id: str, *, after: str | None, limit: int) -> list[MediaEntry]:
        """Up to ``limit`` files in name order, starting after the name ``after``."""
        ...

    async def delete(self, user_id: str, name: str) -> bool:
        """False when there was no such file."""
        ...

    async def aclose(self) -> None:
        """Let go of connections (the storage may be used again afterwards)."""
        ...


class SizedChunks:
    """An upload's chunks, checked as they arrive: more than ``limit`` bytes raises
    :class:`MediaTooLarge` at once, none at all :class:`EmptyMedia` at the end.
    ``size`` is the bytes seen so far.  Every storage reads its uploads through this."""

    def __init__(self, chunks: AsyncIterable[bytes], limit: int, name: str):
        self._chunks = chunks
        self._limit = limit
        self._name = name
        self.size = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            self.size += len(chunk)
            if self.size > self._limit:
                raise MediaTooLarge(self.size, self._limit)
            yield chunk
        if self.size == 0:
            raise EmptyMedia(f"the media {self._name!r} has no content")


async def read_all(storage: MediaStorage, user_id: str, name: str) -> tuple[MediaInfo, bytes]:
    async with await storage.open(user_id, name) as media:
        return media.info, b"".join([chunk async for chunk in media.chunks()])


async def put_bytes(
    storage: MediaStorage, user_id: str, name: str, content: bytes, content_type: str, limit: int
) -> MediaInfo:
    async def one() -> AsyncIterator[bytes]:
        yield content

    return await storage.put(user_id, name, one(), content_type=content_type, limit=limit)


# -- the local filesystem --------------------------------------------------------------


def file_name(name: str) -> str:
    """One file name for a media name: percent-encoded, never hidden, never ``/``."""
    encoded = quote(name, safe="")
    return "%2E" + encoded[1:] if encoded.startswith(".") else encoded


def make_private_dirs(path: Path) -> None:
    """``path`` and any missing parents, each created 0700 (existing ones are left alone)."""
    missing = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # made at the same moment by another process
        os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode is reduced by the umask


def _create_private(path: Path) -> BinaryIO:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def _header(info: dict[str, object]) -> bytes:
    body = _MAGIC + json.dumps(info, ensure_ascii=True).encode() + b"\n"
    if len(body) > HEADER_SIZE:
        raise ValueError("media metadata does not fit the header")
    return body.ljust(HEADER_SIZE - 1, b" ") + b"\n"


def _parse_header(raw: bytes) -> dict[str, object]:
    if len(raw) != HEADER_SIZE or not raw.startswith(_MAGIC):
        raise OSError("not a media file (bad header)")
    value = json.loads(raw[len(_MAGIC) :])
    if not isinstance(value, dict):
        raise OSError("not a media file (bad header)")
    return value


class LocalOpenMedia:
    def __init__(self, handle: BinaryIO, info: MediaInfo):
        self._handle = handle
        self.info = info

    async def chunks(self, start: int = 0, stop: int | None = None) -> AsyncIterator[bytes]:
        end = self.info.size if stop is None else min(stop, self.info.size)
        position = start
        while position < end:
            want = min(READ_CHUNK, end - position)
            offset = HEADER_SIZE + position
            data = await asyncio.to_thread(os.pread, self._handle.fileno(), want, offset)
            if not data:
                raise OSError(f"media {self.info.name!r} ended early")
            position += len(data)
            yield data

    async def aclose(self) -> None:
        self._handle.close()

    async def __aenter__(self) -> LocalOpenMedia:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class LocalMediaStorage:
    """Media files in a directory on the local filesystem (see the module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).absolute()
        self._swept = False

    def _user_dir(self, user_id: str) -> Path:
        if not _USER_ID.match(user_id):
            raise ValueError(f"not a user id: {user_id!r}")
        return self.root / "users" / user_id

    def _path(self, user_id: str, name: str) -> Path:
        path = self._user_dir(user_id) / file_name(check_name(name))
        # file_name never yields a separator; this guards the invariant, not user input.
        if path.parent != self._user_dir(user_id):
            raise ValueError(f"media name {name!r} escapes its directory")
        return path

    # -- writing -------------------------------------------------------------------

    def _temp(self) -> tuple[Path, BinaryIO]:
        tmp = self.root / "tmp"
        make_private_dirs(tmp)
        if not self._swept:
            self._swept = True
            cutoff = time.time() - STALE_UPLOAD_SECONDS
            for stray in tmp.glob("*.part"):
                try:
                    if stray.stat().st_mtime < cutoff:
                        stray.unlink()
                except OSError:
                    pass
        path = tmp / f"{secrets.token_hex(12)}.part"
        return path, _create_private(path)

    @staticmethod
    def _commit(handle: BinaryIO, temp: Path, final: Path) -> os.stat_result:
        handle.flush()
        os.fsync(handle.fileno())
        stat = os.fstat(handle.fileno())
        handle.close()
        make_private_dirs(final.parent)
        os.replace(temp, final)
        directory = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return stat

    @staticmethod
    def _discard(handle: BinaryIO, temp: Path) -> None:
        handle.close()
        temp.unlink(missing_ok=True)

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
        final = self._path(user_id, name)
        created = time.time_ns() // 1000 if created_us is None else created_us
        meta: dict[str, object] = {"name": name, "contentType": content_type, "created": created}
        if cache_control:
            meta["cacheControl"] = cache_control
        header = _header(meta)
        temp, handle = await asyncio.to_thread(self._temp)
        sized = SizedChunks(chunks, limit, name)
        try:
            handle.write(header)
            batch: list[bytes] = []
            batched = 0
            async for chunk in sized:
                batch.append(chunk)
                batched += len(chunk)
                if batched >= WRITE_BATCH:
                    await asyncio.to_thread(handle.write, b"".join(batch))
                    batch, batched = [], 0
            if batch:
                await asyncio.to_thread(handle.write, b"".join(batch))
            stat = await asyncio.to_thread(self._commit, handle, temp, final)
        except BaseException:
            self._discard(handle, temp)
            raise
        return MediaInfo(
            name=name,
            size=sized.size,
            content_type=content_type,
            created_us=created,
            etag=_etag(stat),
            cache_control=cache_control,
        )

    # -- reading -------------------------------------------------------------------

    def _open(self, user_id: str, name: str) -> LocalOpenMedia:
        path = self._path(user_id, name)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - owned by LocalOpenMedia
        except (FileNotFoundError, NotADirectoryError):
            raise MediaNotFound(name) from None
        try:
            meta = _parse_header(handle.read(HEADER_SIZE))
            stat = os.fstat(handle.fileno())
            info = MediaInfo(
                name=name,
                size=stat.st_size - HEADER_SIZE,
                content_type=str(meta["contentType"]),
                created_us=int(str(meta.get("created", 0))),
                etag=_etag(stat),
                cache_control=str(meta["cacheControl"]) if meta.get("cacheControl") else None,
            )
        except BaseException:
            handle.close()
            raise
        return LocalOpenMedia(handle, info)

    async def open(self, user_id: str, name: str) -> LocalOpenMedia:
        return await asyncio.to_thread(self._open, user_id, name)

    async def stat(self, user_id: str, name: str) -> MediaInfo | None:
        try:
            media = await self.open(user_id, name)
        except MediaNotFound:
            return None
        await media.aclose()
        return media.info

    def _users(self) -> list[str]:
        try:
            with os.scandir(self.root / "users") as found:
                names = [e.name for e in found if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return []
        return sorted(name for name in names if _USER_ID.match(name))

    async def users(self) -> list[str]:
        """Every user id with a directory here (not in the interface: only a whole
        filesystem store is ever walked, to move it elsewhere)."""
        return await asyncio.to_thread(self._users)

    def _list(self, user_id: str, after: str | None, limit: int) -> list[MediaEntry]:
        entries: list[MediaEntry] = []
        try:
            with os.scandir(self._user_dir(user_id)) as found:
                for entry in found:
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    name = unquote(entry.name)
                    if after is not None and name <= after:
                        continue
                    size = entry.stat(follow_symlinks=False).st_size - HEADER_SIZE
                    entries.append(MediaEntry(name, max(size, 0)))
        except FileNotFoundError:
            return []
        entries.sort(key=lambda e: e.name)
        return entries[:limit]

    async def list(self, user_id: str, *, after: str | None, limit: int) -> list[MediaEntry]:
        return await asyncio.to_thread(self._list, user_id, after, limit)

    def _delete(self, user_id: str, name: str) -> bool:
        try:
            self._path(user_id, name).unlink()
        except FileNotFoundError:
            return False
        return True

    async def delete(self, user_id: str, name: str) -> bool:
        return await asyncio.to_thread(self._delete, user_id, name)

    async def aclose(self) -> None:
        """Nothing to let go of: each call opens and closes its own files."""


def _etag(stat: os.stat_result) -> str:
    return f'"{stat.st_size:x}-{stat.st_mtime_ns:x}-{stat.st_ino:x}"'


def media_storage(settings: Settings) -> MediaStorage:
    """The storage a deployment is configured with: the one place settings pick it."""
    if settings.media_backend == "s3":
        return s3_storage(settings)
    return LocalMediaStorage(settings.media_dir)


def s3_storage(settings: Settings) -> S3MediaStorage:
    """The bucket the ``media_s3_*`` settings name, whatever ``media_backend`` says (a
    store is moved into it before the deployment switches over)."""
    from trebuchet.server.media.s3 import S3MediaStorage  # the S3 client only when used

    return S3MediaStorage(
        settings.media_s3_bucket,
        endpoint_url=settings.media_s3_endpoint_url,
        region=settings.media_s3_region,
        prefix=settings.media_s3_prefix,
    )
