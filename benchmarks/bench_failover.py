"""What the router with failover adds to each send, next to the carrier alone.

    .venv/bin/python -m benchmarks.bench_failover [--count N] [--rounds R]

Sends ``count`` messages, one at a time, through the sandbox carrier (no network, so the
router's own work is all that differs), three ways, alternated ``rounds`` times in one
run: the carrier alone; a router over a route of two carriers (the first takes every
message), without and with a ``send_timeout``; a router whose first carrier's circuit is
open (every message passed over to the second).  Reports microseconds per send and the ratio to the
carrier alone, medians over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from benchmarks.common import Row, median
from trebuchet.server.carriers.base import Carrier, OutboundMessage
from trebuchet.server.carriers.failover import FailoverPolicy
from trebuchet.server.carriers.routing import Route, RoutingCarrier
from trebuchet.server.carriers.sandbox import SandboxCarrier


def _messages(count: int) -> list[OutboundMessage]:
    return [
        OutboundMessage(
            id=f"m-{index}",
            user_id="u-1",
            from_number="+15550001111",
            to_number="+15557654321",
            text="hello",
            media=[],
            segment_count=1,
            attempt=1,
        )
        for index in range(count)
    ]


def _router(open_first: bool = False, send_timeout: float = 0.0) -> RoutingCarrier:
    policy = FailoverPolicy(
        send_timeout=send_timeout, circuit_failures=1, circuit_open_seconds=3600
    )
    router = RoutingCarrier(
        {"a": SandboxCarrier(), "b": SandboxCarrier()},
        [Route("a", fallbacks=("b",))],
        "a",
        policies={"a": policy, "b": policy},
    )
    if open_first:
        router.health["a"].failed("transient", "down for the benchmark")
    return router


async def _per_send_us(carrier: Carrier, messages: list[OutboundMessage]) -> float:
    started = time.perf_counter()
    for message in messages:
        await carrier.send(message)
    return (time.perf_counter() - started) / len(messages) * 1e6


async def _measure(count: int, rounds: int) -> dict[str, float]:
    messages = _messages(count)
    ways = {
        "carrier alone": lambda: SandboxCarrier(),
        "router, first carrier takes it": lambda: _router(),
        "router with send_timeout, first takes it": lambda: _router(send_timeout=5.0),
        "router, first circuit open": lambda: _router(open_first=True),
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, make in ways.items():
            times[name].append(await _per_send_us(make(), messages))
    return {name: median(values) for name, values in times.items()}


def failover(count: int = 20_000, rounds: int = 5) -> list[Row]:
    found = asyncio.run(_measure(count, rounds))
    alone = found["carrier alone"]
    return [
        Row(
            f"failover router: {name}",
            f"{us:.1f} µs/send ({us / alone:.2f}x)",
            "informational",
            None,
            f"{count} sends x {rounds} rounds, sandbox carrier, medians",
        )
        for name, us in found.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for row in failover(args.count, args.rounds):
        print(f"{row.benchmark}: {row.measured}")


if __name__ == "__main__":
    main()
