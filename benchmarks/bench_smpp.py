"""SMPP throughput to the Jasmin peer (bind ``perf``: no receipts), next to the peer's own.

    .venv/bin/python -m benchmarks.bench_smpp [--count N] [--seconds S]

* ``carrier, window W``: messages/s through :class:`SmppCarrier` (``send`` awaited by
  many concurrent tasks, as the engine's workers do), refs kept in memory;
* ``raw PDU blaster``: the same submit_sm written by a bare loop over the PDU layer with
  a window of 100: what the peer itself takes, the reference for the rows above.

Loopback only, bounded in count and time.  Skipped (None) when the peer cannot start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.common import Row
from benchmarks.processes import ROOT
from trebuchet.server.carriers.base import OutboundMessage
from trebuchet.server.carriers.refs import MemoryRefs
from trebuchet.server.carriers.smpp import SmppCarrier, SmppConfig
from trebuchet.server.carriers.smpp import pdu as p

HOST, PORT, USER, PASSWORD = "127.0.0.1", 2775, "perf", "perfpwd"
WINDOWS = (1, 10, 50)
BLASTER_WINDOW = 100


def peer_dir() -> Path:
    default = ROOT / ".." / "shared" / "peers" / "jasmin"
    return Path(os.environ.get("TREBUCHET_JASMIN_DIR", str(default)))


def peer_running() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=0.5):
            return True
    except OSError:
        return False


def stop_peer() -> None:
    subprocess.run(["bash", str(peer_dir() / "down.sh")], capture_output=True, timeout=120,
                   check=False)  # fmt: skip


def start_peer() -> str | None:
    """None when the peer runs, else why not."""
    up = peer_dir() / "up.sh"
    if not up.exists():
        return f"no Jasmin peer at {up}"
    try:
        done = subprocess.run(["bash", str(up)], capture_output=True, text=True, timeout=600,
                              check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["?"])[-1]


def _message(index: int) -> OutboundMessage:
    return OutboundMessage(
        id=f"m-bench-{index}", user_id="u", from_number="+15550001111",
        to_number=f"+1555{index % 10_000_000:07d}", text=f"benchmark message {index}",
        media=[], segment_count=1, attempt=1,
    )  # fmt: skip


async def through_carrier(window: int, count: int, seconds: float) -> tuple[int, float]:
    config = SmppConfig(HOST, USER, PASSWORD, port=PORT, window=window, registered_delivery=0)
    carrier = SmppCarrier("bench", config, MemoryRefs())
    if not await carrier.wait_bound(10):
        await carrier.close()
        raise RuntimeError("could not bind to the peer")
    numbers = itertools.count()
    done = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            index = next(numbers)
            if index >= count:
                return
            await carrier.send(_message(index))
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(max(window * 2, 4))))
    elapsed = time.monotonic() - started
    await carrier.close()
    return done, elapsed


async def raw_blaster(count: int, seconds: float) -> tuple[int, float]:
    reader, writer = await asyncio.open_connection(HOST, PORT)
    writer.write(p.encode(p.Pdu(p.BIND_TRANSMITTER, 1, body=p.Bind(USER, PASSWORD))))
    bound = p.decode(await p.read_frame(reader))
    if bound.status != p.ESME_ROK:
        raise RuntimeError(f"bind refused: {bound.status}")
    room = asyncio.Semaphore(BLASTER_WINDOW)
    answered = 0
    target = [count]
    finished = asyncio.Event()

    async def read() -> None:
        nonlocal answered
        while True:
            pdu = p.decode(await p.read_frame(reader))
            if pdu.command_id == p.SUBMIT_SM | p.RESPONSE:
                answered += 1
                room.release()
                if answered >= target[0]:
                    finished.set()
            elif pdu.command_id == p.ENQUIRE_LINK:
                writer.write(p.encode(p.response(pdu)))

    reading = asyncio.create_task(read())
    started = time.monotonic()
    deadline = started + seconds
    sent = 0
    for index in range(count):
        if time.monotonic() > deadline:
            break
        await room.acquire()
        sm = p.ShortMessage(destination_addr=f"1555{index:07d}", source_addr="15550001111",
                            short_message=f"benchmark message {index}".encode())  # fmt: skip
        writer.write(p.encode(p.Pdu(p.SUBMIT_SM, index + 2, body=sm)))
        sent += 1
    target[0] = sent
    if answered >= sent:
        finished.set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(finished.wait(), 10)
    elapsed = time.monotonic() - started
    reading.cancel()
    writer.close()
    return answered, elapsed


@contextlib.contextmanager
def running_peer() -> Iterator[str | None]:
    """The peer for the block: None when it runs, else why it could not start.  A peer
    this started is stopped again afterwards (it would load what runs next)."""
    already_running = peer_running()
    reason = start_peer()
    try:
        yield reason
    finally:
        if reason is None and not already_running:
            stop_peer()


def smpp(count: int = 3000, seconds: float = 15.0) -> list[Row]:
    with running_peer() as reason:
        if reason is not None:
            print(f"    Jasmin peer unavailable, SMPP skipped: {reason}")
            return [Row("SMPP to Jasmin", "skipped", "-", None, reason[:80])]
        return _measure(count, seconds)


def _measure(count: int, seconds: float) -> list[Row]:
    done, elapsed = asyncio.run(raw_blaster(count, seconds))
    reference = done / elapsed
    rows = [Row("SMPP raw PDU blaster (peer's own rate)", f"{reference:,.0f} msg/s", "-", None,
                f"window {BLASTER_WINDOW}, {done} submits")]  # fmt: skip
    for window in WINDOWS:
        done, elapsed = asyncio.run(through_carrier(window, count, seconds))
        rate = done / elapsed
        rows.append(Row(f"SMPP carrier, window {window}", f"{rate:,.0f} msg/s", "-", None,
                        f"{rate / reference:.0%} of the peer's rate, {done} messages"))  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    for row in smpp(args.count, args.seconds):
        print(f"{row.benchmark}: {row.measured} ({row.detail})")


if __name__ == "__main__":
    main()
