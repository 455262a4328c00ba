"""Outbound reads are bounded: a callback receiver, an upstream carrier or a media host
answering with a huge body has only a small prefix read before the connection is
dropped.  Each body is generated while it is written, and the server counts what it
managed to write: far less than the body, where reading it all would take every byte."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.carriers.test_smpp_carrier import out
from tests.conftest import serve_http
from tests.engine.conftest import Behaviour, Bench, Receiver
from trebuchet.server.callbacks.sender import ANSWER_PREFIX_BYTES
from trebuchet.server.carriers.base import TransientFailure
from trebuchet.server.carriers.http_upstream import HttpUpstreamCarrier, UpstreamConfig
from trebuchet.server.carriers.refs import MemoryRefs
from trebuchet.server.media.fetch import MediaFetcher, MediaTooLarge, MediaUnavailable, MmsLimits
from trebuchet.server.media.storage import LocalMediaStorage
from trebuchet.server.net.guard import AddressPolicy

FROM, TO = "+15550001111", "+15557654321"
BODY_BYTES = 64 * 1024 * 1024
# Socket buffers on both ends hold a few MiB that the server counts as written.
MOST_WRITTEN = BODY_BYTES // 4
CHUNK = 64 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HEAD = b"receiver says: no such account. "
LIMITS = MmsLimits(
    external_item_bytes=1024 * 1024, own_item_bytes=1024 * 1024, total_bytes=2 * 1024 * 1024,
    connect_timeout=2.0, read_timeout=2.0, total_timeout=10.0,
)  # fmt: skip


@dataclass
class Flood:
    """Answers with ``size`` bytes made as they are written; counts the bytes written."""

    size: int = BODY_BYTES
    written: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def answer(
        self, status: int, *, sized: bool = True, content_type: str = "text/plain"
    ) -> Behaviour:
        async def flood(request: web.Request, count: int) -> web.StreamResponse:
            response = web.StreamResponse(status=status, headers={"Content-Type": content_type})
            if sized:
                response.content_length = self.size
            else:
                response.enable_chunked_encoding()
            await response.prepare(request)
            filler = b"x" * CHUNK
            try:
                await response.write(HEAD)
                self.written = len(HEAD)
                while self.written < self.size:
                    piece = filler[: self.size - self.written]
                    await response.write(piece)
                    self.written += len(piece)
                await response.write_eof()
            except ConnectionError:
                pass  # the reader hung up: what this test wants
            finally:
                self.done.set()
            return response

        return flood

    def handler(self, status: int, **shape: Any) -> Handler:
        """The answer for a server with one handler (no request count)."""
        behaviour = self.answer(status, **shape)

        async def handle(request: web.Request) -> web.StreamResponse:
            return await behaviour(request, 0)

        return handle

    async def finished(self) -> int:
        await asyncio.wait_for(self.done.wait(), 20)
        return self.written


async def test_a_huge_failed_answer_is_recorded_as_its_prefix(
    bench: Bench, receiver: Receiver
) -> None:
    flood = Flood()
    user = await bench.user([FROM])
    url = receiver.on("/cb", flood.answer(500))
    message_id = await bench.send(
        user, **{"from": FROM, "to": TO, "text": "hi", "callbackUrl": url}
    )
    await bench.run()
    assert await flood.finished() < MOST_WRITTEN
    [event] = await bench.events(user, message_id)
    [attempt] = event["attempts"]
    assert attempt["status"] == 500
    prefix = "Internal Server Error: receiver says: no such account. xxx"
    assert attempt["error"].startswith(prefix)
    assert len(attempt["error"]) == len("Internal Server Error: ") + ANSWER_PREFIX_BYTES
    assert event["state"] == "pending"  # retried later


async def test_a_huge_successful_answer_still_delivers(bench: Bench, receiver: Receiver) -> None:
    flood = Flood()
    user = await bench.user([FROM])
    url = receiver.on("/cb", flood.answer(200, sized=False))
    message_id = await bench.send(
        user, **{"from": FROM, "to": TO, "text": "hi", "callbackUrl": url}
    )
    await bench.run()
    assert await flood.finished() < MOST_WRITTEN
    [event] = await bench.events(user, message_id)
    assert event["state"] == "delivered"
    assert [(a["status"], a.get("error")) for a in event["attempts"]] == [(200, None)]


async def test_a_small_answer_keeps_the_connection(bench: Bench, receiver: Receiver) -> None:
    """Answers within the prefix are read to their end, and the connection is reused."""
    peers: list[object] = []

    async def answer(request: web.Request, count: int) -> web.StreamResponse:
        peers.append(request.transport)
        return web.Response(status=200, body=b"y" * ANSWER_PREFIX_BYTES)

    user = await bench.user([FROM])
    url = receiver.on("/cb", answer)
    for _ in range(2):
        await bench.send(user, **{"from": FROM, "to": TO, "text": "hi", "callbackUrl": url})
        await bench.run()
    assert len(peers) == 2 and peers[0] is peers[1]


def _upstream(base_url: str) -> HttpUpstreamCarrier:
    values = {
        "type": "http", "url": f"{base_url}/send", "events_token": "t", "ref_field": "id",
        "body": {"to": "{to}", "text": "{text}"},
    }  # fmt: skip
    return HttpUpstreamCarrier("gen", UpstreamConfig.from_mapping("gen", values), MemoryRefs(),
                               "http://cb")  # fmt: skip


@pytest.mark.parametrize("status", [200, 503])
async def test_an_upstream_carrier_reads_a_bounded_answer(status: int) -> None:
    flood = Flood()
    handler = flood.handler(status, content_type="application/json")
    async with serve_http(handler) as base_url:
        carrier = _upstream(base_url)
        try:
            message = out()
            if status == 200:
                accepted = await carrier.send(message)
                assert accepted.carrier_ref == message.id  # no ref found in a cut-off answer
            else:
                with pytest.raises(TransientFailure, match="upstream answered 503: receiver says"):
                    await carrier.send(message)
            assert await flood.finished() < MOST_WRITTEN
        finally:
            await carrier.close()


@pytest.mark.parametrize(("status", "failure"), [(404, MediaUnavailable), (200, MediaTooLarge)])
async def test_a_media_host_answering_a_huge_body_is_cut_off(
    tmp_path: Path, status: int, failure: type[Exception]
) -> None:
    flood = Flood()
    handler = flood.handler(status, sized=False, content_type="image/jpeg")
    fetcher = MediaFetcher(
        LocalMediaStorage(tmp_path), LIMITS, AddressPolicy(allow_loopback=True,
                                                                allow_private=False)
    )  # fmt: skip
    async with serve_http(handler) as base_url:
        try:
            with pytest.raises(failure):
                await fetcher.fetch("u-a", [f"{base_url}/big.jpg"])
            assert await flood.finished() < MOST_WRITTEN
        finally:
            await fetcher.close()
