"""The entry point of every process a reliability test starts: the ``trebuchet`` CLI, plus
a journal of what the sandbox carrier accepted.

With ``RELIABILITY_JOURNAL_DIR`` set, each process appends one line per message handed
to the carrier (``message_id unix_time pid``) to a file of its own, so a test counts the
sends of every message across processes: the observable behind "sent exactly once".
It also appends one line per send slot the store reserved for a rate-limited number
(``number slot_start_us pid``), the observable behind "the rate holds across workers".
``RELIABILITY_SEND_DELAY`` (seconds) makes the carrier slow, so work is in flight when a
process is killed or stopped.  ``RELIABILITY_KILL_TEXT`` makes a message whose text is
exactly that a poison row of the worst kind: the process exits at once (``os._exit``, no
exception, no cleanup) when the carrier is handed it.
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
import signal
import sys
import time
from pathlib import Path

from trebuchet.cli.main import main
from trebuchet.server.carriers.base import Accepted, OutboundMessage
from trebuchet.server.carriers.sandbox import SandboxCarrier
from trebuchet.server.store.delivery import DeliveryStore

JOURNAL_DIR = "RELIABILITY_JOURNAL_DIR"
SEND_DELAY = "RELIABILITY_SEND_DELAY"
KILL_TEXT = "RELIABILITY_KILL_TEXT"
KILLED_EXIT = 86


def _journal_sends(directory: Path, delay: float) -> None:
    fd = os.open(directory / f"sends-{os.getpid()}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    send = SandboxCarrier.send
    kill_text = os.environ.get(KILL_TEXT)

    async def journalled(self: SandboxCarrier, message: OutboundMessage) -> Accepted:
        started = time.time()
        if kill_text and message.text == kill_text:
            os._exit(KILLED_EXIT)
        if delay:
            await asyncio.sleep(delay)
        accepted = await send(self, message)
        os.write(fd, f"{message.id} {started:.6f} {os.getpid()}\n".encode())
        return accepted

    SandboxCarrier.send = journalled  # type: ignore[method-assign]


def _journal_slots(directory: Path) -> None:
    fd = os.open(directory / f"slots-{os.getpid()}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    reserve = DeliveryStore.reserve_slot

    async def journalled(self: DeliveryStore, number: str, now: int, interval_us: int) -> int:
        slot = await reserve(self, number, now, interval_us)
        os.write(fd, f"{number} {slot} {os.getpid()}\n".encode())
        return slot

    DeliveryStore.reserve_slot = journalled  # type: ignore[method-assign]


if __name__ == "__main__":
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # a stuck process shows where
    if os.environ.get(JOURNAL_DIR):
        _journal_sends(Path(os.environ[JOURNAL_DIR]), float(os.environ.get(SEND_DELAY) or 0))
        _journal_slots(Path(os.environ[JOURNAL_DIR]))
    sys.argv[0] = "trebuchet"
    main()
