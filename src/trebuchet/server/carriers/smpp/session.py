"""SMPP sessions: one bind each, kept up, sharing a queue of submissions.

A :class:`Session` connects, binds, and then runs three loops until the link fails:
reading PDUs, writing queued submit_sm while its window has room, and enquire_link when
the link has been quiet.  When the link fails it unbinds what it can, hands back every
submission that got no answer, waits (backoff with jitter) and binds again, until closed.

Submissions wait in a :class:`SubmitQueue` (:mod:`.submissions`) shared by all sessions
of a carrier, oldest first.  ``ESME_RTHROTTLED`` and ``ESME_RMSGQFUL`` pause the session
that heard them, halve its window (it grows back by one per accepted submit) and put the
submission back in the queue at its old place, so a throttled message still leaves
before later ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable

from trebuchet.server.carriers.smpp import pdu as p
from trebuchet.server.carriers.smpp.config import SmppConfig
from trebuchet.server.carriers.smpp.status import THROTTLING, status_name
from trebuchet.server.carriers.smpp.submissions import Submission, SubmitQueue, Window
from trebuchet.server.domain.backoff import Backoff

log = logging.getLogger("trebuchet.carriers.smpp")
MAX_SEQUENCE = 0x7FFFFFFF
LATE_KEPT = 10_000

DeliverHandler = Callable[[p.ShortMessage], Awaitable[int]]


class LinkLost(Exception):
    """The link failed while a submission was unanswered (its outcome is unknown)."""


class ResponseTimeout(Exception):
    """No submit_sm_resp came within ``response_timeout``."""


class BindRefused(Exception):
    def __init__(self, status: int):
        super().__init__(f"bind refused: {status_name(status)}")
        self.status = status


class Session:
    def __init__(
        self,
        config: SmppConfig,
        queue: SubmitQueue | None,
        on_deliver: DeliverHandler,
        *,
        command: int = p.BIND_TRANSCEIVER,
        label: str = "smpp",
        draw: Callable[[], float] = random.random,
    ):
        self.config = config
        self.queue = queue  # None: a receiver, which never submits
        self.on_deliver = on_deliver
        self.command = command
        self.label = label
        self.draw = draw
        self.bound = asyncio.Event()
        self.binds = 0
        self.last_refusal: BindRefused | None = None
        self._backoff = Backoff(config.rebind_initial, 2.0, config.rebind_max, jitter=0.5)
        self._throttle = Backoff(config.throttle_initial, 2.0, config.throttle_max, jitter=0.0)
        self._throttled_in_row = 0
        self._paused_until = 0.0
        self._sequence = itertools.count(1)
        self._pending: dict[int, Submission] = {}
        # Submissions given up on (timed out), kept so that a late answer is still heard.
        self._late: dict[int, Submission] = {}
        self._requests: dict[int, asyncio.Future[p.Pdu]] = {}
        self._window = Window(config.window)
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._last_heard = 0.0
        self._closing = False
        self._handlers: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"{self.label}-session")

    async def close(self, grace: float | None = None) -> None:
        """Stop submitting, let answers to what is in flight arrive, unbind, disconnect."""
        self._closing = True
        wait = self.config.response_timeout if grace is None else grace
        deadline = time.monotonic() + wait
        while self._pending and self.bound.is_set() and time.monotonic() < deadline:
            self._window.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._window.changed.wait(), deadline - time.monotonic())
        if self.bound.is_set():
            with contextlib.suppress(Exception):
                await self._request(p.Pdu(p.UNBIND, self._next_sequence()), min(wait, 2.0))
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _run(self) -> None:
        failures = 0
        while not self._closing:
            try:
                await self._connect_and_bind()
                failures = 0
                await self._serve()
            except BindRefused as exc:
                self.last_refusal = exc
                log.error("%s: %s", self.label, exc)
            except (OSError, TimeoutError, EOFError, p.PduError, LinkLost) as exc:
                log.warning("%s: link lost: %s", self.label, exc or type(exc).__name__)
            finally:
                self._disconnect()
            if self._closing:
                return
            failures += 1
            await asyncio.sleep(self._backoff.delay(failures, self.draw()))

    async def _connect_and_bind(self) -> None:
        c = self.config
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(c.host, c.port), c.connect_timeout
        )
        self._writer = writer
        self._reader_task = asyncio.create_task(self._read(reader), name=f"{self.label}-reader")
        body = p.Bind(
            c.system_id, c.password, c.system_type, p.INTERFACE_VERSION,
            c.addr_ton, c.addr_npi, c.address_range,
        )  # fmt: skip
        answer = await self._request(p.Pdu(self.command, self._next_sequence(), body=body))
        if answer.status != p.ESME_ROK:
            raise BindRefused(answer.status)
        self.last_refusal = None
        self.binds += 1
        self._last_heard = time.monotonic()
        self.bound.set()
        log.info("%s: bound to %s:%s as %s", self.label, c.host, c.port, c.system_id)

    async def _serve(self) -> None:
        assert self._reader_task is not None
        tasks = [self._reader_task, asyncio.create_task(self._keep_alive())]
        if self.queue is not None:
            tasks.append(asyncio.create_task(self._send()))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises what ended the link
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _disconnect(self) -> None:
        self.bound.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._reader_task is not None:
            self._reader_task.cancel()
            self._reader_task = None
        self._late.clear()
        for future in self._requests.values():
            if not future.done():
                future.set_exception(LinkLost("link lost"))
        self._requests.clear()
        pending, self._pending = self._pending, {}
        for item in sorted(pending.values()):
            self._window.release()
            if item.result.done():
                continue
            if self.config.unanswered == "retry" and self.queue is not None and not self._closing:
                self.queue.put(item)  # at least once: sent again on the next bound session
            else:
                item.result.set_exception(LinkLost("the link was lost before the answer"))
        self._window = Window(self.config.window)

    # -- writing -------------------------------------------------------------------------

    def _next_sequence(self) -> int:
        sequence = next(self._sequence)
        if sequence > MAX_SEQUENCE:
            self._sequence = itertools.count(2)
            sequence = 1
        return sequence

    def _write(self, pdu: p.Pdu) -> None:
        if self._writer is None:
            raise LinkLost("not connected")
        self._writer.write(p.encode(pdu))

    async def _request(self, pdu: p.Pdu, wait: float | None = None) -> p.Pdu:
        future: asyncio.Future[p.Pdu] = asyncio.get_running_loop().create_future()
        self._requests[pdu.sequence] = future
        try:
            self._write(pdu)
            return await asyncio.wait_for(future, wait or self.config.response_timeout)
        finally:
            self._requests.pop(pdu.sequence, None)

    async def _send(self) -> None:
        assert self.queue is not None
        while not self._closing:
            while not self._window.room:
                self._window.changed.clear()
                await self._window.changed.wait()
            pause = self._paused_until - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
                continue
            item = await self.queue.take()
            if self._closing or self._writer is None:
                self.queue.put(item)
                return
            sequence = self._next_sequence()
            self._pending[sequence] = item
            self._window.in_flight += 1
            self._write(p.Pdu(p.SUBMIT_SM, sequence, body=item.sm))
            asyncio.get_running_loop().call_later(
                self.config.response_timeout, self._expire, sequence, item
            )
            await self._writer.drain()

    def _expire(self, sequence: int, item: Submission) -> None:
        if self._pending.get(sequence) is not item:
            return
        del self._pending[sequence]
        self._window.release()
        self._late[sequence] = item
        while len(self._late) > LATE_KEPT:
            del self._late[next(iter(self._late))]
        if not item.result.done():
            item.result.set_exception(ResponseTimeout("no submit_sm_resp"))

    async def _keep_alive(self) -> None:
        interval = self.config.enquire_link_interval
        while True:
            await asyncio.sleep(max(0.0, self._last_heard + interval - time.monotonic()))
            if time.monotonic() - self._last_heard >= interval:
                # No answer within response_timeout raises TimeoutError: the link is dead.
                await self._request(p.Pdu(p.ENQUIRE_LINK, self._next_sequence()))

    # -- reading -------------------------------------------------------------------------

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                frame = await p.read_frame(reader)
                self._last_heard = time.monotonic()
                try:
                    pdu = p.decode(frame)
                except p.FramingError:
                    raise
                except p.PduError as exc:
                    self._undecodable(frame, exc)
                    continue
                self._dispatch(pdu)
        finally:
            for future in self._requests.values():
                if not future.done():
                    future.set_exception(LinkLost("link lost"))

    def _undecodable(self, frame: bytes, exc: p.PduError) -> None:
        _, command_id, status, sequence = p.HEADER.unpack_from(frame)
        log.warning("%s: undecodable PDU 0x%08x: %s", self.label, command_id, exc)
        if command_id == p.SUBMIT_SM | p.RESPONSE:
            # The status in the header still tells whether the SMSC took the message.
            self._dispatch(p.Pdu(command_id, sequence, status))
        elif not command_id & p.RESPONSE:
            self._write(p.Pdu(p.GENERIC_NACK, sequence, exc.status))

    def _dispatch(self, pdu: p.Pdu) -> None:
        command = pdu.command_id
        answers = command in (p.SUBMIT_SM | p.RESPONSE, p.GENERIC_NACK)
        if answers and pdu.sequence in self._pending:
            self._answered(self._pending.pop(pdu.sequence), pdu)
        elif answers and pdu.sequence in self._late:
            self._answered_late(self._late.pop(pdu.sequence), pdu)
        elif pdu.is_response:
            future = self._requests.get(pdu.sequence)
            if future is not None and not future.done():
                future.set_result(pdu)
            elif command != p.DELIVER_SM | p.RESPONSE:
                log.info("%s: %s for unknown sequence %d", self.label, pdu.name, pdu.sequence)
        elif command == p.ENQUIRE_LINK:
            self._write(p.response(pdu))
        elif command == p.DELIVER_SM and isinstance(pdu.body, p.ShortMessage):
            task = asyncio.create_task(self._deliver(pdu, pdu.body))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        elif command == p.UNBIND:
            self._write(p.response(pdu))
            raise LinkLost("the SMSC unbound")
        else:
            self._write(p.Pdu(p.GENERIC_NACK, pdu.sequence, p.ESME_RINVCMDID))

    async def _deliver(self, pdu: p.Pdu, sm: p.ShortMessage) -> None:
        try:
            status = await self.on_deliver(sm)
        except Exception:
            log.exception("%s: deliver_sm handler failed", self.label)
            status = p.ESME_RX_T_APPN
        with contextlib.suppress(LinkLost):  # the SMSC delivers it again after a rebind
            self._write(p.response(pdu, status, p.MessageResp("")))

    def _answered_late(self, item: Submission, pdu: p.Pdu) -> None:
        log.warning("%s: late %s (%s)", self.label, pdu.name, status_name(pdu.status))
        if pdu.status == p.ESME_ROK and item.late is not None:
            item.late(pdu.body.message_id if isinstance(pdu.body, p.MessageResp) else "")

    def _answered(self, item: Submission, pdu: p.Pdu) -> None:
        self._window.release()
        if item.result.done():  # its sender stopped waiting
            self._answered_late(item, pdu)
            return
        if pdu.status in THROTTLING:
            self._throttled(item, pdu)
            return
        self._throttled_in_row = 0
        if pdu.status == p.ESME_ROK:
            self._window.speed_up()
        item.result.set_result(pdu)

    def _throttled(self, item: Submission, pdu: p.Pdu) -> None:
        self._throttled_in_row += 1
        self._window.slow_down()
        delay = self._throttle.delay(self._throttled_in_row)
        self._paused_until = max(self._paused_until, time.monotonic() + delay)
        item.throttled += 1
        if item.throttled > self.config.throttle_retries or self.queue is None:
            item.result.set_result(pdu)
        else:
            self.queue.put(item)  # its old ticket: it leaves before anything queued later
