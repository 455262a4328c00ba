"""What the sessions of one SMPP carrier share and count: the submissions waiting to
be written (:class:`SubmitQueue`, oldest ticket first) and each session's window of
unanswered ones (:class:`Window`, halved on throttling, grown back by one).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from trebuchet.server.carriers.smpp import pdu as p


@dataclass(eq=False)
class Submission:
    """One submit_sm on its way; ``result`` gets its final submit_sm_resp (or generic_nack)."""

    ticket: int
    sm: p.ShortMessage
    result: asyncio.Future[p.Pdu]
    throttled: int = 0
    # Called with the SMSC's message id when an answer arrives after ``result`` gave up.
    late: Callable[[str], None] | None = None

    def __lt__(self, other: Submission) -> bool:
        return self.ticket < other.ticket


class SubmitQueue:
    """Submissions not yet written, oldest ticket first; sessions take from it."""

    def __init__(self) -> None:
        self._heap: list[Submission] = []
        self._tickets = itertools.count()
        self._ready = asyncio.Event()

    def submit(self, sm: p.ShortMessage) -> Submission:
        loop = asyncio.get_running_loop()
        item = Submission(next(self._tickets), sm, loop.create_future())
        self.put(item)
        return item

    def put(self, item: Submission) -> None:
        heapq.heappush(self._heap, item)
        self._ready.set()

    async def take(self) -> Submission:
        while True:
            while self._heap:
                item = heapq.heappop(self._heap)
                if not item.result.done():  # given up on by its sender: never written
                    return item
            self._ready.clear()
            await self._ready.wait()

    def __len__(self) -> int:
        return sum(1 for item in self._heap if not item.result.done())

    def fail_all(self, exc: BaseException) -> None:
        while self._heap:
            item = heapq.heappop(self._heap)
            if not item.result.done():
                item.result.set_exception(exc)


@dataclass
class Window:
    """How many submissions may be unanswered; halves on throttling, grows back by one."""

    limit: int
    size: int = 0
    in_flight: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.size = self.limit

    @property
    def room(self) -> bool:
        return self.in_flight < self.size

    def slow_down(self) -> None:
        self.size = max(1, self.size // 2)

    def speed_up(self) -> None:
        self.size = min(self.limit, self.size + 1)

    def release(self) -> None:
        self.in_flight -= 1
        self.changed.set()
