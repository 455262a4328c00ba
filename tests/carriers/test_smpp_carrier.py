"""The SMPP carrier against the fault-injecting SMSC: submits, windows, throttling, lost
links, garbled PDUs, bind failures, receipts in both forms and multipart inbound."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.carriers.conftest import SmppFactory
from tests.carriers.smsc import (
    ACCEPT,
    ACCEPT_THEN_DROP,
    DROP,
    GARBLE,
    GARBLE_BODY,
    SILENT,
    FakeSmsc,
)
from trebuchet.server.carriers.base import OutboundMessage, TransientFailure
from trebuchet.server.carriers.smpp import SmppRejected
from trebuchet.server.carriers.smpp import pdu as p
from trebuchet.server.carriers.smpp.text import parse_sar, parse_udh, sar_tlvs, udh
from trebuchet.server.domain.segments import segment_count

_ids = itertools.count(1)


def out(text: str = "hello", to: str = "+15557654321", message_id: str | None = None,
        attempt: int = 1) -> OutboundMessage:  # fmt: skip
    return OutboundMessage(
        id=message_id or f"m-{next(_ids)}", user_id="u-1", from_number="+15550001111",
        to_number=to, text=text, media=[], segment_count=segment_count(text), attempt=attempt,
    )  # fmt: skip


async def test_a_message_is_submitted_with_addresses_and_coding(
    smsc: FakeSmsc, make_smpp: SmppFactory
) -> None:
    carrier, _, refs = await make_smpp()
    message = out("hello {world}")
    accepted = await carrier.send(message)
    [taken] = smsc.accepted
    assert accepted.carrier_ref == taken.message_id
    sm = taken.sm
    assert (sm.source_addr, sm.source_addr_ton, sm.source_addr_npi) == ("15550001111", 1, 1)
    assert (sm.destination_addr, sm.dest_addr_ton, sm.dest_addr_npi) == ("15557654321", 1, 1)
    assert sm.data_coding == p.DC_DEFAULT and sm.registered_delivery == 1
    assert sm.short_message == b"hello \x1b\x28world\x1b\x29"
    assert await refs.sent_parts("smsc", message.id) == {1: taken.message_id}
    assert smsc.binds == [(1, "esme")]


async def test_short_codes_use_the_other_ton_and_ucs2_is_data_coding_8(
    smsc: FakeSmsc, make_smpp: SmppFactory
) -> None:
    carrier, _, _ = await make_smpp(other_ton=3, other_npi=0)
    await carrier.send(out("☺ hi", to="12345"))
    sm = smsc.accepted[0].sm
    assert (sm.destination_addr, sm.dest_addr_ton, sm.dest_addr_npi) == ("12345", 3, 0)
    assert (sm.data_coding, sm.short_message) == (p.DC_UCS2, "☺ hi".encode("utf-16-be"))


@pytest.mark.parametrize("text", ["a" * 400, "☺" * 150])
async def test_long_messages_are_concatenated_with_udh(
    smsc: FakeSmsc, make_smpp: SmppFactory, text: str
) -> None:
    carrier, _, refs = await make_smpp()
    message = out(text)
    accepted = await carrier.send(message)
    parts = [taken.sm for taken in smsc.accepted]
    assert len(parts) == message.segment_count == 3
    headers = [parse_udh(sm.short_message)[0] for sm in parts]
    assert all(sm.esm_class & p.ESM_UDHI for sm in parts)
    assert [(h.total, h.number) for h in headers if h] == [(3, 1), (3, 2), (3, 3)]
    assert len({h.reference for h in headers if h}) == 1
    sent = await refs.sent_parts("smsc", message.id)
    assert sorted(sent) == [1, 2, 3] and accepted.carrier_ref == sent[1]


async def test_long_messages_with_sar_or_message_payload(
    smsc: FakeSmsc, make_smpp: SmppFactory
) -> None:
    carrier, _, _ = await make_smpp(long_messages="sar")
    await carrier.send(out("b" * 200))
    sar = [parse_sar(t.sm.tlvs) for t in smsc.accepted]
    assert [(c.total, c.number) for c in sar if c] == [(2, 1), (2, 2)]
    assert not any(t.sm.esm_class & p.ESM_UDHI for t in smsc.accepted)
    await carrier.close()
    smsc.accepted.clear()
    payload, _, _ = await make_smpp(long_messages="payload")
    await payload.send(out("c" * 400))
    [taken] = smsc.accepted
    assert taken.sm.short_message == b"" and taken.sm.tlvs[p.TLV_MESSAGE_PAYLOAD] == b"c" * 400


async def test_a_window_of_submits_is_outstanding_at_once(
    smsc: FakeSmsc, make_smpp: SmppFactory
) -> None:
    carrier, _, _ = await make_smpp(window=5, response_timeout=0.3)
    smsc.plan = lambda index, sm: SILENT  # nobody answers: what is in flight stays there
    sends = [asyncio.ensure_future(carrier.send(out(f"w{i}"))) for i in range(8)]
    await asyncio.sleep(0.15)
    assert smsc.submits == 5  # the window, and no more
    results = await asyncio.gather(*sends, return_exceptions=True)
    assert all(isinstance(r, TransientFailure) for r in results)


@pytest.mark.parametrize("status", [p.ESME_RTHROTTLED, p.ESME_RMSGQFUL])
async def test_throttling_slows_down_and_resends_in_order(
    smsc: FakeSmsc, make_smpp: SmppFactory, status: int
) -> None:
    carrier, _, _ = await make_smpp(window=4)
    smsc.plan = lambda index, sm: status if index in (1, 2, 5) else ACCEPT
    texts = [f"t{i}" for i in range(8)]
    sends = []
    for text in texts:  # queued in this order, as concurrent sends are
        sends.append(asyncio.ensure_future(carrier.send(out(text))))
        await asyncio.sleep(0)
    results = await asyncio.gather(*sends)
    assert len(results) == 8
    taken = [t.sm.short_message.decode() for t in smsc.accepted]
    assert sorted(taken) == texts and len(taken) == 8  # each exactly once
    # A throttled message goes before every message queued after it that was not already
    # in flight: t1 and t2 were throttled with t3 in the window, and still precede t4.
    assert taken.index("t1") < taken.index("t4") and taken.index("t2") < taken.index("t4")


async def test_throttling_that_never_ends_is_a_transient_failure(
    smsc: FakeSmsc, make_smpp: SmppFactory
) -> None:
    carrier, _, _ = await make_smpp(throttle_retries=2)
    smsc.plan = lambda index, sm: p.ESME_RTHROTTLED
    with pytest.raises(TransientFailure, match="THROTTLED") as caught:
        await carrier.send(out())
    assert smsc.submits == 3 and caught.value.retry_after == 0.1


@pytest.mark.parametrize(
    ("status", "code"),
    [(p.ESME_RINVDSTADR, 720), (p.ESME_RINVSRCADR, 740), (p.ESME_RSUBMITFAIL, 610),
     (p.ESME_RX_R_APPN, 750)],
)  # fmt: skip
async def test_permanent_errors_are_not_retried(
    smsc: FakeSmsc, make_smpp: SmppFactory, status: int, code: int
) -> None:
    carrier, _, _ = await make_smpp()
    smsc.plan = lambda index, sm: status
    with pytest.raises(SmppRejected) as caught:
        await carrier.send(out())
    assert caught.value.code == code and smsc.submits == 1


async def test_transient_statuses(smsc: FakeSmsc, make_smpp: SmppFactory) -> None:
    carrier, _, _ = await make_smpp()
    smsc.plan = lambda index, sm: p.ESME_RSYSERR
    with pytest.raises(TransientFailure, match="RSYSERR"):
        await carrier.send(out())


async def test_no_response_is_transient_and_a_late_answer_is_remembered(
    smsc: FakeSmsc, make_smpp: SmppFactory
) -> None:
    carrier, _, refs = await make_smpp(response_timeout=0.2)
    smsc.plan = lambda index, sm: SILENT
    message = out()
    with pytest.raises(TransientFailure, match="no submit_sm_resp"):
        await carrier.send(message)
    # The answer comes after all: recorded, so the engine's retry does not send it again.
    conn = smsc.connections[0]
    conn.send(p.Pdu(p.SUBMIT_SM | p.RESPONSE, 1 + carrier.sessions[0].binds,
                    body=p.MessageResp("late-1")))  # fmt: skip
    for _ in range(50):
        if await refs.sent_parts("smsc", message.id):
            break
        await asyncio.sleep(0.01)
    assert await refs.sent_parts("smsc", message.id) == {1: "late-1"}
    submits = smsc.submits
    assert (await carrier.send(message)).carrier_ref == "late-1"
    assert smsc.submits == submits


async def test_unanswered_fail_mode_is_at_most_once(smsc: FakeSmsc, make_smpp: SmppFactory) -> None:
    carrier, _, _ = await make_smpp(unanswered="fail", response_timeout=0.2)
    smsc.plan = lambda index, sm: SILENT
    with pytest.raises(SmppRejected, match="not sent again") as caught:
        await carrier.send(out())
    assert caught.value.code == 999


async def test_a_link_drop_mid_window_loses_nothing_and_sends_nothing_twice(
    smsc: FakeSmsc, make_smpp: SmppFactory
) -> None:
    carrier, _, _ = await make_smpp(window=10)
    dropped = set()

    def plan(index: int, sm: p.ShortMessage) -> str:
        if index in (7, 23) and index not in dropped:
            dropped.add(index)
            return DROP  # the SMSC dies with part of the window read but unanswered
        return ACCEPT

    smsc.plan = plan
    texts = [f"n{i}" for i in range(40)]
    results = await asyncio.gather(*(carrier.send(out(text)) for text in texts))
    taken = [t.sm.short_message.decode() for t in smsc.accepted]
    assert sorted(taken) == sorted(texts)  # every message, once
    assert len({r.carrier_ref for r in results}) == 40
    assert carrier.sessions[0].binds == 3


async def test_at_least_once_when_the_smsc_took_it_but_the_answer_was_lost(
    smsc: FakeSmsc, make_smpp: SmppFactory
) -> None:
    carrier, _, _ = await make_smpp()
    smsc.plan = lambda index, sm: ACCEPT_THEN_DROP if index == 0 else ACCEPT
    await carrier.send(out("once?"))
    # The documented cost of "retry": the SMSC got it twice.
    assert [t.sm.short_message for t in smsc.accepted] == [b"once?", b"once?"]


async def test_a_garbled_frame_drops_the_link_and_the_message_goes_again(
    smsc: FakeSmsc, make_smpp: SmppFactory
) -> None:
    carrier, _, _ = await make_smpp()
    smsc.plan = lambda index, sm: GARBLE if index == 0 else ACCEPT
    accepted = await carrier.send(out("g"))
    assert accepted.carrier_ref == smsc.accepted[0].message_id
    assert smsc.submits == 2 and carrier.sessions[0].binds == 2


async def test_a_garbled_response_body_still_counts_by_its_status(
    smsc: FakeSmsc, make_smpp: SmppFactory
) -> None:
    carrier, _, _ = await make_smpp()
    smsc.plan = lambda index, sm: GARBLE_BODY
    accepted = await carrier.send(out("g"))
    assert accepted.carrier_ref == "" and smsc.submits == 1  # taken: not sent again


async def test_garbled_and_unknown_requests_are_nacked(
    smsc: FakeSmsc, make_smpp: SmppFactory
) -> None:
    await make_smpp()
    conn = smsc.connections[0]
    future: asyncio.Future[p.Pdu] = asyncio.get_running_loop().create_future()
    conn.waiting[77] = future
    conn.writer.write(p.HEADER.pack(20, p.DELIVER_SM, 0, 77) + b"abcd")
    nack = await asyncio.wait_for(future, 2)
    assert (nack.command_id, nack.status) == (p.GENERIC_NACK, p.ESME_RINVCMDLEN)
    future = asyncio.get_running_loop().create_future()
    conn.waiting[78] = future
    conn.writer.write(p.HEADER.pack(16, 0x00000103, 0, 78))  # data_sm: not spoken here
    nack = await asyncio.wait_for(future, 2)
    assert (nack.command_id, nack.status) == (p.GENERIC_NACK, p.ESME_RINVCMDID)


async def test_a_refused_bind_fails_sends_fast_and_keeps_trying(
    smsc: FakeSmsc, make_smpp: SmppFactory
) -> None:
    carrier, _, _ = await make_smpp(bind=False, password="wrong")
    for _ in range(100):
        if carrier.sessions[0].last_refusal is not None:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(TransientFailure, match="RINVPASWD"):
        await carrier.send(out())
    assert smsc.submits == 0
    smsc.password = "wrong"  # fixed on the other side: the next attempt binds
    assert await carrier.wait_bound(2)
    await carrier.send(out())
    assert smsc.submits == 1


async def test_messages_wait_for_a_session_that_comes_back(
    smsc: FakeSmsc, make_smpp: SmppFactory
) -> None:
    carrier, _, _ = await make_smpp()
    smsc.drop_all()
    results = await asyncio.gather(*(carrier.send(out(f"r{i}")) for i in range(5)))
    assert len(results) == 5 and len(smsc.accepted) == 5


async def test_several_sessions_and_transmitter_receiver_pairs(
    smsc: FakeSmsc, make_smpp: SmppFactory
) -> None:
    carrier, _, _ = await make_smpp(sessions=2, bind_mode="transmitter_receiver")
    commands = sorted(conn.command for conn in smsc.connections)
    assert commands == [p.BIND_RECEIVER, p.BIND_RECEIVER, p.BIND_TRANSMITTER,
                        p.BIND_TRANSMITTER]  # fmt: skip
    await asyncio.gather(*(carrier.send(out(f"s{i}")) for i in range(20)))
    assert len({t.session for t in smsc.accepted}) == 2  # both transmitters took a share


async def test_enquire_link_keeps_the_link_and_detects_a_dead_one(
    smsc: FakeSmsc, make_smpp: SmppFactory
) -> None:
    carrier, _, _ = await make_smpp(enquire_link_interval=0.05, response_timeout=0.2)
    await asyncio.sleep(0.3)
    assert smsc.enquire_links >= 2 and carrier.sessions[0].binds == 1
    smsc.answer_enquire_link = False
    for _ in range(100):
        if carrier.sessions[0].binds >= 2:
            break
        await asyncio.sleep(0.02)
    assert carrier.sessions[0].binds >= 2  # silence: the link was given up and bound again


async def test_close_unbinds_gracefully(smsc: FakeSmsc, make_smpp: SmppFactory) -> None:
    carrier, _, _ = await make_smpp(sessions=2)
    await carrier.send(out())
    await carrier.close()
    assert smsc.unbinds == 2


# -- receipts ----------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["text", "tlv", "both"])
@pytest.mark.parametrize(("stat", "code"), [("DELIVRD", 0), ("UNDELIV", 650), ("EXPIRED", 902)])
async def test_receipts_in_every_form_reach_the_sink(
    smsc: FakeSmsc, make_smpp: SmppFactory, form: str, stat: str, code: int
) -> None:
    carrier, sink, _ = await make_smpp()
    message = out()
    accepted = await carrier.send(message)
    assert await smsc.receipt(accepted.carrier_ref, stat, form=form) == p.ESME_ROK
    assert [(mid, r.code) for mid, r in sink.receipts] == [(message.id, code)]


async def test_receipts_for_unknown_ids_and_intermediate_ones_change_nothing(
    smsc: FakeSmsc, make_smpp: SmppFactory
) -> None:
    carrier, sink, _ = await make_smpp(receipt_wait=0.1)
    accepted = await carrier.send(out())
    assert await smsc.receipt("nobody", "DELIVRD") == p.ESME_ROK
    assert await smsc.receipt(accepted.carrier_ref, "ENROUTE") == p.ESME_ROK
    assert sink.receipts == []


async def test_a_receipt_waits_until_the_message_is_recorded_as_sent(
    smsc: FakeSmsc, make_smpp: SmppFactory
) -> None:
    carrier, sink, refs = await make_smpp(receipt_wait=2.0)
    message = out()
    refs.states[message.id] = "sending"
    accepted = await carrier.send(message)
    pushed = asyncio.ensure_future(smsc.receipt(accepted.carrier_ref))
    await asyncio.sleep(0.1)
    assert sink.receipts == [] and not pushed.done()  # not answered before it is applied
    refs.states[message.id] = "sent"
    assert await pushed == p.ESME_ROK
    assert len(sink.receipts) == 1


@pytest.mark.parametrize(
    ("rule", "stats", "expected"),
    [("all", ["DELIVRD", "UNDELIV", "DELIVRD"], [650]),
     ("first", ["UNDELIV", "DELIVRD", "DELIVRD"], [650]),
     ("last", ["UNDELIV", "DELIVRD", "EXPIRED"], [902]),
     ("all", ["DELIVRD", "DELIVRD", "DELIVRD"], [0])],
)  # fmt: skip
async def test_multipart_receipts_follow_the_configured_rule(
    smsc: FakeSmsc, make_smpp: SmppFactory, rule: str, stats: list[str], expected: list[int]
) -> None:
    carrier, sink, _ = await make_smpp(receipt_parts=rule)
    await carrier.send(out("z" * 400))
    for taken, stat in zip(smsc.accepted, stats, strict=True):
        await smsc.receipt(taken.message_id, stat)
        await smsc.receipt(taken.message_id, stat)  # a repeat changes nothing
    assert [r.code for _, r in sink.receipts] == expected


async def test_a_retry_sends_only_the_parts_not_yet_taken(
    smsc: FakeSmsc, make_smpp: SmppFactory
) -> None:
    carrier, _, _ = await make_smpp()
    smsc.plan = lambda index, sm: p.ESME_RSYSERR if index == 1 else ACCEPT
    message = out("q" * 400)
    with pytest.raises(TransientFailure):
        await carrier.send(message)
    assert len(smsc.accepted) == 2  # parts 1 and 3
    await carrier.send(message)
    numbers = [parse_udh(t.sm.short_message)[0] for t in smsc.accepted]
    assert sorted(c.number for c in numbers if c) == [1, 2, 3]


# -- inbound -----------------------------------------------------------------------------


def mo(short_message: bytes, **fields: object) -> p.ShortMessage:
    values: dict[str, object] = {
        "source_addr": "15557654321", "source_addr_ton": 1, "destination_addr": "15550001111",
        "dest_addr_ton": 1, "short_message": short_message,
    }  # fmt: skip
    values.update(fields)
    return p.ShortMessage(**values)  # type: ignore[arg-type]


async def test_an_inbound_message_reaches_the_sink(smsc: FakeSmsc, make_smpp: SmppFactory) -> None:
    _, sink, _ = await make_smpp()
    assert await smsc.deliver(mo(b"hi \x1b\x65")) == p.ESME_ROK
    [message] = sink.inbound_messages
    assert (message.from_number, message.to_number, message.text) == (
        "+15557654321",
        "+15550001111",
        "hi €",
    )
    assert await smsc.deliver(mo("☺".encode("utf-16-be"), data_coding=8)) == p.ESME_ROK
    assert sink.inbound_messages[-1].text == "☺"
    short = mo(b"x", source_addr="12345", source_addr_ton=3)
    assert await smsc.deliver(short) == p.ESME_ROK
    assert sink.inbound_messages[-1].from_number == "12345"


async def test_inbound_for_an_unknown_number_is_refused(
    smsc: FakeSmsc, make_smpp: SmppFactory
) -> None:
    _, sink, _ = await make_smpp()
    assert await smsc.deliver(mo(b"x", destination_addr="19999999999")) == p.ESME_RINVDSTADR
    assert sink.inbound_messages == []


async def test_concatenated_inbound_messages_are_reassembled(
    smsc: FakeSmsc, make_smpp: SmppFactory
) -> None:
    _, sink, _ = await make_smpp()
    text = "☺" * 100
    data = text.encode("utf-16-be")
    halves = [data[:134], data[134:]]
    # UDH parts out of order, interleaved with a SAR message.
    assert await smsc.deliver(mo(udh(9, 2, 2) + halves[1], esm_class=0x40, data_coding=8)) == 0
    assert await smsc.deliver(mo(b"first ", tlvs=sar_tlvs(300, 2, 1))) == 0
    assert sink.inbound_messages == []
    assert await smsc.deliver(mo(udh(9, 2, 1) + halves[0], esm_class=0x40, data_coding=8)) == 0
    assert await smsc.deliver(mo(b"second", tlvs=sar_tlvs(300, 2, 2))) == 0
    assert [m.text for m in sink.inbound_messages] == [text, "first second"]
    payload = mo(b"", tlvs={p.TLV_MESSAGE_PAYLOAD: b"p" * 300})
    assert await smsc.deliver(payload) == 0
    assert sink.inbound_messages[-1].text == "p" * 300


async def test_incomplete_concatenations_expire(smsc: FakeSmsc, make_smpp: SmppFactory) -> None:
    carrier, sink, _ = await make_smpp(inbound_part_timeout=0.05)
    await smsc.deliver(mo(udh(1, 2, 1) + b"lost", esm_class=0x40))
    await asyncio.sleep(0.1)
    await smsc.deliver(mo(udh(2, 2, 1) + b"a", esm_class=0x40))
    assert len(carrier._partial) == 1
    await smsc.deliver(mo(udh(1, 2, 2) + b"half", esm_class=0x40))
    assert sink.inbound_messages == []
