"""A small SMSC on loopback that speaks our PDU layer and misbehaves on demand.

Every submit_sm is answered by ``plan(index, sm)`` (``index`` counts from 0 over the whole
run), which picks an :data:`Action`: accept, answer a status, stay silent, drop the link
before answering (the submit is then *not* taken), send a garbled frame, or accept and
then drop.  ``accepted`` lists what the SMSC took, so tests can check that nothing is lost
or taken twice.  Receipts and inbound messages are pushed with :meth:`FakeSmsc.deliver`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from trebuchet.server.carriers.smpp import pdu as p

ACCEPT = "accept"
SILENT = "silent"  # never answer
DROP = "drop"  # close the link before answering: the submit is not taken
ACCEPT_THEN_DROP = "accept-then-drop"  # take it, close before answering
GARBLE = "garble"  # a frame whose length cannot be right
GARBLE_BODY = "garble-body"  # a submit_sm_resp with ROK in its header but a broken body
Action = str | int  # an int answers that command_status


@dataclass
class Taken:
    message_id: str
    sm: p.ShortMessage
    session: int


@dataclass
class Connection:
    number: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    command: int = 0
    system_id: str = ""
    sequence: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    waiting: dict[int, asyncio.Future[p.Pdu]] = field(default_factory=dict)

    @property
    def receives(self) -> bool:
        return self.command in (p.BIND_TRANSCEIVER, p.BIND_RECEIVER)

    def send(self, pdu: p.Pdu) -> None:
        self.writer.write(p.encode(pdu))


class FakeSmsc:
    def __init__(self, system_id: str = "esme", password: str = "secret"):
        self.system_id = system_id
        self.password = password
        self.plan: Callable[[int, p.ShortMessage], Action] = lambda index, sm: ACCEPT
        self.accepted: list[Taken] = []
        self.submits = 0
        self.binds: list[tuple[int, str]] = []
        self.unbinds = 0
        self.enquire_links = 0
        self.connections: list[Connection] = []
        self.bound = asyncio.Event()
        self.answer_enquire_link = True
        self._ids = itertools.count(1)
        self._numbers = itertools.count(1)
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def drop_all(self) -> None:
        for conn in list(self.connections):
            conn.writer.close()
        self.connections.clear()
        self.bound.clear()

    @property
    def taken_texts(self) -> list[bytes]:
        return [taken.sm.short_message for taken in self.accepted]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(next(self._numbers), reader, writer)
        self.connections.append(conn)
        try:
            while True:
                frame = await p.read_frame(reader)
                pdu = p.decode(frame)
                if await self._handle(conn, pdu) is False:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, p.PduError):
            pass
        finally:
            writer.close()
            if conn in self.connections:
                self.connections.remove(conn)
            if not any(c.command for c in self.connections):
                self.bound.clear()

    async def _handle(self, conn: Connection, pdu: p.Pdu) -> bool:
        if pdu.command_id in p.BINDS and isinstance(pdu.body, p.Bind):
            ok = (pdu.body.system_id, pdu.body.password) == (self.system_id, self.password)
            status = p.ESME_ROK if ok else p.ESME_RINVPASWD
            conn.send(p.response(pdu, status, p.BindResp("fakesmsc")))
            if ok:
                conn.command, conn.system_id = pdu.command_id, pdu.body.system_id
                self.binds.append((conn.number, pdu.body.system_id))
                self.bound.set()
            return ok
        if pdu.command_id == p.ENQUIRE_LINK:
            self.enquire_links += 1
            if self.answer_enquire_link:
                conn.send(p.response(pdu))
        elif pdu.command_id == p.UNBIND:
            self.unbinds += 1
            conn.send(p.response(pdu))
            await conn.writer.drain()
            return False
        elif pdu.command_id == p.SUBMIT_SM and isinstance(pdu.body, p.ShortMessage):
            return self._submit(conn, pdu, pdu.body)
        elif pdu.is_response:
            future = conn.waiting.pop(pdu.sequence, None)
            if future is not None and not future.done():
                future.set_result(pdu)
        return True

    def _submit(self, conn: Connection, pdu: p.Pdu, sm: p.ShortMessage) -> bool:
        index = self.submits
        self.submits += 1
        action = self.plan(index, sm)
        if action == SILENT:
            return True
        if action == DROP:
            return False
        if action == GARBLE:
            conn.writer.write(b"\x00\x00\x00\x05garbage")
            return True
        if action in (ACCEPT, ACCEPT_THEN_DROP, GARBLE_BODY):
            message_id = f"smsc-{next(self._ids)}"
            self.accepted.append(Taken(message_id, sm, conn.number))
            if action == ACCEPT_THEN_DROP:
                return False
            if action == GARBLE_BODY:  # ROK in the header, an unterminated message_id
                body = message_id.encode()
                conn.writer.write(p.HEADER.pack(16 + len(body), pdu.command_id | p.RESPONSE,
                                                0, pdu.sequence) + body)  # fmt: skip
                return True
            conn.send(p.response(pdu, p.ESME_ROK, p.MessageResp(message_id)))
            return True
        assert isinstance(action, int)
        conn.send(p.response(pdu, action))
        return True

    async def deliver(self, sm: p.ShortMessage, wait: float = 5.0) -> int:
        """Push a deliver_sm to a session that receives; answers its deliver_sm_resp status."""
        await asyncio.wait_for(self.bound.wait(), wait)
        conn = next(c for c in self.connections if c.receives)
        sequence = next(conn.sequence)
        future: asyncio.Future[p.Pdu] = asyncio.get_running_loop().create_future()
        conn.waiting[sequence] = future
        conn.send(p.Pdu(p.DELIVER_SM, sequence, body=sm))
        answer = await asyncio.wait_for(future, wait)
        return answer.status

    async def receipt(
        self, message_id: str, stat: str = "DELIVRD", *, form: str = "text", wait: float = 5.0
    ) -> int:
        """A delivery receipt as text (``id:… stat:…``), as TLVs only, or both."""
        states = {"DELIVRD": 2, "EXPIRED": 3, "UNDELIV": 5, "ACCEPTD": 6, "REJECTD": 8,
                  "ENROUTE": 1}  # fmt: skip
        text = b""
        if form in ("text", "both"):
            text = (
                f"id:{message_id} sub:001 dlvrd:001 submit date:2601011200 "
                f"done date:2601011201 stat:{stat} err:000 text:hello"
            ).encode()
        tlvs: dict[int, bytes] = {}
        if form in ("tlv", "both"):
            tlvs = {
                p.TLV_RECEIPTED_MESSAGE_ID: message_id.encode() + b"\0",
                p.TLV_MESSAGE_STATE: bytes((states[stat],)),
            }
        sm = p.ShortMessage(
            destination_addr="15550001111", source_addr="15557654321",
            esm_class=p.ESM_DELIVERY_RECEIPT, short_message=text, tlvs=tlvs,
        )  # fmt: skip
        return await self.deliver(sm, wait)


@contextlib.asynccontextmanager
async def running_smsc(**kwargs: str):  # type: ignore[no-untyped-def]
    smsc = FakeSmsc(**kwargs)
    await smsc.start()
    try:
        yield smsc
    finally:
        await smsc.stop()
