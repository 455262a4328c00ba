"""Fixtures for the messaging controls: a carrier that keeps what it was handed, and a
bench (the in-process app, an engine stepped by hand) over each store."""

from __future__ import annotations

import asyncio

import pytest

from tests.engine.conftest import Bench, BenchFactory, make_bench, receiver  # noqa: F401
from trebuchet.server.carriers.base import Accepted, CarrierSink, OutboundMessage, Receipt


class KeepingCarrier:
    """Accepts every message with a delivered receipt and keeps each one it was handed."""

    name = "keeping"

    def __init__(self, hold: asyncio.Event | None = None) -> None:
        self.handed: list[OutboundMessage] = []
        self.started = asyncio.Event()
        self._hold = hold

    def bind(self, sink: CarrierSink) -> None:
        pass

    async def send(self, message: OutboundMessage) -> Accepted:
        self.handed.append(message)
        self.started.set()
        if self._hold is not None:
            await self._hold.wait()
        return Accepted(f"keep-{message.id}", receipt=Receipt.for_code(0))

    async def poll_receipt(self, message: OutboundMessage, carrier_ref: str) -> Receipt | None:
        return None

    async def close(self) -> None:
        pass

    def to(self, number: str) -> list[OutboundMessage]:
        return [message for message in self.handed if message.to_number == number]


@pytest.fixture
def carrier() -> KeepingCarrier:
    return KeepingCarrier()


@pytest.fixture
async def bench(make_bench: BenchFactory, carrier: KeepingCarrier) -> Bench:  # noqa: F811
    return await make_bench(carrier)
