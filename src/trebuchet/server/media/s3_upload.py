"""One upload to an S3 bucket from a stream: buffered up to a part, then sent as one
``PutObject`` when it fits, else as a multipart upload completed at the end or aborted
on any failure, so the object is replaced whole or not at all."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client


class MultipartUpload:
    """One put: buffered up to a part, then a single PutObject or a multipart upload."""

    def __init__(self, client: S3Client, fields: dict[str, Any], part_size: int) -> None:
        self._client = client
        self._fields = fields
        self._part_size = part_size
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    async def add(self, chunk: bytes) -> None:
        self._buffer.append(chunk)
        self._buffered += len(chunk)
        while self._buffered >= self._part_size:
            await self._send_part(self._take(self._part_size))

    def _take(self, size: int) -> bytes:
        data = b"".join(self._buffer)
        head, tail = data[:size], data[size:]
        self._buffer = [tail] if tail else []
        self._buffered = len(tail)
        return head

    async def _send_part(self, data: bytes) -> None:
        bucket, key = self._fields["Bucket"], self._fields["Key"]
        if self._upload_id is None:
            started = await self._client.create_multipart_upload(**self._fields)
            self._upload_id = started["UploadId"]
        number = len(self._parts) + 1
        sent = await self._client.upload_part(
            Bucket=bucket, Key=key, UploadId=self._upload_id, PartNumber=number, Body=data
        )
        self._parts.append({"ETag": sent["ETag"], "PartNumber": number})

    async def finish(self) -> str:
        """Make the object visible; answers its ETag."""
        rest = self._take(self._buffered)
        bucket, key = self._fields["Bucket"], self._fields["Key"]
        if self._upload_id is None:
            put = await self._client.put_object(Body=rest, **self._fields)
            return str(put["ETag"])
        if rest:
            await self._send_part(rest)
        done = await self._client.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},  # type: ignore[typeddict-item]
        )
        self._upload_id = None
        return str(done.get("ETag", ""))

    async def abort(self) -> None:
        """Drop a multipart upload in progress; the previous object is untouched."""
        upload_id, self._upload_id = self._upload_id, None
        self._buffer, self._buffered = [], 0
        if upload_id is None:
            return
        with contextlib.suppress(ClientError, BotoCoreError):
            await self._client.abort_multipart_upload(
                Bucket=self._fields["Bucket"], Key=self._fields["Key"], UploadId=upload_id
            )
