"""A carrier that records every send, for counting (and optionally holding) them."""

from __future__ import annotations

import asyncio
from collections import Counter

from trebuchet.server.carriers.base import Accepted, CarrierSink, OutboundMessage, Receipt


class RecordingCarrier:
    name = "recording"

    def __init__(self, hold: asyncio.Event | None = None):
        self.sends: Counter[str] = Counter()
        self.senders: dict[str, set[str]] = {}
        self.started = asyncio.Event()
        self._hold = hold

    def bind(self, sink: CarrierSink) -> None:
        pass

    async def send(self, message: OutboundMessage) -> Accepted:
        self.sends[message.id] += 1
        self.started.set()
        await asyncio.sleep(0)  # let other workers interleave
        if self._hold is not None:
            await self._hold.wait()
        return Accepted(f"rec-{message.id}", receipt=Receipt.for_code(0))

    async def poll_receipt(self, message: OutboundMessage, carrier_ref: str) -> Receipt | None:
        return None

    async def close(self) -> None:
        pass


class TaggedCarrier(RecordingCarrier):
    """Shares one counter between several engines, remembering which engine sent what."""

    def __init__(self, shared: RecordingCarrier, tag: str):
        super().__init__()
        self._shared = shared
        self._tag = tag

    async def send(self, message: OutboundMessage) -> Accepted:
        self._shared.senders.setdefault(message.id, set()).add(self._tag)
        return await self._shared.send(message)
