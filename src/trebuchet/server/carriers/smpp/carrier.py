"""The SMPP 3.4 carrier: Trebuchet as an ESME bound to an SMSC.

``send`` splits the text into parts (see :mod:`.text`), queues one submit_sm per part
and waits for their submit_sm_resp; the SMSC's message id of every accepted part is
stored (:mod:`trebuchet.server.carriers.refs`) before ``send`` returns, and a part
already accepted is never submitted again when the engine retries the message.

deliver_sm from the SMSC are either receipts, matched through the stored ids and given
to the sink once the message is recorded as sent, or inbound messages, reassembled when
concatenated.  Either is answered (deliver_sm_resp) only once it is handled, so an SMSC
that gets no answer delivers it again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from trebuchet.server.carriers.base import (
    Accepted,
    CarrierSink,
    InboundMessage,
    OutboundMessage,
    PermanentFailure,
    Receipt,
    TransientFailure,
    Unanswered,
    UnknownNumber,
)
from trebuchet.server.carriers.refs import Part, Refs
from trebuchet.server.carriers.smpp import pdu as p
from trebuchet.server.carriers.smpp.config import SmppConfig
from trebuchet.server.carriers.smpp.session import LinkLost, ResponseTimeout, Session
from trebuchet.server.carriers.smpp.status import (
    NACK_CODE,
    THROTTLING,
    TRANSIENT,
    is_receipt,
    parse_receipt,
    permanent_code,
    status_name,
)
from trebuchet.server.carriers.smpp.submissions import Submission, SubmitQueue
from trebuchet.server.carriers.smpp.text import (
    Concatenation,
    decode_text,
    encode_text,
    parse_sar,
    parse_udh,
    sar_tlvs,
    udh,
)
from trebuchet.server.domain.states import NOT_SENT

log = logging.getLogger("trebuchet.carriers.smpp")
UNANSWERED_CODE = 999
MAX_PARTS = 255


class SmppRejected(PermanentFailure):
    def __init__(self, reason: str, code: int):
        super().__init__(reason, code)
        self.code: int = code


@dataclass
class _Partial:
    parts: dict[int, bytes] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)


class SmppCarrier:
    def __init__(
        self,
        name: str,
        config: SmppConfig,
        refs: Refs,
        *,
        draw: Callable[[], float] = random.random,
    ):
        self.name = name
        self.config = config
        self.refs = refs
        self._draw = draw
        self._sink: CarrierSink | None = None
        self._queue: SubmitQueue | None = None
        self.sessions: list[Session] = []
        self._reference = random.randrange(0x10000)
        # SMSC ids accepted by this process, for receipts that outrun the database write.
        self._recent: dict[str, Part] = {}
        self._partial: dict[tuple[str, str, int, int], _Partial] = {}

    # -- lifecycle -----------------------------------------------------------------------

    def bind(self, sink: CarrierSink) -> None:
        self._sink = sink
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # started by the first send
        self.start()

    def start(self) -> None:
        """Open the sessions (idempotent); they bind in the background."""
        if self.sessions:
            return
        self._queue = SubmitQueue()
        c = self.config
        for index in range(c.sessions):
            label = f"{self.name}#{index + 1}"
            kinds: list[tuple[int, SubmitQueue | None, str]]
            if c.bind_mode == "transceiver":
                kinds = [(p.BIND_TRANSCEIVER, self._queue, label)]
            else:
                kinds = [
                    (p.BIND_TRANSMITTER, self._queue, f"{label}-tx"),
                    (p.BIND_RECEIVER, None, f"{label}-rx"),
                ]
            for command, queue, session_label in kinds:
                session = Session(
                    c, queue, self._on_deliver, command=command, label=session_label,
                    draw=self._draw,
                )  # fmt: skip
                self.sessions.append(session)
                session.start()

    async def close(self) -> None:
        await asyncio.gather(*(session.close() for session in self.sessions))
        if self._queue is not None:
            self._queue.fail_all(TransientFailure("the SMPP carrier is closing"))
        self.sessions = []
        self._queue = None

    async def wait_bound(self, seconds: float) -> bool:
        """True once every session is bound (for tests and start-up checks)."""
        self.start()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(s.bound.wait() for s in self.sessions)), seconds
            )
        except TimeoutError:
            return False
        return True

    # -- sending -------------------------------------------------------------------------

    async def poll_receipt(self, message: OutboundMessage, carrier_ref: str) -> Receipt | None:
        return None  # receipts are pushed by the SMSC

    async def send(self, message: OutboundMessage) -> Accepted:
        self.start()
        assert self._queue is not None
        self._refuse_if_unbindable()
        pieces = self._pieces(message)
        done = await self.refs.sent_parts(self.name, message.id)
        items: dict[int, Submission] = {}
        for number, sm in enumerate(pieces, start=1):
            if number not in done:
                items[number] = self._queue.submit(sm)
                items[number].late = self._late_recorder(message.id, number, len(pieces))
        accepted: list[Part] = []
        try:
            failure = await self._answers(message, items, len(pieces), accepted)
        except asyncio.CancelledError:  # a router gave up waiting: write nothing more
            for item in items.values():
                item.result.cancel()  # still queued: withdrawn; written: recorded late
            self._record_later(accepted)
            raise
        await self.refs.record(self.name, accepted)
        self._trim_recent()
        if failure is not None:
            raise self._translate(failure)
        refs = {**done, **{part.part: part.ref for part in accepted}}
        return Accepted(refs[1])

    async def _answers(
        self,
        message: OutboundMessage,
        items: dict[int, Submission],
        total: int,
        accepted: list[Part],
    ) -> Exception | None:
        """Wait for each submit's answer, adding accepted parts to ``accepted``; the
        first failure, if any."""
        failure: Exception | None = None
        for number, item in items.items():
            try:
                answer = await asyncio.wait_for(
                    asyncio.shield(item.result), self.config.submit_timeout
                )
                ref = answer.body.message_id if isinstance(answer.body, p.MessageResp) else ""
                self._check(answer)
                part = Part(message.id, number, total, ref)
                accepted.append(part)
                self._recent[ref] = part
            except (TransientFailure, PermanentFailure, LinkLost, ResponseTimeout) as exc:
                failure = failure or exc
            except TimeoutError:
                item.result.cancel()  # still queued: never written; else outcome unknown
                failure = failure or TransientFailure("no SMPP session took the message in time")
        return failure

    def _record_later(self, parts: list[Part]) -> None:
        if parts:
            task = asyncio.ensure_future(self.refs.record(self.name, parts))
            task.add_done_callback(lambda t: t.exception())

    def _refuse_if_unbindable(self) -> None:
        senders = [s for s in self.sessions if s.queue is not None]
        if any(s.bound.is_set() for s in senders):
            return
        refusals = [s.last_refusal for s in senders if s.last_refusal is not None]
        if refusals and len(refusals) == len(senders):
            raise TransientFailure(f"SMSC {refusals[0]}", self.config.rebind_max)

    def _translate(self, failure: Exception) -> Exception:
        if isinstance(failure, TransientFailure | PermanentFailure):
            return failure
        if self.config.unanswered == "fail":
            return SmppRejected(f"{failure}; not sent again (unanswered = fail)", UNANSWERED_CODE)
        return Unanswered(f"{failure}; will be sent again")

    def _check(self, answer: p.Pdu) -> None:
        status = answer.status
        if answer.command_id == p.GENERIC_NACK and status not in THROTTLING:
            raise SmppRejected(f"generic_nack {status_name(status)}", NACK_CODE)
        if status == p.ESME_ROK:
            return
        if status in THROTTLING:
            raise TransientFailure(f"SMSC still {status_name(status)}", self.config.throttle_max)
        if status in TRANSIENT:
            raise TransientFailure(f"submit_sm_resp {status_name(status)}")
        raise SmppRejected(f"submit_sm_resp {status_name(status)}", permanent_code(status))

    def _late_recorder(self, message_id: str, number: int, total: int) -> Callable[[str], None]:
        def record(ref: str) -> None:
            part = Part(message_id, number, total, ref)
            self._recent[ref] = part
            task = asyncio.ensure_future(self.refs.record(self.name, [part]))
            task.add_done_callback(lambda t: t.exception())

        return record

    def _trim_recent(self) -> None:
        while len(self._recent) > 10_000:
            del self._recent[next(iter(self._recent))]

    def _address(self, number: str) -> tuple[int, int, str]:
        c = self.config
        if number.startswith("+"):
            return c.international_ton, c.international_npi, number[1:]
        return c.other_ton, c.other_npi, number

    def _pieces(self, message: OutboundMessage) -> list[p.ShortMessage]:
        c = self.config
        encoded = encode_text(message.text, split=c.long_messages != "payload")
        source_ton, source_npi, source = self._address(message.from_number)
        dest_ton, dest_npi, dest = self._address(message.to_number)
        base = p.ShortMessage(
            destination_addr=dest, source_addr=source, service_type=c.service_type,
            source_addr_ton=source_ton, source_addr_npi=source_npi,
            dest_addr_ton=dest_ton, dest_addr_npi=dest_npi,
            registered_delivery=c.registered_delivery, data_coding=encoded.data_coding,
            validity_period=_validity(message),
        )  # fmt: skip
        parts = encoded.parts
        if len(parts) == 1:
            body = parts[0]
            if len(body) > 254:
                return [_with(base, short_message=b"", tlvs={p.TLV_MESSAGE_PAYLOAD: body})]
            return [_with(base, short_message=body)]
        if len(parts) > MAX_PARTS:
            raise SmppRejected(f"{len(parts)} parts is more than SMPP can concatenate", 751)
        self._reference = (self._reference + 1) & 0xFFFF
        ref, total = self._reference, len(parts)
        if c.long_messages == "sar":
            return [
                _with(base, short_message=body, tlvs=sar_tlvs(ref, total, number))
                for number, body in enumerate(parts, start=1)
            ]
        return [
            _with(base, short_message=udh(ref, total, number) + body, esm_class=p.ESM_UDHI)
            for number, body in enumerate(parts, start=1)
        ]

    # -- receiving -----------------------------------------------------------------------

    async def _on_deliver(self, sm: p.ShortMessage) -> int:
        if is_receipt(sm):
            return await self._receipt(sm)
        return await self._inbound(sm)

    async def _receipt(self, sm: p.ShortMessage) -> int:
        report = parse_receipt(sm)
        if report is None or not report.final:
            return p.ESME_ROK
        part = await self._find(report.message_id)
        if part is None:
            log.warning("%s: receipt for unknown message id %s", self.name, report.message_id)
            return p.ESME_ROK
        await self._wait_until_sent(part.message_id)
        code = await self.refs.report(self.name, report.message_id, report.code,
                                      self.config.receipt_parts)  # fmt: skip
        if code is not None and self._sink is not None:
            await self._sink.receipt(part.message_id, Receipt.for_code(code))
        return p.ESME_ROK

    async def _find(self, ref: str) -> Part | None:
        """The part a receipt names; waits a little for a submit_sm_resp still in flight."""
        deadline = time.monotonic() + self.config.receipt_wait
        pause = 0.01
        while True:
            part = self._recent.get(ref) or await self.refs.find(self.name, ref)
            if part is not None or time.monotonic() >= deadline:
                return part
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    async def _wait_until_sent(self, message_id: str) -> None:
        """A receipt must not overtake the ``sent`` state, which the engine writes after send."""
        deadline = time.monotonic() + self.config.receipt_wait
        pause = 0.01
        while time.monotonic() < deadline:
            if await self.refs.message_state(message_id) not in NOT_SENT:
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

    def _inbound_address(self, address: str, ton: int) -> str:
        if ton == self.config.international_ton and address.isdigit():
            return f"+{address}"
        return address

    async def _inbound(self, sm: p.ShortMessage) -> int:
        data = sm.tlvs.get(p.TLV_MESSAGE_PAYLOAD, sm.short_message)
        concat: Concatenation | None = None
        if sm.esm_class & p.ESM_UDHI:
            concat, data = parse_udh(data)
        else:
            concat = parse_sar(sm.tlvs)
        if concat is not None and concat.total > 1:
            whole = self._reassemble(sm, concat, data)
            if whole is None:
                return p.ESME_ROK
            data = whole
        if self._sink is None:
            return p.ESME_RX_T_APPN
        message = InboundMessage(
            from_number=self._inbound_address(sm.source_addr, sm.source_addr_ton),
            to_number=self._inbound_address(sm.destination_addr, sm.dest_addr_ton),
            text=decode_text(data, sm.data_coding),
        )
        try:
            await self._sink.inbound(message)
        except UnknownNumber:
            log.warning("%s: inbound message for unknown number %s", self.name,
                        message.to_number)  # fmt: skip
            return p.ESME_RINVDSTADR
        return p.ESME_ROK

    def _reassemble(self, sm: p.ShortMessage, concat: Concatenation, data: bytes) -> bytes | None:
        now = time.monotonic()
        for key in [k for k, v in self._partial.items()
                    if now - v.started > self.config.inbound_part_timeout]:  # fmt: skip
            log.warning("%s: dropped an incomplete concatenated message %s", self.name, key)
            del self._partial[key]
        key = (sm.source_addr, sm.destination_addr, concat.reference, concat.total)
        partial = self._partial.setdefault(key, _Partial())
        partial.parts[concat.number] = data
        if len(partial.parts) < concat.total:
            return None
        del self._partial[key]
        return b"".join(partial.parts[number] for number in sorted(partial.parts))


def _with(base: p.ShortMessage, **changes: Any) -> p.ShortMessage:
    return replace(base, **changes)


def _validity(message: OutboundMessage) -> str:
    """The message's validity as a relative ``validity_period``; empty: the SMSC's default."""
    seconds = message.validity_seconds
    return "" if seconds is None else p.relative_time(seconds)
