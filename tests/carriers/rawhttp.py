"""HTTP peers that fail at the socket, on loopback: one whose listen queue is full (no
connection is ever made), one that takes the request and never answers, one that reads
the request and closes the connection.  Each counts the requests it read whole."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

# Longer than any client timeout in the tests, and still bounded.
HOLD_SECONDS = 10.0


@contextlib.contextmanager
def unconnectable() -> Iterator[str]:
    """A loopback port whose listen queue is full: a connection is never made."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    waiting = []
    for _ in range(3):
        sock = socket.socket()
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            sock.connect(("127.0.0.1", port))
        waiting.append(sock)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for sock in [*waiting, server]:
            sock.close()


@dataclass
class RawPeer:
    """Reads each request whole (headers, then ``Content-Length`` bytes), then either
    holds the connection without a word (``mode = "silent"``) or closes it ("drop")."""

    mode: str
    url: str = ""
    requests: list[bytes] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            self.requests.append(head + await reader.readexactly(length))
            if self.mode == "silent":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.release.wait(), HOLD_SECONDS)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def raw_peer(mode: str) -> AsyncIterator[RawPeer]:
    peer = RawPeer(mode)
    server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    peer.url = f"http://127.0.0.1:{port}"
    try:
        yield peer
    finally:
        peer.release.set()
        server.close()
        await server.wait_closed()
