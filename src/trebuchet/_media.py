"""Media files (``/users/{userId}/media``): upload, list, download and delete.

``MediaMixin`` and ``AsyncMediaMixin`` add the same method names to ``Client`` and
``AsyncClient``; request building is shared in ``_MediaRequests``.  Names are sent
percent-encoded with ``/`` kept, so a name like ``"photos/cat.jpg"`` works as it is.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Generator, Iterable
from typing import IO, Any
from urllib.parse import quote

import httpx

from ._base import BaseClient, Message, RequestOptions
from ._exceptions import make_status_error

OCTET_STREAM = "application/octet-stream"
CHUNK_SIZE = 64 * 1024

Content = bytes | str | IO[bytes] | Iterable[bytes]
AsyncContent = bytes | str | IO[bytes] | Iterable[bytes] | AsyncIterable[bytes]


class _MediaRequests(BaseClient):
    """Building media requests and reading their answers (no I/O)."""

    def _media_url(self, name: str | None = None) -> str:
        base = f"/users/{quote(self.user_id or '', safe='')}/media"
        if name is None:
            return self._url(base)
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty media name, not {name!r}")
        return self._url(f"{base}/{quote(name, safe='/')}")

    def _media_request(
        self,
        http: httpx.Client | httpx.AsyncClient,
        method: str,
        name: str,
        content: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Request:
        all_headers = dict(self._default_headers)
        all_headers["Authorization"] = self._authorization
        all_headers.update(headers or {})
        return http.build_request(
            method,
            self._media_url(name),
            content=content,
            headers=all_headers,
            timeout=self._timeout if self._timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )

    @staticmethod
    def _upload_body(content: Any, content_type: str) -> tuple[Any, dict[str, str], bool]:
        """The body to send, its headers, and whether it can be sent again on a retry."""
        headers = {"Content-Type": content_type or OCTET_STREAM}
        if isinstance(content, str):
            content = content.encode()
        if isinstance(content, bytes | bytearray | memoryview):
            return bytes(content), headers, True
        if hasattr(content, "read"):
            length = _remaining(content)
            if length is not None:
                headers["Content-Length"] = str(length)
            return _file_chunks(content), headers, False
        if isinstance(content, Iterable | AsyncIterable):
            return content, headers, False
        raise TypeError(
            "content must be bytes, a file opened in binary mode or an iterable of bytes, "
            f"not {type(content).__name__}"
        )

    def _upload_retry(
        self,
        name: str,
        replayable: bool,
        attempt: int,
        *,
        response: httpx.Response | None = None,
        exc: httpx.TransportError | None = None,
    ) -> float | None:
        """After one try of an upload: None when it is done, else the seconds to wait
        before the next; raises when it failed for good.  A PUT of the same bytes under
        the same name is idempotent, so bytes are retried; a stream cannot be sent twice."""
        if response is not None and response.status_code < 400:
            return None
        if not replayable:
            if exc is not None:
                raise exc
            assert response is not None
            raise make_status_error(response)
        options = RequestOptions("PUT", self._media_url(name), idempotency_key="media-put")
        return self._retry_or_raise(options, attempt, response=response, exc=exc)

    @staticmethod
    def _downloaded(response: httpx.Response) -> tuple[bytes, str]:
        return response.content, response.headers.get("content-type", OCTET_STREAM)


def _remaining(handle: IO[bytes]) -> int | None:
    try:
        return os.fstat(handle.fileno()).st_size - handle.tell()
    except (AttributeError, OSError, ValueError):
        return None


def _file_chunks(handle: IO[bytes]) -> Generator[bytes, None, None]:
    while chunk := handle.read(CHUNK_SIZE):
        yield chunk


class MediaMixin(_MediaRequests):
    """The media methods of ``Client``."""

    _http: httpx.Client
    _sleep: Callable[[float], None]

    # Provided by ``Client``.
    def _send(self, options: RequestOptions) -> httpx.Response:
        raise NotImplementedError

    def _iterate(self, options: RequestOptions) -> Generator[Message, None, None]:
        raise NotImplementedError

    def upload_media(self, name: str, content: Content, content_type: str = OCTET_STREAM) -> None:
        """Upload a file (or replace the one with that name): bytes, a file opened in
        binary mode (streamed, never read into memory) or an iterable of bytes chunks.

        Example::

            with open("cat.jpg", "rb") as f:
                api.upload_media("pets/cat.jpg", f, content_type="image/jpeg")
        """
        body, headers, replayable = self._upload_body(content, content_type)
        attempt = 0
        while True:
            request = self._media_request(self._http, "PUT", name, body, headers)
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                delay = self._upload_retry(name, replayable, attempt, exc=exc)
            else:
                delay = self._upload_retry(name, replayable, attempt, response=response)
            if delay is None:
                return
            self._sleep(delay)
            attempt += 1

    def list_media(self) -> Generator[Message, None, None]:
        """Iterate over the user's files (``media_name``, ``content_length``, ``content``),
        following every next page.

        Example::

            for item in api.list_media():
                print(item["media_name"], item["content_length"])
        """
        return self._iterate(RequestOptions("GET", self._media_url()))

    def download_media(self, name: str) -> tuple[bytes, str]:
        """The file's bytes and its content type.

        Example::

            content, content_type = api.download_media("pets/cat.jpg")
        """
        return self._downloaded(self._send(RequestOptions("GET", self._media_url(name))))

    def stream_media(self, name: str, chunk_size: int = CHUNK_SIZE) -> Generator[bytes, None, None]:
        """The file's bytes in chunks, never all in memory; the download starts when
        iteration does and its connection is released when iteration ends.

        Example::

            with open("copy.mp4", "wb") as out:
                for chunk in api.stream_media("videos/big.mp4"):
                    out.write(chunk)
        """
        self._media_url(name)  # validates the name now
        request = self._media_request(self._http, "GET", name)
        return self._stream(request, chunk_size)

    def _stream(self, request: httpx.Request, chunk_size: int) -> Generator[bytes, None, None]:
        response = self._http.send(request, stream=True)
        try:
            if response.status_code >= 400:
                response.read()
                raise make_status_error(response)
            yield from response.iter_bytes(chunk_size)
        finally:
            response.close()

    def delete_media(self, name: str) -> None:
        """Delete a file; the name can be used again at once.

        Example::

            api.delete_media("pets/cat.jpg")
        """
        self._send(RequestOptions("DELETE", self._media_url(name)))


class AsyncMediaMixin(_MediaRequests):
    """The media methods of ``AsyncClient``."""

    _http: httpx.AsyncClient
    _sleep: Callable[[float], Awaitable[None]]

    # Provided by ``AsyncClient``.
    async def _send(self, options: RequestOptions) -> httpx.Response:
        raise NotImplementedError

    def _iterate(self, options: RequestOptions) -> AsyncGenerator[Message, None]:
        raise NotImplementedError

    async def upload_media(
        self, name: str, content: AsyncContent, content_type: str = OCTET_STREAM
    ) -> None:
        """Upload a file (see ``Client.upload_media``); also takes an async iterable.

        Example::

            await api.upload_media("pets/cat.jpg", jpeg_bytes, content_type="image/jpeg")
        """
        body, headers, replayable = self._upload_body(content, content_type)
        if isinstance(body, Iterable) and not isinstance(body, bytes):
            body = _aiter(body)
        attempt = 0
        while True:
            request = self._media_request(self._http, "PUT", name, body, headers)
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                delay = self._upload_retry(name, replayable, attempt, exc=exc)
            else:
                delay = self._upload_retry(name, replayable, attempt, response=response)
            if delay is None:
                return
            await self._sleep(delay)
            attempt += 1

    def list_media(self) -> AsyncGenerator[Message, None]:
        """Iterate over the user's files with ``async for`` (see ``Client.list_media``).

        Example::

            async for item in api.list_media():
                print(item["media_name"])
        """
        return self._iterate(RequestOptions("GET", self._media_url()))

    async def download_media(self, name: str) -> tuple[bytes, str]:
        """The file's bytes and its content type.

        Example::

            content, content_type = await api.download_media("pets/cat.jpg")
        """
        return self._downloaded(await self._send(RequestOptions("GET", self._media_url(name))))

    def stream_media(self, name: str, chunk_size: int = CHUNK_SIZE) -> AsyncGenerator[bytes, None]:
        """The file's bytes in chunks with ``async for`` (see ``Client.stream_media``).

        Example::

            async for chunk in api.stream_media("videos/big.mp4"):
                sink.write(chunk)
        """
        self._media_url(name)
        request = self._media_request(self._http, "GET", name)
        return self._stream(request, chunk_size)

    async def _stream(self, request: httpx.Request, chunk_size: int) -> AsyncGenerator[bytes, None]:
        response = await self._http.send(request, stream=True)
        try:
            if response.status_code >= 400:
                await response.aread()
                raise make_status_error(response)
            async for chunk in response.aiter_bytes(chunk_size):
                yield chunk
        finally:
            await response.aclose()

    async def delete_media(self, name: str) -> None:
        """Delete a file.

        Example::

            await api.delete_media("pets/cat.jpg")
        """
        await self._send(RequestOptions("DELETE", self._media_url(name)))


async def _aiter(chunks: Iterable[bytes]) -> AsyncGenerator[bytes, None]:
    for chunk in chunks:
        yield chunk
