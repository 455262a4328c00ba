"""SMPP 3.4 PDUs: the header, the bodies this carrier speaks, TLVs and framing.

A PDU on the wire is ``command_length, command_id, command_status, sequence_number``
(four big-endian 32-bit integers) followed by the body.  :func:`encode` and
:func:`decode` turn :class:`Pdu` values into bytes and back; :func:`read_frame` cuts
one PDU off a stream.  Errors::

    PduError            a body that cannot be decoded (answer generic_nack, keep the link)
    └── FramingError    a length that cannot be right: the stream is lost, drop the link
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from typing import Final

HEADER = struct.Struct(">IIII")
HEADER_LENGTH: Final = HEADER.size
# Large enough for a 64 KiB message_payload plus the rest of a submit_sm.
MAX_PDU_LENGTH: Final = 70_000
INTERFACE_VERSION: Final = 0x34

# -- command ids -------------------------------------------------------------------------
GENERIC_NACK: Final = 0x80000000
BIND_RECEIVER: Final = 0x00000001
BIND_TRANSMITTER: Final = 0x00000002
SUBMIT_SM: Final = 0x00000004
DELIVER_SM: Final = 0x00000005
UNBIND: Final = 0x00000006
BIND_TRANSCEIVER: Final = 0x00000009
ENQUIRE_LINK: Final = 0x00000015
RESPONSE: Final = 0x80000000

BINDS: Final = frozenset({BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER})
COMMAND_NAMES: Final = {
    GENERIC_NACK: "generic_nack",
    BIND_RECEIVER: "bind_receiver",
    BIND_TRANSMITTER: "bind_transmitter",
    SUBMIT_SM: "submit_sm",
    DELIVER_SM: "deliver_sm",
    UNBIND: "unbind",
    BIND_TRANSCEIVER: "bind_transceiver",
    ENQUIRE_LINK: "enquire_link",
}

# -- command_status ----------------------------------------------------------------------
ESME_ROK: Final = 0x00
ESME_RINVMSGLEN: Final = 0x01
ESME_RINVCMDLEN: Final = 0x02
ESME_RINVCMDID: Final = 0x03
ESME_RINVBNDSTS: Final = 0x04
ESME_RALYBND: Final = 0x05
ESME_RSYSERR: Final = 0x08
ESME_RINVSRCADR: Final = 0x0A
ESME_RINVDSTADR: Final = 0x0B
ESME_RBINDFAIL: Final = 0x0D
ESME_RINVPASWD: Final = 0x0E
ESME_RINVSYSID: Final = 0x0F
ESME_RMSGQFUL: Final = 0x14
ESME_RINVSERTYP: Final = 0x15
ESME_RSUBMITFAIL: Final = 0x45
ESME_RINVSYSTYP: Final = 0x53
ESME_RTHROTTLED: Final = 0x58
ESME_RX_T_APPN: Final = 0x64
ESME_RX_P_APPN: Final = 0x65
ESME_RX_R_APPN: Final = 0x66
ESME_RUNKNOWNERR: Final = 0xFF

# -- TLV tags ----------------------------------------------------------------------------
TLV_RECEIPTED_MESSAGE_ID: Final = 0x001E
TLV_SAR_MSG_REF_NUM: Final = 0x020C
TLV_SAR_TOTAL_SEGMENTS: Final = 0x020E
TLV_SAR_SEGMENT_SEQNUM: Final = 0x020F
TLV_NETWORK_ERROR_CODE: Final = 0x0423
TLV_MESSAGE_PAYLOAD: Final = 0x0424
TLV_MESSAGE_STATE: Final = 0x0427

# -- esm_class ---------------------------------------------------------------------------
ESM_UDHI: Final = 0x40
ESM_TYPE_MASK: Final = 0x3C
ESM_DELIVERY_RECEIPT: Final = 0x04
ESM_INTERMEDIATE: Final = 0x20

# -- data_coding -------------------------------------------------------------------------
DC_DEFAULT: Final = 0x00
DC_ASCII: Final = 0x01
DC_OCTET: Final = 0x04
DC_LATIN1: Final = 0x03
DC_UCS2: Final = 0x08


class PduError(Exception):
    """A PDU whose body cannot be decoded; ``status`` is what to answer with."""

    def __init__(self, reason: str, status: int = ESME_RINVCMDLEN, sequence: int = 0):
        super().__init__(reason)
        self.status = status
        self.sequence = sequence


class FramingError(PduError):
    """The byte stream no longer splits into PDUs."""


@dataclass(frozen=True)
class Empty:
    """The body of enquire_link, unbind, generic_nack and most responses."""


@dataclass(frozen=True)
class Bind:
    system_id: str
    password: str
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@dataclass(frozen=True)
class BindResp:
    system_id: str = ""
    tlvs: dict[int, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class ShortMessage:
    """The body of submit_sm and deliver_sm (the same fields in SMPP 3.4)."""

    destination_addr: str = ""
    short_message: bytes = b""
    source_addr: str = ""
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    tlvs: dict[int, bytes] = field(default_factory=dict)


def relative_time(seconds: int) -> str:
    """An SMPP relative time (§7.1.1, ``YYMMDDhhmmss000R``) of ``seconds``, as
    ``validity_period`` takes it; days beyond a month stay days (up to 99)."""
    minutes, second = divmod(max(seconds, 0), 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    return f"0000{min(days, 99):02d}{hour:02d}{minute:02d}{second:02d}000R"


@dataclass(frozen=True)
class MessageResp:
    """The body of submit_sm_resp and deliver_sm_resp."""

    message_id: str = ""


Body = Empty | Bind | BindResp | ShortMessage | MessageResp
EMPTY = Empty()


@dataclass(frozen=True)
class Pdu:
    command_id: int
    sequence: int
    status: int = ESME_ROK
    body: Body = EMPTY

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE)

    @property
    def name(self) -> str:
        if self.command_id == GENERIC_NACK:
            return "generic_nack"
        base = COMMAND_NAMES.get(self.command_id & ~RESPONSE, f"0x{self.command_id:08x}")
        return f"{base}_resp" if self.is_response else base


def response(request: Pdu, status: int = ESME_ROK, body: Body = EMPTY) -> Pdu:
    return Pdu(request.command_id | RESPONSE, request.sequence, status, body)


# -- encoding ----------------------------------------------------------------------------


def _cstr(value: str) -> bytes:
    return value.encode("latin-1") + b"\0"


def _tlvs(tlvs: dict[int, bytes]) -> bytes:
    return b"".join(struct.pack(">HH", tag, len(value)) + value for tag, value in tlvs.items())


def _encode_body(body: Body) -> bytes:
    if isinstance(body, Empty):
        return b""
    if isinstance(body, Bind):
        return (
            _cstr(body.system_id)
            + _cstr(body.password)
            + _cstr(body.system_type)
            + bytes((body.interface_version, body.addr_ton, body.addr_npi))
            + _cstr(body.address_range)
        )
    if isinstance(body, BindResp):
        return _cstr(body.system_id) + _tlvs(body.tlvs)
    if isinstance(body, MessageResp):
        return _cstr(body.message_id)
    if len(body.short_message) > 254:
        raise ValueError("short_message is longer than 254 octets: use message_payload")
    return b"".join(
        (
            _cstr(body.service_type),
            bytes((body.source_addr_ton, body.source_addr_npi)),
            _cstr(body.source_addr),
            bytes((body.dest_addr_ton, body.dest_addr_npi)),
            _cstr(body.destination_addr),
            bytes((body.esm_class, body.protocol_id, body.priority_flag)),
            _cstr(body.schedule_delivery_time),
            _cstr(body.validity_period),
            bytes(
                (
                    body.registered_delivery,
                    body.replace_if_present_flag,
                    body.data_coding,
                    body.sm_default_msg_id,
                    len(body.short_message),
                )
            ),
            body.short_message,
            _tlvs(body.tlvs),
        )
    )


def encode(pdu: Pdu) -> bytes:
    body = _encode_body(pdu.body)
    return HEADER.pack(HEADER_LENGTH + len(body), pdu.command_id, pdu.status, pdu.sequence) + body


# -- decoding ----------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes, sequence: int):
        self.data = data
        self.at = 0
        self.sequence = sequence

    def fail(self, reason: str, status: int = ESME_RINVCMDLEN) -> PduError:
        return PduError(reason, status, self.sequence)

    def cstr(self, limit: int) -> str:
        end = self.data.find(b"\0", self.at, self.at + limit)
        if end < 0:
            raise self.fail(f"unterminated C-octet string at offset {self.at}")
        value = self.data[self.at : end].decode("latin-1")
        self.at = end + 1
        return value

    def octet(self) -> int:
        if self.at >= len(self.data):
            raise self.fail("body too short")
        value = self.data[self.at]
        self.at += 1
        return value

    def octets(self, count: int) -> bytes:
        if self.at + count > len(self.data):
            raise self.fail("body too short")
        value = self.data[self.at : self.at + count]
        self.at += count
        return value

    @property
    def done(self) -> bool:
        return self.at >= len(self.data)

    def tlvs(self) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        while not self.done:
            if self.at + 4 > len(self.data):
                raise self.fail("truncated TLV header", 0xC0)
            tag, length = struct.unpack_from(">HH", self.data, self.at)
            self.at += 4
            if self.at + length > len(self.data):
                raise self.fail(f"TLV 0x{tag:04x} overruns the PDU", 0xC2)
            found[tag] = self.data[self.at : self.at + length]
            self.at += length
        return found


def _decode_short_message(r: _Reader) -> ShortMessage:
    service_type = r.cstr(6)
    source_ton, source_npi = r.octet(), r.octet()
    source_addr = r.cstr(21)
    dest_ton, dest_npi = r.octet(), r.octet()
    destination = r.cstr(21)
    esm_class, protocol_id, priority = r.octet(), r.octet(), r.octet()
    schedule, validity = r.cstr(17), r.cstr(17)
    registered, replace_flag, coding, default_id = r.octet(), r.octet(), r.octet(), r.octet()
    text = r.octets(r.octet())
    return ShortMessage(
        destination_addr=destination,
        short_message=text,
        source_addr=source_addr,
        service_type=service_type,
        source_addr_ton=source_ton,
        source_addr_npi=source_npi,
        dest_addr_ton=dest_ton,
        dest_addr_npi=dest_npi,
        esm_class=esm_class,
        protocol_id=protocol_id,
        priority_flag=priority,
        schedule_delivery_time=schedule,
        validity_period=validity,
        registered_delivery=registered,
        replace_if_present_flag=replace_flag,
        data_coding=coding,
        sm_default_msg_id=default_id,
        tlvs=r.tlvs(),
    )


def _decode_body(command_id: int, r: _Reader) -> Body:
    if command_id in BINDS:
        return Bind(r.cstr(16), r.cstr(9), r.cstr(13), r.octet(), r.octet(), r.octet(), r.cstr(41))
    if command_id in {b | RESPONSE for b in BINDS}:
        if r.done:  # an error response may have no body
            return BindResp()
        return BindResp(r.cstr(16), r.tlvs())
    if command_id in (SUBMIT_SM, DELIVER_SM):
        return _decode_short_message(r)
    if command_id in (SUBMIT_SM | RESPONSE, DELIVER_SM | RESPONSE):
        return EMPTY if r.done else MessageResp(r.cstr(65))
    if command_id in (ENQUIRE_LINK, ENQUIRE_LINK | RESPONSE, UNBIND, UNBIND | RESPONSE):
        return EMPTY
    if command_id == GENERIC_NACK:
        return EMPTY
    raise r.fail(f"unsupported command 0x{command_id:08x}", ESME_RINVCMDID)


def decode(frame: bytes) -> Pdu:
    """One whole PDU (as cut by :func:`read_frame`) into a :class:`Pdu`."""
    if len(frame) < HEADER_LENGTH:
        raise FramingError(f"a PDU of {len(frame)} octets is shorter than its header")
    length, command_id, status, sequence = HEADER.unpack_from(frame)
    if length != len(frame):
        raise FramingError(f"command_length {length} but {len(frame)} octets", sequence=sequence)
    reader = _Reader(frame[HEADER_LENGTH:], sequence)
    body = _decode_body(command_id, reader)
    if not reader.done and not isinstance(body, Empty | MessageResp):
        raise reader.fail("trailing octets after the body")
    return Pdu(command_id, sequence, status, body)


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """The next whole PDU from the stream; IncompleteReadError at a clean end."""
    head = await reader.readexactly(4)
    (length,) = struct.unpack(">I", head)
    if not HEADER_LENGTH <= length <= MAX_PDU_LENGTH:
        raise FramingError(f"command_length {length} out of range")
    return head + await reader.readexactly(length - 4)
