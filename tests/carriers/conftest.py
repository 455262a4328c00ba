"""Carrier fixtures: a recording sink, the fault-injecting SMSC, an SMPP carrier on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.carriers.jasmin import jasmin  # noqa: F401  (the Jasmin peer)
from tests.carriers.smsc import FakeSmsc
from tests.engine.conftest import make_bench, receiver  # noqa: F401  (a stepped engine)
from trebuchet.server.carriers.base import InboundMessage, Receipt, UnknownNumber
from trebuchet.server.carriers.refs import MemoryRefs
from trebuchet.server.carriers.smpp import SmppCarrier, SmppConfig


@dataclass
class RecordingSink:
    """A carrier sink that remembers what it was told; ``numbers`` are the owned ones."""

    numbers: set[str] = field(default_factory=lambda: {"+15550001111"})
    receipts: list[tuple[str, Receipt]] = field(default_factory=list)
    inbound_messages: list[InboundMessage] = field(default_factory=list)

    async def receipt(self, message_id: str, receipt: Receipt) -> None:
        self.receipts.append((message_id, receipt))

    async def inbound(self, message: InboundMessage) -> str:
        if message.to_number not in self.numbers:
            raise UnknownNumber(message.to_number)
        self.inbound_messages.append(message)
        return f"m-{len(self.inbound_messages)}"


@pytest.fixture
async def smsc() -> AsyncIterator[FakeSmsc]:
    server = FakeSmsc()
    await server.start()
    yield server
    await server.stop()


SmppFactory = Callable[..., Awaitable[tuple[SmppCarrier, RecordingSink, MemoryRefs]]]


@pytest.fixture
async def make_smpp(smsc: FakeSmsc) -> AsyncIterator[SmppFactory]:
    carriers: list[SmppCarrier] = []

    async def make(bind: bool = True, **overrides: Any) -> tuple[SmppCarrier, RecordingSink,
                                                                  MemoryRefs]:  # fmt: skip
        values: dict[str, Any] = {
            "host": "127.0.0.1", "port": smsc.port, "system_id": "esme", "password": "secret",
            "rebind_initial": 0.05, "rebind_max": 0.2, "response_timeout": 2.0,
            "submit_timeout": 5.0, "throttle_initial": 0.02, "throttle_max": 0.1,
            "receipt_wait": 1.0,
        }  # fmt: skip
        values.update(overrides)
        config = SmppConfig.from_mapping("smsc", values)
        refs = MemoryRefs()
        carrier = SmppCarrier("smsc", config, refs, draw=lambda: 0.0)
        sink = RecordingSink()
        carrier.bind(sink)
        carriers.append(carrier)
        if bind:
            assert await carrier.wait_bound(5), "the carrier did not bind"
        return carrier, sink, refs

    yield make
    for carrier in carriers:
        await carrier.close()
