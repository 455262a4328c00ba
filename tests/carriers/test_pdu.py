"""The PDU layer: every body round-trips; broken input is refused the right way."""

from __future__ import annotations

import asyncio

import pytest

from trebuchet.server.carriers.smpp import pdu as p

SAMPLES = [
    p.Pdu(p.BIND_TRANSCEIVER, 1, body=p.Bind("esme", "pw", "VMA", 0x34, 1, 1, "^1555")),
    p.Pdu(p.BIND_TRANSMITTER, 2, body=p.Bind("esme", "pw")),
    p.Pdu(p.BIND_RECEIVER, 3, body=p.Bind("esme", "pw")),
    p.Pdu(p.BIND_TRANSCEIVER | p.RESPONSE, 1, body=p.BindResp("smsc", {0x0210: b"\x34"})),
    p.Pdu(
        p.SUBMIT_SM,
        7,
        body=p.ShortMessage(
            destination_addr="15557654321",
            short_message=b"hello",
            source_addr="15550001111",
            service_type="CMT",
            source_addr_ton=1,
            source_addr_npi=1,
            dest_addr_ton=1,
            dest_addr_npi=1,
            esm_class=0x40,
            protocol_id=0,
            priority_flag=1,
            schedule_delivery_time="",
            validity_period="000001000000000R",
            registered_delivery=1,
            data_coding=8,
            tlvs={p.TLV_SAR_MSG_REF_NUM: b"\x00\x01", 0x1400: b"vendor"},
        ),
    ),
    p.Pdu(p.SUBMIT_SM | p.RESPONSE, 7, body=p.MessageResp("abc-123")),
    p.Pdu(p.DELIVER_SM, 9, body=p.ShortMessage(esm_class=4, short_message=b"id:1 stat:DELIVRD")),
    p.Pdu(p.DELIVER_SM | p.RESPONSE, 9, body=p.MessageResp("")),
    p.Pdu(p.ENQUIRE_LINK, 10),
    p.Pdu(p.ENQUIRE_LINK | p.RESPONSE, 10),
    p.Pdu(p.UNBIND, 11),
    p.Pdu(p.UNBIND | p.RESPONSE, 11),
    p.Pdu(p.GENERIC_NACK, 12, p.ESME_RINVCMDID),
]


@pytest.mark.parametrize("pdu", SAMPLES, ids=lambda pdu: pdu.name)
def test_every_pdu_round_trips(pdu: p.Pdu) -> None:
    wire = p.encode(pdu)
    assert int.from_bytes(wire[:4], "big") == len(wire)
    assert p.decode(wire) == pdu


def test_header_is_big_endian_and_bodies_match_the_spec() -> None:
    wire = p.encode(p.Pdu(p.ENQUIRE_LINK, 0x01020304))
    assert wire == bytes.fromhex("00000010 00000015 00000000 01020304")
    bind = p.encode(p.Pdu(p.BIND_TRANSCEIVER, 1, body=p.Bind("ab", "c", "", 0x34, 1, 2, "")))
    assert bind[16:] == b"ab\0c\0\0\x34\x01\x02\0"


def test_error_responses_may_have_no_body() -> None:
    resp = p.HEADER.pack(16, p.SUBMIT_SM | p.RESPONSE, p.ESME_RTHROTTLED, 5)
    assert p.decode(resp) == p.Pdu(p.SUBMIT_SM | p.RESPONSE, 5, p.ESME_RTHROTTLED, p.EMPTY)
    bind = p.HEADER.pack(16, p.BIND_TRANSCEIVER | p.RESPONSE, p.ESME_RINVPASWD, 1)
    assert p.decode(bind).status == p.ESME_RINVPASWD


def test_a_message_payload_longer_than_short_message_allows() -> None:
    payload = b"x" * 1000
    pdu = p.Pdu(p.SUBMIT_SM, 1, body=p.ShortMessage(tlvs={p.TLV_MESSAGE_PAYLOAD: payload}))
    assert p.decode(p.encode(pdu)) == pdu
    with pytest.raises(ValueError, match="254"):
        p.encode(p.Pdu(p.SUBMIT_SM, 1, body=p.ShortMessage(short_message=b"x" * 255)))


@pytest.mark.parametrize(
    ("frame", "status"),
    [
        (p.HEADER.pack(20, p.SUBMIT_SM, 0, 3) + b"abcd", p.ESME_RINVCMDLEN),  # no NUL
        (p.HEADER.pack(16, 0x00000099, 0, 3), p.ESME_RINVCMDID),  # unknown command
        (p.HEADER.pack(21, p.ENQUIRE_LINK | p.RESPONSE, 0, 3) + b"x" * 5, None),
    ],
)
def test_undecodable_bodies_name_the_status_to_answer(frame: bytes, status: int | None) -> None:
    if status is None:  # trailing octets after an empty body are tolerated
        assert p.decode(frame).sequence == 3
        return
    with pytest.raises(p.PduError) as caught:
        p.decode(frame)
    assert caught.value.status == status
    assert caught.value.sequence == 3
    assert not isinstance(caught.value, p.FramingError)


def test_truncated_tlvs_are_refused() -> None:
    sm = p.encode(p.Pdu(p.DELIVER_SM, 4, body=p.ShortMessage(tlvs={0x0427: b"\x02"})))
    broken = sm[:-1]
    broken = p.HEADER.pack(len(broken), p.DELIVER_SM, 0, 4) + broken[16:]
    with pytest.raises(p.PduError):
        p.decode(broken)


async def test_frames_are_cut_from_a_stream_and_bad_lengths_lose_the_stream() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(p.encode(p.Pdu(p.ENQUIRE_LINK, 1)) + p.encode(p.Pdu(p.UNBIND, 2)))
    reader.feed_data(b"\x00\x00\x00\x05oops")
    assert p.decode(await p.read_frame(reader)).command_id == p.ENQUIRE_LINK
    assert p.decode(await p.read_frame(reader)).command_id == p.UNBIND
    with pytest.raises(p.FramingError):
        await p.read_frame(reader)
    huge = asyncio.StreamReader()
    huge.feed_data((p.MAX_PDU_LENGTH + 1).to_bytes(4, "big"))
    with pytest.raises(p.FramingError):
        await p.read_frame(huge)
    with pytest.raises(p.FramingError):
        p.decode(p.HEADER.pack(99, p.UNBIND, 0, 1))


def test_names() -> None:
    assert p.Pdu(p.SUBMIT_SM | p.RESPONSE, 1).name == "submit_sm_resp"
    assert p.Pdu(p.GENERIC_NACK, 1).name == "generic_nack"
    assert p.Pdu(p.ENQUIRE_LINK, 1).name == "enquire_link"
